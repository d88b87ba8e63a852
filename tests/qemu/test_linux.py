# SPDX-License-Identifier: MIT
"""Debian's unmodified Linux under Baton (issue 14): the vmlinux of `make linux-guest`
entered through PVH on the emulated PC (docs/guest-platform.md), next to a Baton test
guest. One boot for the whole file.

What it checks: the kernel boots to the busybox init, the tmpfs checksum passes verify,
the clock never goes back, dmesg stays clean; the counter and memcheck guests run beside it;
then three live updates A->B->A->B, after each of which all of that still holds. The
largest clock gap the guest observed (the update's pause, as Linux saw it) is printed."""

import json
import re
import time

from baton_qemu import make_iso, Machine
from test_kexec import batonctl, stripped
from test_live_update import inspect_record

BOOT_TIMEOUT = 180  # seconds to the busybox init under TCG: PVH needs 2-3 s in plain QEMU
LINUX = r"\[d\d+ linux\] "


def linux_lines(machine, pattern, start=0):
    return re.findall(LINUX + pattern, machine.log[start:], re.MULTILINE)


def modules(ctx):
    linux = ctx.build / "linux"
    for name in ("vmlinux", "initramfs.cpio.gz", "cmdline"):
        assert (linux / name).is_file(), f"{linux / name} is missing: run `make linux-guest`"
    cmdline = (linux / "cmdline").read_text().strip()
    return [(linux / "vmlinux", f"linux kind=pc start ram=256M initrd=initramfs -- {cmdline}"),
            (linux / "initramfs.cpio.gz", "initramfs"),
            (ctx.build / "guests" / "counter.elf", "counter start ram=8M"),
            (ctx.build / "guests" / "memcheck.elf", "memcheck start ram=16M"),
            (stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]


def expect_healthy(machine, start, passes, what):
    """`passes` verified passes from byte `start` on, a clock line that went forward only,
    and a clean dmesg verdict after them; fails at once on a failure line."""
    def healthy(log):
        bad = re.search(LINUX + r"linux: (pass \d+ FAILED.*|clock WENT BACKWARDS.*|dmesg problem.*)", log[start:])
        assert not bad and "Kernel panic" not in log, f"{what}: '{bad.group(0) if bad else 'Kernel panic'}'\n" \
                                                      f"{machine.describe()}"
        seen = list(re.finditer(LINUX + r"linux: pass \d+ ok$", log[start:], re.MULTILINE))
        if len(seen) < passes:
            return None
        after = log[start + seen[passes - 1].end():]
        return re.search(LINUX + r"linux: dmesg clean$", after, re.MULTILINE) and \
            re.search(LINUX + r"linux: clock max_gap_us=\d+ backwards=0", log[start:], re.MULTILINE)
    machine.wait_for(healthy, BOOT_TIMEOUT, what)


def test_linux_boots_works_and_survives_live_updates(ctx):
    iso = make_iso(ctx.scratch / "linux.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules(ctx))
    with Machine(iso, ctx.scratch, memory="1G") as machine:
        machine.wait_for_pattern(LINUX + r"linux: init up", BOOT_TIMEOUT, "Linux reaches its init")
        init_seconds = time.monotonic() - machine.started
        print(f"    linux under Baton: 'linux: init up' {init_seconds:.2f}s after QEMU started", flush=True)
        results = ctx.build / "test-results" / "linux-baton.json"
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps({"vmlinux": {"init_up_seconds": round(init_seconds, 3)}}, indent=2) + "\n")

        expect_healthy(machine, 0, 3, "three verified passes, a forward clock, a clean dmesg")
        ticks = len(re.findall(r"\[d\d+ counter\] counter: tick \d+", machine.log))
        assert ticks > 0, f"the counter guest did not run beside Linux\n{machine.describe()}"
        assert "crashed" not in machine.log, machine.describe()

        # Three live updates A -> B -> A -> B with Linux running: after each, passes go on
        # (every checksum matching), the clock never went back, dmesg stays clean, the
        # counter ticks, and the guest's largest clock gap is printed.
        for generation, variant in ((1, "b"), (2, "a"), (3, "b")):
            before = len(machine.log)
            code, out = batonctl(ctx, machine, "live-update", "--module", f"baton-{variant}", timeout=60)
            assert code == 0, f"update {generation} failed: {out}\n{machine.describe()}"
            machine.wait_for_pattern(rf"update: from \S+ \(build \S+\), generation {generation}, 3 of 3 domains",
                                     60, f"update {generation} restored every domain", start=before)
            expect_healthy(machine, before, 2, f"Linux after update {generation}")
            machine.wait_for_pattern(r"\[d\d+ counter\] counter: tick \d+", 30, "the counter goes on", start=before)
            machine.wait_for_pattern(r"\[d\d+ memcheck\] memcheck: pass \d+ verified \d+ pages mismatches=0", 60,
                                     "memcheck goes on", start=before)
            # The record that brought them over validates, and says what Linux is.
            decoded = inspect_record(ctx, machine, f"linux-record-{generation}")
            assert re.search(r'domain \d+ "linux": running.*\n(  .*\n)*  guest: pc\n  pc platform:', decoded), decoded
        gaps = [int(g) for g in re.findall(LINUX + r"linux: clock max_gap_us=\d+ backwards=0 samples=\d+ "
                                                    r"worst_gap_us=(\d+)", machine.log)]
        blackouts = [f"{int(us) / 1000:.0f}" for us in re.findall(r"update: from .* blackout=(\d+)us", machine.log)]
        print(f"    linux across 3 updates: largest guest-observed clock gap {max(gaps) / 1000:.1f} ms; "
              f"blackouts {', '.join(blackouts)} ms", flush=True)
        assert "crashed" not in machine.log, machine.describe()
