# SPDX-License-Identifier: MIT
"""QEMU smoke tests of the bootable core: banner, boot information, memory report,
command-line validation, exception reporting."""

import re

from baton_qemu import EXIT_EXCEPTION, EXIT_PANIC, EXIT_SUCCESS, boot, make_iso


def boot_with(ctx, cmdline, memory="512M", timeout=60):
    iso = make_iso(ctx.scratch / "baton.iso", ctx.build / "baton.elf", cmdline)
    return boot(iso, ctx.scratch, memory=memory, timeout=timeout)


def size_bytes(number, unit):
    return int(number) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]


def test_boot_banner_and_memory_report(ctx):
    run = boot_with(ctx, "loglevel=info after_boot=exit")
    run.expect_status(EXIT_SUCCESS)
    run.expect(r"\[I\] Baton \d+\.\d+\.\d+ \(build [0-9a-z]+-[A-Z]\) starting$", "banner")
    run.expect(r"boot: loader 'GRUB", "boot loader name")
    run.expect(r"boot: command line 'loglevel=info after_boot=exit'", "command line echo")
    total = run.expect(r"mem: total (\d+) (KiB|MiB), free (\d+) (KiB|MiB)", "memory report total")
    region = run.expect(r"mem: lu_bootmem 0x([0-9a-f]+)-0x([0-9a-f]+) \((64) (MiB)\)", "bootmem region (default 64 MiB on 512 MiB)")
    run.expect(r"mem: preserved 0 B in 0 frames", "preserved usage")
    run.expect(r"mem: frame table \d+ \w+ for \d+ frames", "frame table size")
    run.expect(r"mem: invariant ok", "preserved-frame invariant check")
    run.expect(r"boot: done", "end of boot")
    run.expect_absent(r"PANIC|EXCEPTION|\[E\]|\[W\]", "error or warning output")

    total_bytes = size_bytes(total.group(1), total.group(2))
    free_bytes = size_bytes(total.group(3), total.group(4))
    assert 500 << 20 < total_bytes <= 512 << 20, f"512 MiB machine reports {total.group(0)}"
    assert 0 < free_bytes < total_bytes, f"free not below total: {total.group(0)}"
    start, end = int(region.group(1), 16), int(region.group(2), 16)
    assert end - start == size_bytes(region.group(3), "MiB") and start % (2 << 20) == 0, region.group(0)


def test_more_ram_than_4gib_is_mapped_and_counted(ctx):
    # q35 puts RAM beyond 2 GiB above 4 GiB: the direct map and frame table must cover it.
    run = boot_with(ctx, "after_boot=exit", memory="5G", timeout=90)
    run.expect_status(EXIT_SUCCESS)
    total = run.expect(r"mem: total (\d+) (KiB|MiB|GiB)", "memory report total")
    assert size_bytes(total.group(1), total.group(2)) > 4 << 30, total.group(0)
    run.expect(r"mem: invariant ok", "invariant check")


def test_bad_lu_bootmem_value_reported_and_default_used(ctx):
    run = boot_with(ctx, "lu_bootmem=12Q after_boot=exit")
    run.expect_status(EXIT_SUCCESS)
    run.expect(r"\[W\] cmdline: lu_bootmem=12Q: bad size '12Q' .*using the default", "bad-size warning")
    run.expect(r"mem: lu_bootmem 0x[0-9a-f]+-0x[0-9a-f]+ \(\d+ MiB\)", "region still placed")


def test_lu_bootmem_fixed_address_honoured(ctx):
    run = boot_with(ctx, "lu_bootmem=32M@0x8000000 after_boot=exit")
    run.expect_status(EXIT_SUCCESS)
    run.expect(r"mem: lu_bootmem 0x8000000-0xa000000 \(32 MiB\)", "region at the requested address")


def test_lu_bootmem_that_cannot_fit_stops_boot_with_reason(ctx):
    run = boot_with(ctx, "lu_bootmem=1G after_boot=exit")
    run.expect_status(EXIT_PANIC)
    run.expect(r"lu_bootmem.*1 GiB", "reason naming the request")
    run.expect(r"PANIC: mm: cannot set up memory", "panic line")


def test_unknown_option_warned(ctx):
    run = boot_with(ctx, "frobnicate=1 loglevel=loud after_boot=exit")
    run.expect_status(EXIT_SUCCESS)
    run.expect(r"\[W\] cmdline: unknown option 'frobnicate' ignored", "unknown-option warning")
    run.expect(r"\[W\] cmdline: loglevel=loud: expected error\|warn\|info\|debug or 0-3; using info", "loglevel warning")


def test_page_fault_is_reported_with_registers_and_backtrace(ctx):
    run = boot_with(ctx, "selftest=page_fault")
    run.expect_status(EXIT_EXCEPTION)
    run.expect(r"\[E\] EXCEPTION 14 \(page fault\), error code 0x0", "exception line")
    run.expect(r"cr2 0000000000001000", "faulting address in CR2")
    run.expect(r"rax [0-9a-f]{16}\s+rbx [0-9a-f]{16}", "general registers")
    frames = re.findall(r"^\[E\]\s+#\d+ ffffffff8[0-9a-f]{7}$", run.log, re.MULTILINE)
    assert len(frames) >= 2, f"expected a backtrace of at least 2 frames:\n{run.describe()}"


def test_invalid_opcode_is_reported(ctx):
    run = boot_with(ctx, "selftest=invalid_opcode")
    run.expect_status(EXIT_EXCEPTION)
    run.expect(r"EXCEPTION 6 \(invalid opcode\)", "exception line")


def test_stack_overflow_becomes_double_fault_on_its_own_stack(ctx):
    run = boot_with(ctx, "selftest=stack_overflow")
    run.expect_status(EXIT_EXCEPTION)
    run.expect(r"EXCEPTION 8 \(double fault\)", "double fault reported from the IST stack")


def test_panic_ends_with_panic_status(ctx):
    run = boot_with(ctx, "selftest=panic")
    run.expect_status(EXIT_PANIC)
    run.expect(r"^PANIC: selftest: deliberate panic$", "panic message")
