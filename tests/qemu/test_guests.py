# SPDX-License-Identifier: MIT
"""QEMU tests of guests on SVM: three guests side by side, the hostile guest contained."""

import re

from baton_qemu import Machine, make_iso


def guest_iso(ctx, modules, cmdline="loglevel=info"):
    guests = ctx.build / "guests"
    return make_iso(ctx.scratch / "guests.iso", ctx.build / "baton.elf", cmdline,
                    [(guests / f"{image}.elf", string) for image, string in modules])


def numbers(pattern, log):
    return [tuple(int(g, 0) for g in m.groups()) for m in re.finditer(pattern, log, re.MULTILINE)]


def test_three_guests_make_progress_side_by_side(ctx):
    iso = guest_iso(ctx, [("counter", "counter start ram=8M"),
                          ("memcheck", "memcheck start ram=24M"),
                          ("events", "events start ram=8M")])
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"\[d\d+ counter\] counter: tick (\d+)", 60, "counter ticks", count=6)
        machine.wait_for_pattern(r"\[d\d+ memcheck\] memcheck: pass \d+ ", 90, "memcheck passes", count=3)
        machine.wait_for_pattern(r"\[d\d+ events\] events: timer events=\d+", 60, "events reports", count=3)
        log = machine.log

    ticks = numbers(r"counter: tick (\d+) count=(\d+) time_ms=(\d+)", log)
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(ticks, ticks[1:])), f"counter went back: {ticks}"

    fill = re.search(r"memcheck: filled (\d+) pages checksum=(0x[0-9a-f]+)", log)
    assert fill, f"memcheck never filled its memory:\n{log[-3000:]}"
    passes = re.findall(r"memcheck: pass \d+ verified (\d+) pages mismatches=(\d+) checksum=(0x[0-9a-f]+)", log)
    for pages, mismatches, checksum in passes:
        assert mismatches == "0" and checksum == fill.group(2) and pages == fill.group(1), \
            f"memcheck pass disagrees with its fill: {pages} {mismatches} {checksum} vs {fill.groups()}"

    assert "events: mask check PASS" in log, f"event mask check did not pass:\n{log[-3000:]}"
    timer = numbers(r"events: timer events=(\d+) time_ms=(\d+)", log)
    assert timer[-1][0] > timer[0][0] > 0, f"timer events did not grow: {timer}"
    assert "crashed" not in log and "PANIC" not in log, f"unexpected failure:\n{log[-3000:]}"


def test_hostile_guest_is_contained(ctx):
    iso = guest_iso(ctx, [("hostile", "hostile start ram=8M vcpus=2"), ("counter", "counter start ram=8M")])
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"hostile: RESULT (PASS|FAIL.*)$", 60, "hostile result")
        crash = machine.wait_for_pattern(r"dom: d(\d+) 'hostile' crashed: nested page fault: write at "
                                         r"guest-physical 0xc0000000", 30, "hostile domain crashed")
        ticks_at_crash = len(re.findall(r"counter: tick", machine.log))
        machine.wait_for_pattern(r"counter: tick", 30, "counter keeps running after the crash",
                                 count=ticks_at_crash + 3)
        log = machine.log
    result = re.search(r"hostile: RESULT (.*)$", log, re.MULTILINE).group(1)
    assert result == "PASS", f"hostile checks failed: {result}\n" + \
        "\n".join(line for line in log.splitlines() if "FAIL" in line)
    assert "PANIC" not in log and "EXCEPTION" not in log, f"the hypervisor itself failed:\n{log[-3000:]}"
    assert crash


def test_triple_fault_crashes_only_that_domain(ctx):
    iso = guest_iso(ctx, [("hostile", "hostile start ram=8M last=triple_fault"),
                          ("counter", "counter start ram=8M")])
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"dom: d\d+ 'hostile' crashed: triple fault \(shutdown\)", 60,
                                 "the triple fault is caught as a crash")
        ticks = len(re.findall(r"counter: tick", machine.log))
        machine.wait_for_pattern(r"counter: tick", 30, "counter keeps running", count=ticks + 3)
        log = machine.log
    assert "PANIC" not in log and "EXCEPTION" not in log, f"the hypervisor itself failed:\n{log[-3000:]}"
