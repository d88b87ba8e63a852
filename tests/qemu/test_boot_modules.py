# SPDX-License-Identifier: MIT
"""QEMU test of boot modules as a user writes them: one image behind two domains started
at boot, and domains created from boot modules after live updates, returning every frame
when destroyed (issue 12). One boot for the whole file."""

import re

from baton_qemu import make_iso, Machine
from test_kexec import expect, stripped
from test_live_update import memory_counts


def ticks(machine, name, start=0):
    return len(re.findall(rf"\[d\d+ {name}\] counter: tick \d+", machine.log[start:]))


def test_one_image_two_domains_and_create_after_updates(ctx):
    counter, memcheck = ctx.build / "guests" / "counter.elf", ctx.build / "guests" / "memcheck.elf"
    modules = [(counter, "counter start name=left ram=8M"), (counter, "counter start name=right ram=8M"),
               (memcheck, "memcheck ram=16M"),
               (stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    iso = make_iso(ctx.scratch / "modules.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        for name in ("left", "right"):
            machine.wait_for_pattern(rf"\[d\d+ {name}\] counter: tick \d+", 60, f"domain '{name}' from the counter image")
        listing = expect(ctx, machine, 0, "list")
        assert re.search(r"name=left state=running", listing) and re.search(r"name=right state=running", listing), \
            listing
        assert "ignored" not in machine.log, f"a module was ignored:\n{machine.describe()}"

        for generation, variant in ((1, "b"), (2, "a")):
            before = len(machine.log)
            expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant}")
            machine.wait_for_pattern(rf"update: from \S+ \(build \S+\), generation {generation}, 2 of 2 domains", 60,
                                     f"update {generation} restored both domains", start=before)
            machine.wait_for_pattern(r"control: listening on COM2", 60, f"update {generation}: control up",
                                     start=before)

        # The new image knows the boot modules: create from each, run, destroy, and every
        # frame comes back.
        counts = memory_counts(ctx, machine)
        out = expect(ctx, machine, 0, "create", "memcheck", "name=late", "ram=16M")
        late = int(re.search(r"(\d+)", out).group(1))
        out = expect(ctx, machine, 0, "create", "counter", "name=third")
        third = int(re.search(r"(\d+)", out).group(1))
        machine.wait_for_pattern(r"\[d\d+ late\] memcheck: pass \d+ verified \d+ pages mismatches=0", 60,
                                 "memcheck created after two updates runs")
        machine.wait_for_pattern(r"\[d\d+ third\] counter: tick \d+", 60, "counter created after two updates runs")
        expect(ctx, machine, 0, "destroy", str(late))
        expect(ctx, machine, 0, "destroy", str(third))
        assert memory_counts(ctx, machine) == counts, \
            f"frames lost: free/preserved {memory_counts(ctx, machine)}, before the creates {counts}"
        code_out = expect(ctx, machine, 1, "create", "nonesuch")
        assert "no guest module named 'nonesuch'" in code_out, code_out

        at = len(machine.log)
        for name in ("left", "right"):
            machine.wait_for_pattern(rf"\[d\d+ {name}\] counter: tick \d+", 30, f"'{name}' still runs", start=at)
        log = machine.log
    assert "crashed" not in log and "PANIC" not in log and "EXCEPTION" not in log, log[-3000:]
