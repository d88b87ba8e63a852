#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make soak`, second part: Debian's Linux under Baton through many live updates in a
row (50 by default), beside the counter and memcheck guests. After every update it checks what
tests/qemu/test_linux.py checks: every domain restored, the Linux workload's checksum
passes go on, dmesg stays clean, the clock never went back, the counter ticks. One line
per update with its blackout and the largest clock gap the guest saw since the update
before; at the end the median and maximum of both. Exits 1 at the first failure, with
what was seen; the serial log is kept in BUILD/soak/linux-serial.log."""

import argparse
import re
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baton_qemu import Machine, make_iso  # noqa: E402
from test_kexec import batonctl  # noqa: E402
from test_linux import BOOT_TIMEOUT, LINUX, expect_healthy, modules  # noqa: E402
from update_report import Context  # noqa: E402

GAP = re.compile(LINUX + r"linux: clock max_gap_us=(\d+) backwards=0")
BLACKOUT = re.compile(r"update: from .* generation (\d+), .* blackout=(\d+)us")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="build directory (default: build)")
    parser.add_argument("--updates", type=int, default=50, help="live updates (default 50)")
    args = parser.parse_args()
    ctx = Context(Path(args.build), Path(args.build) / "soak" / "linux")
    iso = make_iso(ctx.scratch / "linux.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules(ctx))
    blackouts, gaps = [], []
    with Machine(iso, ctx.scratch, memory="1G") as machine:
        try:
            machine.wait_for_pattern(LINUX + r"linux: init up", BOOT_TIMEOUT, "Linux reaches its init")
            expect_healthy(machine, 0, 3, "Linux before the first update")
            for update in range(1, args.updates + 1):
                before = len(machine.log)
                variant = "b" if update % 2 == 1 else "a"
                code, out = batonctl(ctx, machine, "live-update", "--module", f"baton-{variant}", timeout=60)
                assert code == 0, f"update {update} failed: {out}"
                machine.wait_for_pattern(rf"generation {update}, 3 of 3 domains", 60, f"update {update}", start=before)
                expect_healthy(machine, before, 2, f"Linux after update {update}")
                machine.wait_for_pattern(r"\[d\d+ counter\] counter: tick \d+", 30, "the counter", start=before)
                machine.wait_for_pattern(r"\[d\d+ memcheck\] memcheck: pass \d+ verified \d+ pages mismatches=0", 60,
                                         "memcheck", start=before)
                log = machine.log[before:]
                blackout = int(BLACKOUT.search(log).group(2)) / 1000
                gap = max(int(g) for g in GAP.findall(log)) / 1000
                blackouts.append(blackout)
                gaps.append(gap)
                print(f"update {update:3d} -> {variant.upper()}: blackout {blackout:6.1f} ms, "
                      f"largest guest clock gap {gap:6.1f} ms", flush=True)
                assert "crashed" not in log and "PANIC" not in log, "a domain crashed or the hypervisor panicked"
                assert "mismatches=0" in log and not re.search(r"mismatches=[1-9]", log), "memcheck found a mismatch"
        except AssertionError as failure:
            print(f"soak (linux) FAILED: {failure}\n{machine.describe()}")
            return 1
        finally:
            shutil.copy(machine.log_path, ctx.build / "soak" / "linux-serial.log")
    print(f"soak (linux): {len(blackouts)} updates passed; blackout median {statistics.median(blackouts):.1f} ms, "
          f"max {max(blackouts):.1f} ms; guest clock gap median {statistics.median(gaps):.1f} ms, "
          f"max {max(gaps):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
