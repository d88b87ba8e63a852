# SPDX-License-Identifier: MIT
"""QEMU test of guest x87/SSE state: two fpu guests keep their own XMM registers and MXCSR
while they take turns on the one CPU, and keep them across live updates A -> B -> A (the
state travels in the record's fpuState)."""

import re

from baton_qemu import Machine, make_iso
from test_kexec import expect, stripped

GUESTS = 2


def fpu_rounds(log, start=0):
    """(domain, round, ok) for every round line after byte `start`."""
    return [(int(domain), int(number), verdict == "ok")
            for domain, number, verdict in re.findall(r"\[d(\d+) fpu\w*\] fpu: round (\d+) (ok|MISMATCH)", log[start:])]


def wait_for_rounds(machine, what, rounds=2):
    """Every fpu guest reports `rounds` more rounds from now."""
    at = len(machine.log)
    machine.wait_for_pattern(r"fpu: round \d+ (ok|MISMATCH)", 60, what, count=GUESTS * rounds, start=at)
    for domain in range(1, GUESTS + 1):
        machine.wait_for_pattern(rf"\[d{domain} fpu\w*\] fpu: round \d+ (ok|MISMATCH)", 30,
                                 f"{what}: domain {domain}", start=at)


def test_guest_fpu_state_is_kept_apart_and_across_live_updates(ctx):
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    modules = [(ctx.build / "guests" / "fpu.elf", "fpu start ram=8M name=fpu1")] + images
    iso = make_iso(ctx.scratch / "fpu.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"\[d1 fpu1\] fpu: seed=", 60, "the first fpu guest")
        for number in range(2, GUESTS + 1):  # one boot module, more domains from it
            expect(ctx, machine, 0, "create", "fpu", f"name=fpu{number}", "ram=8M")
        wait_for_rounds(machine, "both guests complete rounds side by side", rounds=3)
        for variant in ("b", "a"):
            expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant}")
            wait_for_rounds(machine, f"rounds after the update to baton-{variant}")
        rounds = fpu_rounds(machine.log)
        assert {domain for domain, _, _ in rounds} == set(range(1, GUESTS + 1)), rounds
        bad = [entry for entry in rounds if not entry[2]]
        assert not bad, f"registers changed under a guest: {bad}\n{machine.describe()}"
        assert "crashed" not in machine.log and "CRASH" not in machine.log, machine.describe()
