# SPDX-License-Identifier: MIT
"""Boots Baton images under QEMU (TCG, q35, SVM-capable CPU) and collects the serial log.
Shared by the QEMU tests and `make demo`."""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# isa-debug-exit statuses: (code << 1) | 1, see kernel/arch/x86_64/devices/debug_exit.hpp.
EXIT_SUCCESS = 33
EXIT_PANIC = 35
EXIT_EXCEPTION = 37
EXIT_NAMES = {EXIT_SUCCESS: "success", EXIT_PANIC: "panic", EXIT_EXCEPTION: "exception",
              0: "triple fault or reset"}


def make_iso(out: Path, kernel: Path, cmdline: str, modules=(), firmware="bios"):
    """Builds a bootable ISO with this command line and (file, string) modules: for the
    BIOS only (smaller) unless firmware="uefi", which makes the hybrid BIOS+UEFI one."""
    args = [str(ROOT / "boot" / "mkiso.sh")] + (["--bios-only"] if firmware == "bios" else [])
    args += [str(out), str(kernel), cmdline]
    for path, string in modules:
        args += [str(path), string]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, f"mkiso.sh failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
    return out


class Run:
    """One finished QEMU run: its exit status and everything the serial console printed."""

    def __init__(self, status, log, timed_out, seconds):
        self.status = status
        self.log = log
        self.timed_out = timed_out
        self.seconds = seconds

    def describe(self):
        what = "timed out" if self.timed_out else f"exit status {self.status} ({EXIT_NAMES.get(self.status, 'unknown')})"
        tail = "\n".join(self.log.splitlines()[-60:])
        return f"QEMU {what} after {self.seconds:.1f}s; serial log (last 60 lines):\n{tail}"

    def expect_status(self, status):
        assert not self.timed_out and self.status == status, \
            f"expected exit status {status} ({EXIT_NAMES.get(status)}), got: {self.describe()}"

    def expect(self, pattern, what=None):
        """Asserts a regular expression matches somewhere in the log; returns the match."""
        match = re.search(pattern, self.log, re.MULTILINE)
        assert match, f"{what or 'pattern'} not found: /{pattern}/\n{self.describe()}"
        return match

    def expect_absent(self, pattern, what=None):
        match = re.search(pattern, self.log, re.MULTILINE)
        assert not match, f"{what or 'pattern'} unexpectedly found: {match.group(0) if match else ''}\n{self.describe()}"


# Debian's OVMF (package ovmf): the UEFI firmware for firmware="uefi".
OVMF = Path("/usr/share/ovmf/OVMF.fd")


def qemu_command(iso: Path, memory="512M", extra=(), cpus=1, firmware="bios"):
    assert firmware in ("bios", "uefi"), firmware
    uefi = ["-bios", str(OVMF)] if firmware == "uefi" else []
    return ["qemu-system-x86_64", "-machine", "q35", "-cpu", "max", "-accel", "tcg", "-m", memory,
            "-smp", str(cpus), "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot",
            "-display", "none", "-monitor", "none", *uefi, "-cdrom", str(iso), *extra]


def boot(iso: Path, scratch: Path, memory="512M", timeout=60, extra=(), cpus=1, firmware="bios"):
    """Boots the ISO and waits for QEMU to end (or the timeout). The kernel is expected
    to end the run itself through isa-debug-exit."""
    log_path = scratch / f"serial-{time.monotonic_ns()}.log"
    command = qemu_command(iso, memory, ["-serial", f"file:{log_path}", *extra], cpus, firmware)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        output, _ = proc.communicate()
    seconds = time.monotonic() - started
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    log = log.replace("\r", "")
    if output.strip():
        log += "\n[qemu] " + output.strip()
    return Run(proc.returncode, log, timed_out, seconds)


class Machine:
    """A running QEMU whose serial log can be waited on while it runs. Use as a context
    manager: the machine is always stopped at the end."""

    def __init__(self, iso: Path, scratch: Path, memory="512M", extra=(), cpus=1, firmware="bios"):
        self.log_path = scratch / f"serial-{time.monotonic_ns()}.log"
        # Unix socket paths are limited to 107 bytes: keep this one short.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="baton-"))
        self.control_path = self.socket_dir / "control.sock"
        command = qemu_command(iso, memory, ["-serial", f"file:{self.log_path}",
                                             "-serial", f"unix:{self.control_path},server=on,wait=off",
                                             *extra], cpus, firmware)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def log(self):
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.replace("\r", "")

    def describe(self):
        state = "running" if self.proc.poll() is None else f"exited with status {self.proc.returncode}"
        tail = "\n".join(self.log.splitlines()[-60:])
        qemu = ""
        if self.proc.poll() is not None and self.proc.stdout is not None:
            qemu = "\nQEMU said: " + self.proc.stdout.read().strip()
        return f"QEMU {state} after {time.monotonic() - self.started:.1f}s; serial log (last 60 lines):\n{tail}{qemu}"

    def wait_for(self, predicate, timeout, what):
        """Polls the log until predicate(log) returns something truthy (returned), the
        machine ends, or the timeout passes (then fails with what was seen)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log
            result = predicate(log)
            if result:
                return result
            if self.proc.poll() is not None:
                raise AssertionError(f"QEMU ended before: {what}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for: {what}\n{self.describe()}")
            time.sleep(0.2)

    def wait_for_pattern(self, pattern, timeout, what=None, count=1, start=0):
        """Waits until the pattern has matched `count` times in the log from byte `start`
        on; returns the matches."""
        def found(log):
            matches = list(re.finditer(pattern, log[start:], re.MULTILINE))
            return matches if len(matches) >= count else None
        return self.wait_for(found, timeout, what or f"/{pattern}/ x{count}")

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"QEMU did not exit within {timeout}s\n{self.describe()}")
        return self.proc.returncode

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
