# SPDX-License-Identifier: MIT
"""QEMU tests of the control channel: batonctl drives create, pause, unpause and destroy,
and destroying a domain gives back every frame it had."""

import os
import re
import subprocess
import time

from baton_qemu import Machine, make_iso


def batonctl(ctx, machine, *args, timeout=30):
    env = dict(os.environ, BATON_CONTROL_SOCKET=str(machine.control_path))
    proc = subprocess.run([str(ctx.build / "bin" / "batonctl"), "--timeout", "20", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def expect_ok(ctx, machine, *args):
    code, out, err = batonctl(ctx, machine, *args)
    assert code == 0, f"batonctl {' '.join(args)} -> {code}\nstdout: {out}\nstderr: {err}\n{machine.describe()}"
    return out


def free_kib(report):
    match = re.search(r"mem: total \d+ \w+, free (\d+) (KiB|MiB)", report)
    assert match, f"no free figure in: {report}"
    return int(match.group(1)) * (1024 if match.group(2) == "MiB" else 1)


def lines_of(machine, name):
    return len(re.findall(rf"\[d\d+ {name}\] memcheck: pass", machine.log))


def test_batonctl_drives_domain_life_cycle_and_destroy_returns_memory(ctx):
    guests = ctx.build / "guests"
    iso = make_iso(ctx.scratch / "control.iso", ctx.build / "baton.elf", "loglevel=info",
                   [(guests / "counter.elf", "counter start ram=8M"), (guests / "memcheck.elf", "memcheck ram=16M")])
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        machine.wait_for_pattern(r"counter: tick", 30, "counter running")
        before = free_kib(expect_ok(ctx, machine, "mem"))

        out = expect_ok(ctx, machine, "create", "memcheck", "name=mc", "ram=16M")
        domid = int(re.search(r"(\d+)", out).group(1))
        listing = expect_ok(ctx, machine, "list")
        assert re.search(rf"domain id={domid} name=mc state=running ram=16777216 vcpus=1", listing), listing
        machine.wait_for_pattern(r"\[d\d+ mc\] memcheck: pass \d+ verified \d+ pages mismatches=0", 60,
                                 "the created domain runs")

        expect_ok(ctx, machine, "pause", str(domid))
        assert re.search(rf"id={domid} name=mc state=paused", expect_ok(ctx, machine, "list"))
        paused_passes = lines_of(machine, "mc")
        time.sleep(2.5)  # memcheck prints a pass at least once a second while it runs
        assert lines_of(machine, "mc") <= paused_passes + 1, f"paused domain kept running\n{machine.describe()}"

        code, _, err = batonctl(ctx, machine, "pause", str(domid))
        assert code == 1 and "EBUSY" in err and "paused" in err, f"second pause: {code} {err}"
        expect_ok(ctx, machine, "unpause", str(domid))
        machine.wait_for_pattern(r"\[d\d+ mc\] memcheck: pass", 30, "resumed after unpause", count=paused_passes + 2)

        expect_ok(ctx, machine, "destroy", str(domid))
        assert f"id={domid} " not in expect_ok(ctx, machine, "list")
        after = free_kib(expect_ok(ctx, machine, "mem"))
        assert after == before, f"destroy leaked memory: free {before} KiB before create, {after} KiB after destroy"

        # Refusals are clean errors, and the remaining guest is unaffected.
        for args, errname in ((("destroy", str(domid)), "ENOENT"), (("create", "nosuchmodule"), "ENOENT"),
                              (("create", "memcheck", "ram=1M"), "EINVAL"), (("unpause", "1"), "EBUSY")):
            code, _, err = batonctl(ctx, machine, *args)
            assert code == 1 and errname in err, f"batonctl {args}: {code} {err}"
        ticks = len(re.findall(r"counter: tick", machine.log))
        machine.wait_for_pattern(r"counter: tick", 20, "counter still running", count=ticks + 2)


def test_unknown_and_malformed_commands_get_error_lines(ctx):
    iso = make_iso(ctx.scratch / "control.iso", ctx.build / "baton.elf", "loglevel=info")
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        for line, errname in (("frobnicate", "ENOSYS"), ("pause", "EINVAL"), ("pause abc", "EINVAL"),
                              ("create", "EINVAL"), ("destroy 99999999999", "E")):
            code, out, err = batonctl(ctx, machine, "raw", line)
            assert code == 1 and re.search(rf"error {errname}", out + err), f"'{line}': {code} {out} {err}"
        assert expect_ok(ctx, machine, "version").startswith("baton version=")


def dirty_report(text):
    match = re.search(r"dirty frames=(\d+) of=(\d+)", text)
    assert match, f"no dirty summary in: {text}"
    ranges = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"range 0x([0-9a-f]+)-0x([0-9a-f]+)", text)]
    return int(match.group(1)), ranges


def test_log_dirty_tracks_every_write_while_the_guest_runs(ctx):
    guests = ctx.build / "guests"
    iso = make_iso(ctx.scratch / "logdirty.iso", ctx.build / "baton.elf", "loglevel=info",
                   [(guests / "memcheck.elf", "memcheck ram=16M")])
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        out = expect_ok(ctx, machine, "create", "memcheck", "name=mc", "start=no")
        domid = re.search(r"id=(\d+)", out).group(1)
        code, _, err = batonctl(ctx, machine, "logdirty", domid, "peek")
        assert code == 1 and "log-dirty mode off" in err, f"peek while off: {code} {err}"
        expect_ok(ctx, machine, "logdirty", domid, "enable")
        expect_ok(ctx, machine, "unpause", domid)

        fill = machine.wait_for_pattern(r"memcheck: region gfn=0x([0-9a-f]+)-0x([0-9a-f]+) pages=(\d+)", 60,
                                        "memcheck's region")[0]
        machine.wait_for_pattern(r"\[d\d+ mc\] memcheck: filled", 60, "memcheck filled its RAM with log-dirty on")
        first, end = int(fill.group(1), 16), int(fill.group(2), 16)
        dirty, ranges = dirty_report(expect_ok(ctx, machine, "logdirty", domid, "peek"))
        covered = sum(min(b, end + 1) - max(a, first) for a, b in ranges if b > first and a <= end)
        assert covered >= int(fill.group(3)), \
            f"fill wrote {fill.group(3)} pages in 0x{first:x}-0x{end:x}; only {covered} dirty there: {ranges}"

        # clean reports the same, then only what is written afterwards shows up.
        cleaned, _ = dirty_report(expect_ok(ctx, machine, "logdirty", domid, "clean"))
        assert cleaned >= dirty, f"clean reported {cleaned} < peek {dirty}"
        machine.wait_for_pattern(r"\[d\d+ mc\] memcheck: pass \d+ verified \d+ pages mismatches=0", 60,
                                 "a verify pass after clean", count=2)
        after, _ = dirty_report(expect_ok(ctx, machine, "logdirty", domid, "peek"))
        assert 0 < after < 64, f"after clean only the stack and counters should be dirty, got {after} frames"

        expect_ok(ctx, machine, "logdirty", domid, "disable")
        passes = len(re.findall(r"\[d\d+ mc\] memcheck: pass \d+ verified \d+ pages mismatches=0", machine.log))
        machine.wait_for_pattern(r"\[d\d+ mc\] memcheck: pass \d+ verified \d+ pages mismatches=0", 60,
                                 "memcheck still verifies cleanly", count=passes + 1)
        assert "mismatches=0" in machine.log and not re.search(r"mismatches=[1-9]", machine.log), machine.describe()
