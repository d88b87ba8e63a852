#!/usr/bin/env python3
"""`make demo`: boots Baton under QEMU with three test guests, lets them run, drives the
control channel with batonctl (list, create, pause, destroy, mem) and shows what the
hypervisor printed."""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baton_qemu import Machine, make_iso  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    parser.add_argument("--memory", default="512M")
    args = parser.parse_args()
    build = Path(args.build).resolve()
    guests = build / "guests"
    batonctl = build / "bin" / "batonctl"

    with tempfile.TemporaryDirectory(prefix="baton-demo-") as scratch:
        scratch = Path(scratch)
        modules = [(guests / "counter.elf", "counter start ram=8M"),
                   (guests / "memcheck.elf", "memcheck start ram=32M"),
                   (guests / "events.elf", "events start ram=8M")]
        print("demo: booting Baton under QEMU (q35, -cpu max, TCG) with guests: "
              + ", ".join(string.split()[0] for _, string in modules) + "\n")
        iso = make_iso(scratch / "demo.iso", build / "baton.elf", "loglevel=info", modules)
        with Machine(iso, scratch, memory=args.memory) as machine:
            env = dict(os.environ, BATON_CONTROL_SOCKET=str(machine.control_path))

            def ctl(*words):
                print(f"$ batonctl {' '.join(words)}")
                proc = subprocess.run([str(batonctl), *words], env=env, capture_output=True, text=True, timeout=60)
                print((proc.stdout + proc.stderr).rstrip() + "\n")
                return proc.stdout

            try:
                machine.wait_for_pattern(r"memcheck: pass 2 ", 120, "memcheck's second pass")
                machine.wait_for_pattern(r"events: timer events=", 60, "timer events")
                ctl("list")
                created = ctl("create", "memcheck", "name=extra", "ram=16M")
                domid = re.search(r"id=(\d+)", created).group(1)
                machine.wait_for_pattern(r"\[d\d+ extra\] memcheck: pass 1 ", 60, "the new domain's first pass")
                ctl("pause", domid)
                ctl("list")
                ctl("destroy", domid)
                ctl("mem")
            except AssertionError as error:
                print(f"demo: FAILED: {error}")
                return 1
            log = machine.log
        start = log.find("[I] Baton")
        print("---- the hypervisor's serial console ----")
        print(log[start if start >= 0 else 0:].rstrip())
        print("---- end ----\ndemo: all three guests ran side by side; the control channel created, paused "
              "and destroyed a fourth.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
