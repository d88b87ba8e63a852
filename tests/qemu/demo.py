#!/usr/bin/env python3
"""`make demo`: boots Baton under QEMU and shows what it printed, then a short summary."""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baton_qemu import EXIT_NAMES, EXIT_SUCCESS, boot, make_iso  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kernel", default="build/baton.elf")
    parser.add_argument("--cmdline", default="loglevel=info exit_after_boot")
    parser.add_argument("--memory", default="512M")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="baton-demo-") as scratch:
        scratch = Path(scratch)
        print(f"demo: booting {args.kernel} under QEMU (q35, -cpu max, TCG, {args.memory}) "
              f"with command line '{args.cmdline}'\n")
        iso = make_iso(scratch / "demo.iso", Path(args.kernel), args.cmdline)
        run = boot(iso, scratch, memory=args.memory, timeout=120)
        start = run.log.find("[I] Baton")
        print(run.log[start if start >= 0 else 0:].rstrip())
        outcome = "timed out" if run.timed_out else EXIT_NAMES.get(run.status, f"status {run.status}")
        print(f"\ndemo: QEMU ended after {run.seconds:.1f}s: {outcome}")
        return 0 if run.status == EXIT_SUCCESS and not run.timed_out else 1


if __name__ == "__main__":
    sys.exit(main())
