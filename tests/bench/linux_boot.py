#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux boot time under Baton against plain QEMU (part of `make bench`). The same
Debian vmlinux, initramfs and command line (`make linux-guest`) boot through PVH both
ways, in rounds with the order alternating, so a change in the host's speed favours
neither. Each boot is timed from QEMU's start to the guest's `linux: init up` line, and
the guest's own uptime at that line is read too: the first includes the firmware, GRUB
(which loads the 64 MiB vmlinux as a module under Baton) and Baton's own boot, the
second only the kernel. Prints medians and the ratios Baton / plain of both, and writes
them to BUILD/bench/linux_boot.json."""

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "qemu"))
from baton_qemu import make_iso, qemu_command  # noqa: E402
from update_report import Context  # noqa: E402

TIMEOUT = 180
INIT = re.compile(r"linux: init up uptime=([\d.]+)s")


def timed_boot(command, log_path, what):
    """Runs QEMU until the serial log shows the init line; (wall seconds, guest uptime)."""
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while True:
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            found = INIT.search(log)
            if found:
                return time.monotonic() - started, float(found.group(1))
            if proc.poll() is not None or time.monotonic() - started > TIMEOUT:
                tail = "\n".join(log.splitlines()[-30:])
                raise SystemExit(f"{what}: no 'linux: init up' (QEMU {'exited' if proc.poll() is not None else 'timed out'})"
                                 f"\n{tail}")
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def plain(linux, scratch, index):
    log = scratch / f"plain-{index}.log"
    command = ["qemu-system-x86_64", "-machine", "q35", "-cpu", "max", "-accel", "tcg", "-m", "256",
               "-kernel", str(linux / "vmlinux"), "-initrd", str(linux / "initramfs.cpio.gz"),
               "-append", (linux / "cmdline").read_text().strip(), "-display", "none", "-monitor", "none",
               "-serial", f"file:{log}", "-no-reboot"]
    return timed_boot(command, log, "plain QEMU")


def baton(iso, scratch, index):
    log = scratch / f"baton-{index}.log"
    command = qemu_command(iso, "1G", ["-serial", f"file:{log}"])
    return timed_boot(command, log, "Baton")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="build directory (default: build)")
    parser.add_argument("--rounds", type=int, default=3, help="boots of each kind (default 3)")
    args = parser.parse_args()
    ctx = Context(Path(args.build), Path(args.build) / "bench" / "linux_boot")
    linux = ctx.build / "linux"
    for name in ("vmlinux", "initramfs.cpio.gz", "cmdline"):
        if not (linux / name).is_file():
            raise SystemExit(f"{linux / name} is missing: run `make linux-guest`")
    cmdline = (linux / "cmdline").read_text().strip()
    iso = make_iso(ctx.scratch / "linux.iso", ctx.build / "baton.elf", "loglevel=info",
                   [(linux / "vmlinux", f"linux kind=pc start ram=256M initrd=initramfs -- {cmdline}"),
                    (linux / "initramfs.cpio.gz", "initramfs")])

    runs = {"plain": [], "baton": []}
    for index in range(args.rounds):
        order = ["plain", "baton"] if index % 2 == 0 else ["baton", "plain"]
        for kind in order:
            wall, uptime = plain(linux, ctx.scratch, index) if kind == "plain" else baton(iso, ctx.scratch, index)
            runs[kind].append({"wall_s": wall, "guest_uptime_s": uptime})
            print(f"  round {index + 1}: {kind:5s} init up after {wall:6.2f} s (guest uptime {uptime:.2f} s)", flush=True)

    def median(kind, key):
        return statistics.median(run[key] for run in runs[kind])

    summary = {kind: {key: round(median(kind, key), 3) for key in ("wall_s", "guest_uptime_s")} for kind in runs}
    ratio_wall = summary["baton"]["wall_s"] / summary["plain"]["wall_s"]
    ratio_guest = summary["baton"]["guest_uptime_s"] / summary["plain"]["guest_uptime_s"]
    print(f"linux boot to init, medians of {args.rounds}: plain QEMU {summary['plain']['wall_s']:.2f} s "
          f"(kernel {summary['plain']['guest_uptime_s']:.2f} s), Baton {summary['baton']['wall_s']:.2f} s "
          f"(kernel {summary['baton']['guest_uptime_s']:.2f} s)")
    print(f"linux boot ratio Baton/plain: {ratio_wall:.2f} from QEMU start, {ratio_guest:.2f} in the kernel's own uptime")
    out = ctx.build / "bench" / "linux_boot.json"
    out.write_text(json.dumps({"rounds": args.rounds, "runs": runs, "medians": summary,
                               "ratio_wall": round(ratio_wall, 3), "ratio_guest_uptime": round(ratio_guest, 3)},
                              indent=2) + "\n")


if __name__ == "__main__":
    main()
