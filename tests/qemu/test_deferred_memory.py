# SPDX-License-Identifier: MIT
"""QEMU test of the deferred start-up after a live update on a 6 GiB machine (issue 16):
the new image resumes the guests with only the bootmem region in its heap and gives the
rest of free memory while they run; a domain created and destroyed right after the
update, before that is over, gets memory proven free on demand and returns every frame.
One boot for the whole file."""

import re

from baton_qemu import Machine, make_iso
from test_kexec import expect, stripped
from test_live_update import memory_counts

MACHINE = "6144M"
# One 2 MiB section per pass of the scheduling loop (a pass at least every 1 ms tick while
# the counter spins): about 3 s for 6 GiB, against 0.2 s at the default pace, so that a
# command sent right after the update meets the deferred start-up still going.
PACE = "mem_defer_pace=1"
PENDING = r"mem: deferred: (?P<pending>\S+ \S+) free not yet in the heap, (?P<unbuilt>\S+ \S+) not yet"
DONE = r"mem: deferred start-up over: (?P<mib>\d+) MiB given to the heap while the guests ran, in (?P<ms>\d+) ms"


def update(ctx, machine, variant, generation):
    before = len(machine.log)
    expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant}")
    machine.wait_for_pattern(rf"update: from \S+ \(build \S+\), generation {generation}, 1 of 1 domains", 120,
                             f"update {generation} restored the domain", start=before)
    machine.wait_for_pattern(r"control: listening on COM2", 60, f"update {generation}: control up", start=before)
    return before


def test_memory_is_given_while_guests_run_and_domains_made_meanwhile_return_every_frame(ctx):
    counter, memcheck = ctx.build / "guests" / "counter.elf", ctx.build / "guests" / "memcheck.elf"
    modules = [(counter, "counter start ram=8M"), (memcheck, "memcheck ram=16M"),
               (stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    iso = make_iso(ctx.scratch / "deferred.iso", ctx.build / "baton.elf", f"loglevel=info lu_bootmem=32M {PACE}", modules)
    with Machine(iso, ctx.scratch, memory=MACHINE) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 120, "control channel up")
        machine.wait_for_pattern(r"counter: tick \d+", 60, "counter ticking")

        # Update 1: the whole of free memory (about 6 GiB) reaches the heap after the resume.
        start = update(ctx, machine, "b", 1)
        done = machine.wait_for_pattern(DONE, 120, "update 1: deferred start-up over", start=start)[0]
        assert int(done["mib"]) > 5 * 1024, done[0]
        boot_report = machine.log[start:]
        assert PACE in boot_report, "the pace was not passed on to the next image"
        pending = re.search(PENDING, boot_report)
        assert pending and pending["pending"] != "0 B", f"the boot report shows nothing deferred:\n{boot_report}"
        steady = memory_counts(ctx, machine)

        # Update 2, then at once: a 1 GiB domain (more than the zones hold before the
        # deferred start-up is far along), run, destroyed.
        start = update(ctx, machine, "a", 2)
        out = expect(ctx, machine, 0, "create", "memcheck", "name=early", "ram=1024M")
        early = int(re.search(r"(\d+)", out).group(1))
        at_create = machine.log[start:]
        machine.wait_for_pattern(r"\[d\d+ early\] memcheck: pass \d+ verified \d+ pages mismatches=0", 300,
                                 "memcheck created right after the update runs", start=start)
        expect(ctx, machine, 0, "destroy", str(early))
        done = machine.wait_for_pattern(DONE, 120, "update 2: deferred start-up over", start=start)[0]
        # The create came before the deferred start-up ended (else this tests nothing).
        assert re.search(DONE, at_create) is None, f"the deferred start-up ended before the create:\n{at_create}"
        assert memory_counts(ctx, machine) == steady, \
            f"frames lost: free/preserved {memory_counts(ctx, machine)}, after update 1 {steady}"
        print(f"deferred start-up: {done['mib']} MiB in {done['ms']} ms after update 2")

        at = len(machine.log)
        machine.wait_for_pattern(r"counter: tick \d+", 30, "counter still runs", start=at)
        log = machine.log
    assert "crashed" not in log and "PANIC" not in log and "EXCEPTION" not in log, log[-3000:]
    assert "mismatches=0" in log and not re.search(r"mismatches=[1-9]", log)
