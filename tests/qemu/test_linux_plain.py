# SPDX-License-Identifier: MIT
"""The real Linux guest under plain QEMU, without Baton: Debian's kernel with the busybox
initramfs and workload of tests/guests/linux/ (docs/linux-guest.md), booted once through
the bzImage (vmlinuz) and once through the PVH entry of the uncompressed ELF (vmlinux),
which QEMU's -kernel loader takes when it finds the Xen PHYS32_ENTRY note.

Each boot runs until the workload has shown what the checks need (init up, 3 verified
passes, a clock line, a dmesg verdict after those passes), then QEMU is killed; the test
functions share it. The time to "linux: init up" is printed and kept in
build/test-results/linux-plain.json: the baseline for Baton's own boot of this guest."""

import json
import re
import subprocess
import threading
import time

TIMEOUT = 90  # seconds for the whole run; under TCG the bzImage reaches init in 5-10 s
PASSES = 3
MEMORY = "256"

# What a healthy run shows.
INIT = r"^linux: init up"
PASS = r"^linux: pass \d+ ok$"
CLOCK = r"^linux: clock max_gap_us=\d+ backwards=0 samples=\d+"
DMESG = r"^linux: dmesg clean$"
# What ends the wait at once: the run has already failed.
FATAL = r"linux: pass \d+ FAILED|linux: clock WENT BACKWARDS|linux: dmesg problem|Kernel panic"

_lock = threading.Lock()
_runs = {}


class LinuxRun:
    """One finished boot: the serial log, how long init took, and what failed, if anything."""

    def __init__(self, image, log, init_seconds, seconds, failure):
        self.image, self.log, self.init_seconds, self.seconds, self.failure = image, log, init_seconds, seconds, failure

    def tail(self, lines=60):
        return "\n".join(self.log.splitlines()[-lines:])

    def describe(self):
        return (f"{self.image} under plain QEMU, {self.seconds:.1f}s: {self.failure or 'ran'}; "
                f"serial log (last 60 lines):\n{self.tail()}")

    def lines(self, pattern):
        return re.findall(pattern, self.log, re.MULTILINE)

    def expect(self, pattern, what, count=1):
        found = self.lines(pattern)
        assert len(found) >= count, f"{what}: expected {count}x /{pattern}/, saw {len(found)}\n{self.describe()}"
        return found

    def expect_absent(self, pattern, what):
        found = self.lines(pattern)
        assert not found, f"{what}: {found[:3]}\n{self.describe()}"


def missing_in(log):
    """What a healthy run has not shown yet. The dmesg verdict counts only after the last
    wanted pass (the workload checks on pass 1, 6, 11...), so it covers the boot and every
    pass the test saw."""
    missing = []
    if not re.search(INIT, log, re.MULTILINE):
        missing.append("init up")
    passes = list(re.finditer(PASS, log, re.MULTILINE))
    if len(passes) < PASSES:
        missing.append(f"{PASSES} passes")
    if not re.search(CLOCK, log, re.MULTILINE):
        missing.append("clock line")
    if len(passes) < PASSES or not re.search(DMESG, log[passes[PASSES - 1].end():], re.MULTILINE):
        missing.append(f"dmesg verdict after pass {PASSES}")
    return missing


def boot(ctx, image):
    """Boots build/linux/<image> with the initramfs and the command line of build/linux,
    waits for a healthy run (or a failure, an exit, the timeout), kills QEMU."""
    linux = ctx.build / "linux"
    for name in (image, "initramfs.cpio.gz", "cmdline"):
        assert (linux / name).is_file(), f"{linux / name} is missing: run `make linux-guest`"
    cmdline = (linux / "cmdline").read_text().strip()
    log_path = ctx.scratch / f"linux-{image}.log"
    command = ["qemu-system-x86_64", "-machine", "q35", "-cpu", "max", "-accel", "tcg", "-m", MEMORY,
               "-kernel", str(linux / image), "-initrd", str(linux / "initramfs.cpio.gz"), "-append", cmdline,
               "-display", "none", "-monitor", "none", "-serial", f"file:{log_path}", "-no-reboot"]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    init_seconds, failure, log = None, None, ""
    try:
        while True:
            log = log_path.read_text(errors="replace").replace("\r", "") if log_path.exists() else ""
            if init_seconds is None and re.search(INIT, log, re.MULTILINE):
                init_seconds = time.monotonic() - started
            missing = missing_in(log)
            fatal = re.search(FATAL, log)
            if fatal:
                failure = f"failed: '{fatal.group(0)}'"
            elif not missing:
                break
            elif proc.poll() is not None:
                failure = f"QEMU exited ({proc.returncode}) before: {', '.join(missing)}"
            elif time.monotonic() - started > TIMEOUT:
                failure = f"timed out after {TIMEOUT}s waiting for: {', '.join(missing)}"
            if failure:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0].strip()
    if failure and output:
        log += f"\n[qemu] {output}"
    return LinuxRun(image, log, init_seconds, time.monotonic() - started, failure)


def run_of(ctx, image):
    """The one boot of this image for the whole file (the first test to ask boots it)."""
    with _lock:
        if image not in _runs:
            _runs[image] = boot(ctx, image)
            record(ctx, _runs[image])
    return _runs[image]


def record(ctx, run):
    if run.init_seconds is None:
        return
    guest = re.search(r"^linux: init up uptime=([\d.]+)s", run.log, re.MULTILINE)
    print(f"    linux-plain: {run.image}: 'linux: init up' {run.init_seconds:.2f}s after QEMU started "
          f"(guest uptime {guest.group(1) if guest else '?'}s)", flush=True)
    results = ctx.build / "test-results" / "linux-plain.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(results.read_text()) if results.exists() else {}
    data[run.image] = {"init_up_seconds": round(run.init_seconds, 3), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    results.write_text(json.dumps(data, indent=2) + "\n")


# ---- the checks, for each way in --------------------------------------------------------

def check_init(run):
    assert run.init_seconds is not None, f"no 'linux: init up'\n{run.describe()}"
    # Not anchored: a kernel message may land on the same console line (seen once in CI).
    run.expect(r"linux: files written: \d+ x \d+ KiB", "workload files written")


def check_passes(run):
    run.expect_absent(r"linux: pass \d+ FAILED.*", "a verification pass failed")
    run.expect(PASS, "verified passes", PASSES)
    # Increasing, not necessarily contiguous: a kernel message can garble a console line.
    numbers = [int(n) for n in run.lines(r"linux: pass (\d+) ok")]
    assert numbers == sorted(set(numbers)), f"passes out of order: {numbers}\n{run.describe()}"


def check_clock(run):
    run.expect_absent(r"linux: clock WENT BACKWARDS.*", "CLOCK_MONOTONIC stepped back")
    run.expect(CLOCK, "clock report with backwards=0")
    run.expect_absent(r"linux: clock .*backwards=[1-9].*", "clock report counting backward steps")


def check_dmesg(run):
    run.expect_absent(r"linux: dmesg problem:.*", "the kernel log has a problem")
    run.expect(DMESG, "dmesg verdict", 2)  # the first after pass 1, then one after pass 3
    run.expect_absent(r"Kernel panic|Oops|BUG:", "kernel failure on the console")


def test_bzimage_boots_to_init(ctx):
    check_init(run_of(ctx, "vmlinuz"))


def test_bzimage_workload_passes(ctx):
    check_passes(run_of(ctx, "vmlinuz"))


def test_bzimage_clock_never_goes_back(ctx):
    check_clock(run_of(ctx, "vmlinuz"))


def test_bzimage_dmesg_clean(ctx):
    check_dmesg(run_of(ctx, "vmlinuz"))


def test_pvh_vmlinux_runs_workload(ctx):
    # QEMU's -kernel loader enters an ELF through its PVH note: the path Baton takes.
    run = run_of(ctx, "vmlinux")
    for check in (check_init, check_passes, check_clock, check_dmesg):
        check(run)
    run.expect(r"Linux version \S+", "kernel banner")
