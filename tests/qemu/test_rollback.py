# SPDX-License-Identifier: MIT
"""QEMU tests of the update as a transaction (docs/live-update.md, "What can go wrong"):
a next image that fails before it commits, in each way `batonctl update-fault` can make
it fail, sends the machine back into the old image, which takes the guests back. After
every rollback: the client exits with its own status and says why, every guest resumes
(counter monotonic, memcheck clean, events flowing), the frame counts are what they were
before the attempt, `last-update` reports the failed build, its phase and its reason, and
the record validates. A good update afterwards commits, and its record carries the
rollbacks in its history."""

import re

from baton_qemu import Machine, make_iso
from test_kexec import build_id, expect, stripped
from test_live_update import GUESTS, check_guest_history, inspect_record, memory_counts, wait_for_guests

EXIT_ROLLED_BACK = 4
# Each fault, and what the old image must say about it afterwards.
FAULTS = [
    ("panic-early", r"panic: update: injected fault panic_early", "entered"),
    ("refuse-record", r"the handover record was refused: injected fault refuse_record", "entered"),
    ("hang-cli", r"watchdog: no commit in time", "record_parsed"),
    ("hang-sti", r"watchdog: no commit in time", "record_parsed"),
    ("fail-domain", r"domain 3 cannot be rebuilt \(error -22\)", "record_parsed"),
    ("exception-restore", r"exception 6 \(invalid opcode\)", "record_parsed"),
]


def test_every_failure_before_the_commit_rolls_back(ctx):
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    modules = [(ctx.build / "guests" / elf, string) for elf, string in GUESTS] + images
    iso = make_iso(ctx.scratch / "rollback.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        machine.wait_for_pattern(r"update: this image's copy is boot module 'baton-self'", 5, "the way back known")
        wait_for_guests(machine)
        # One good update first: from then on every boot is a live-update boot, whose
        # memory use (a copy of the record it came from) a rollback boot shares.
        expect(ctx, machine, 0, "live-update", "--module", "baton-b")
        wait_for_guests(machine, after=len(machine.log))
        counts = memory_counts(ctx, machine)

        for attempt, (fault, reason, phase) in enumerate(FAULTS, start=1):
            before = len(machine.log)
            expect(ctx, machine, 0, "raw", f"update-fault {fault}")
            out = expect(ctx, machine, EXIT_ROLLED_BACK, "live-update", "--module", "baton-a", timeout=60)
            assert "the update was rolled back" in out and re.search(reason, out), f"{fault}: {out}"
            machine.wait_for_pattern(r"update: ROLLED BACK: build \S+-A failed", 30, f"{fault}: rolled back",
                                     start=before)
            machine.wait_for_pattern(r"control: listening on COM2", 30, f"{fault}: control up", start=before)
            assert build_id(ctx, machine).endswith("-B"), f"{fault}: the old image should run again"
            wait_for_guests(machine, after=len(machine.log))
            assert memory_counts(ctx, machine) == counts, f"{fault}: the frame counts changed"
            report = expect(ctx, machine, 0, "raw", "last-update")
            assert "outcome rolled-back" in report and f"phase={phase}" in report, f"{fault}: {report}"
            assert re.search(r"failed build=\S+-A", report) and f"rollbacks {attempt}" in report, report
            assert "domains restored=3 of=3" in report, report
            inspect_record(ctx, machine, f"rollback-{fault}")

        # With the fault gone, the same update commits; its record keeps the history.
        after = len(machine.log)
        out = expect(ctx, machine, 0, "live-update", "--module", "baton-a")
        assert "outcome committed" in out and f"rollbacks {len(FAULTS)}" in out, out
        assert re.search(r"previous-failure build=\S+-A", out), out
        machine.wait_for_pattern(r"update: from \S+ \(build \S+-B\), generation 2, 3 of 3 domains", 60,
                                 "the good update", start=after)
        wait_for_guests(machine, after=len(machine.log))
        decoded = inspect_record(ctx, machine, "after-rollbacks")
        assert re.search(r"rollback", decoded, re.I), decoded[-2000:]
        # The failed images' own panic and exception are the only ones; the guests' history
        # holds across everything.
        log = machine.log
        assert log.count("update: rolling back to the previous image") == len(FAULTS)
        assert re.findall(r"PANIC: .*", log) == ["PANIC: update: injected fault panic_early"], log
        assert len(re.findall(r"EXCEPTION \d+", log)) == 1, re.findall(r"EXCEPTION .*", log)
        check_guest_history(re.sub(r"(PANIC|EXCEPTION)", "failed-image", log))
