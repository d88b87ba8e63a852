#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make demo`: boots Baton under QEMU with three test guests and Debian's Linux (built by
`make linux-guest`), lets them run, drives the control channel with batonctl (list,
create, pause, destroy, mem) and shows what the hypervisor printed; then replaces the
running hypervisor three times (live update A -> B -> A -> B, the images being boot
modules) while the guests keep running, and shows the guests' output, Linux's console
included, across each update with the update's phase timings. Before them, one update
whose new image hangs (a fault injected for the demo): the watchdog catches it and the
old image takes the guests back (a rollback, docs/live-update.md)."""

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baton_qemu import Machine, make_iso  # noqa: E402
from test_kexec import keep_signature  # noqa: E402
from update_report import CONSOLE_UPDATE, phase_line, phases_from_report  # noqa: E402

UPDATES = 3
# The new image's boot details, left out of the excerpts shown around each update.
BOOT_DETAIL = re.compile(r"^\[I\] (mem: |timer: |svm: |boot: (?!done))")


def excerpt(log, start, end):
    """The console from `start` to `end`, indented, each run of the new image's boot
    details folded into one line."""
    shown, hidden = [], 0
    for line in log[start:end].rstrip("\n").splitlines() + [""]:
        if line and BOOT_DETAIL.match(line):
            hidden += 1
            continue
        if hidden:
            shown.append(f"[... {hidden} lines of the new image's boot: memory map, frames, timer, SVM ...]")
            hidden = 0
        if line:
            shown.append(line)
    return "    " + "\n    ".join(shown)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    parser.add_argument("--memory", default="1G")
    args = parser.parse_args()
    build = Path(args.build).resolve()
    guests = build / "guests"
    batonctl = build / "bin" / "batonctl"

    with tempfile.TemporaryDirectory(prefix="baton-demo-") as scratch:
        scratch = Path(scratch)
        modules = [(guests / "counter.elf", "counter start ram=8M"),
                   (guests / "memcheck.elf", "memcheck start ram=32M"),
                   (guests / "events.elf", "events start ram=8M")]
        linux = build / "linux"
        if (linux / "vmlinux").is_file():
            cmdline = (linux / "cmdline").read_text().strip()
            modules += [(linux / "vmlinux", f"linux kind=pc start ram=256M initrd=initramfs -- {cmdline}"),
                        (linux / "initramfs.cpio.gz", "initramfs")]
        # The two hypervisor images ride along as boot modules, for the live updates.
        images = []
        for elf, name in (("baton-b.elf", "baton-b"), ("baton.elf", "baton-a")):
            copy = scratch / f"{name}.elf"
            subprocess.run(["objcopy", "--strip-debug", str(build / elf), str(copy)], check=True)
            images.append((keep_signature(build / elf, copy), name))
        print("demo: booting Baton under QEMU (q35, -cpu max, TCG) with guests: "
              + ", ".join(string.split()[0] for _, string in modules) + "\n")
        iso = make_iso(scratch / "demo.iso", build / "baton.elf", "loglevel=info lu_bootmem=32M", modules + images)
        with Machine(iso, scratch, memory=args.memory) as machine:
            env = dict(os.environ, BATON_CONTROL_SOCKET=str(machine.control_path))

            def ctl(*words, show=True, status=0):
                if show:
                    print(f"$ batonctl {' '.join(shlex.quote(word) for word in words)}")
                proc = subprocess.run([str(batonctl), *words], env=env, capture_output=True, text=True, timeout=60)
                output = (proc.stdout + proc.stderr).rstrip()
                if show:
                    print(output + "\n")
                assert proc.returncode == status, \
                    f"batonctl {' '.join(words)} ended with {proc.returncode}, not {status}: {output}"
                return proc.stdout

            try:
                machine.wait_for_pattern(r"memcheck: pass 2 ", 120, "memcheck's second pass")
                machine.wait_for_pattern(r"events: timer events=", 60, "timer events")
                if any(string.startswith("linux ") for _, string in modules):
                    machine.wait_for_pattern(r"\[d\d+ linux\] linux: pass 2 ok", 180, "Linux's second pass")
                ctl("list")
                created = ctl("create", "memcheck", "name=extra", "ram=16M")
                domid = re.search(r"id=(\d+)", created).group(1)
                machine.wait_for_pattern(r"\[d\d+ extra\] memcheck: pass 1 ", 60, "the new domain's first pass")
                ctl("pause", domid)
                ctl("list")
                ctl("destroy", domid)
                ctl("mem")

                log = machine.log
                start = log.find("[I] Baton")
                shown = len(log)
                print("---- the hypervisor's serial console so far ----")
                print(log[start if start >= 0 else 0:shown].rstrip())
                print("---- end ----\ndemo: all three guests ran side by side; the control channel created, paused "
                      "and destroyed a fourth.\n")

                print(f"demo: now {UPDATES} live updates: the running hypervisor serializes its domains into a "
                      "record, jumps into another image (a boot module), which rebuilds them from the record; "
                      "the guests keep running. (`--image FILE` instead of `--module NAME` uploads an image "
                      "first; `batonctl last-update` shows the report again.)\n")
                print("demo: first, an update that fails: the new image is told to hang with interrupts off "
                      "before it commits. The watchdog (an HPET NMI armed at the jump) catches it and the old "
                      "image, kept aside with the record, takes the guests back; batonctl exits with status 4.\n")
                before = len(machine.log)
                ctl("update-fault", "hang-cli")
                ctl("live-update", "--module", "baton-b", status=4)
                machine.wait_for_pattern(r"update: ROLLED BACK", 60, "the rollback", start=before)
                machine.wait_for_pattern(r"control: listening on COM2", 60, "control up after the rollback",
                                         start=before)
                machine.wait_for_pattern(r"counter: tick \d+", 30, "the counter after the rollback",
                                         start=len(machine.log))
                log = machine.log
                end = log.rfind("\n") + 1
                print("---- the console across the failed update ----")
                print(excerpt(log, shown, end))
                print("---- end ----\n")
                shown = end
                blackouts = []
                for number in range(1, UPDATES + 1):
                    variant = "b" if number % 2 else "a"
                    # Let the guests' output flow a little under the image about to be replaced.
                    machine.wait_for_pattern(r"counter: tick \d+", 30, "the counter ticking", start=shown)
                    before = len(machine.log)
                    # The old image answers with the first phases and jumps; batonctl waits
                    # for the new image and prints its report (every phase, the blackout).
                    report = ctl("live-update", "--module", f"baton-{variant}")
                    phases = phases_from_report(report[report.find("new image answered"):])
                    assert "blackout" in phases and f"generation {number}" in report, \
                        f"update {number}: no report from the new image: {report}"
                    update = machine.wait_for_pattern(CONSOLE_UPDATE, 60, f"update {number}: the new image's "
                                                      "update line", start=before)[0]
                    assert update["restored"] == update["recorded"], f"not every domain came back: {update[0]}"
                    machine.wait_for_pattern(r"control: listening on COM2", 60, f"update {number}: control up",
                                             start=before)
                    after = before + update.end()
                    # Output from every guest under the new image, and the events guest noticing it.
                    for pattern, what in ((r"counter: tick \d+", "the counter ticking"),
                                          (r"memcheck: pass \d+ verified \d+ pages mismatches=0", "a memcheck pass"),
                                          (rf"events: hypervisor changed: generation {number} ",
                                           "the events guest seeing the new image"),
                                          *([(r"\[d\d+ linux\] linux: pass \d+ ok", "a Linux checksum pass")]
                                            if any(s.startswith("linux ") for _, s in modules) else [])):
                        machine.wait_for_pattern(pattern, 60, f"update {number}: {what}", start=after)
                    log = machine.log
                    end = log.rfind("\n") + 1
                    print(f"---- the console across update {number} (from {update['build']}) ----")
                    print(excerpt(log, shown, end))
                    print("---- end ----")
                    shown = end
                    blackouts.append(phases["blackout"])
                    print(f"demo: update {number}: {phase_line(phases)}\n")
                ctl("list")
            except AssertionError as error:
                print(f"demo: FAILED: {error}")
                return 1
        print(f"demo: {UPDATES} live updates; the guests were paused for "
              + ", ".join(f"{us / 1000:.0f}" for us in blackouts)
              + " ms (the blackout, under QEMU's TCG emulation) and kept their state: the counter went on "
              "counting, memcheck found its memory intact, the events guest saw each new generation.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
