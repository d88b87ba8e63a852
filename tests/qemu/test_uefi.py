# SPDX-License-Identifier: MIT
"""QEMU tests of the UEFI boot path: the hybrid ISO booted through Debian's OVMF. The
memory map comes from the EFI memory-map tag and keeps the firmware's runtime, ACPI and
MMIO memory out of every allocator; ACPI is found through the RSDP tag; guests run; live
updates pass the EFI map on unchanged and keep the guests and their memory, and a device
assigned through AMD-Vi (the IOMMU of the AMD servers SVM runs on) keeps doing DMA
across them."""

import re

from baton_qemu import EXIT_SUCCESS, Machine, boot, make_iso
from test_dma import assigned_device_keeps_doing_dma_across_live_updates
from test_iommu import AMDVI
from test_kexec import expect, stripped
from test_live_update import GUESTS, check_guest_history, memory_counts, wait_for_guests

EFI_LINE = r"boot: EFI memory \[0x(?P<start>[0-9a-f]+), \+(?P<pages>\d+) pages\) .* \((?P<type>\d+)\) " \
           r"attributes 0x(?P<attributes>[0-9a-f]+)"
EFI_MAP = r"boot: memory map from the EFI memory map \((\d+) descriptors, (\d+) after merging neighbours, " \
          r"digest ([0-9a-f]+)\)"
# Boot-services and loader memory is free once GRUB left boot services; conventional is free.
FREE_EFI_TYPES = {1, 2, 3, 4, 7}
EFI_MEMORY_RUNTIME = 1 << 63
UPDATES = 3


def test_uefi_boot_uses_the_efi_memory_map_and_keeps_firmware_memory_out(ctx):
    iso = make_iso(ctx.scratch / "uefi.iso", ctx.build / "baton.elf", "loglevel=debug after_boot=exit",
                   firmware="uefi")
    run = boot(iso, ctx.scratch, memory="1G", timeout=120, firmware="uefi")
    run.expect_status(EXIT_SUCCESS)
    run.expect(EFI_MAP, "the memory map taken from the EFI memory-map tag")
    run.expect(r"iommu: none \(no DMAR or IVRS table among the \d+ ACPI tables of BOCHS\)",
               "ACPI found through the RSDP tag")
    run.expect(r"smp: 1 of 1 CPUs up", "the MADT read")
    run.expect(r"boot: done", "end of boot")
    run.expect_absent(r"PANIC|EXCEPTION|\[E\]|\[W\]", "error or warning output")

    descriptors = [(int(m["start"], 16), int(m["pages"]) * 4096, int(m["type"]), int(m["attributes"], 16))
                   for m in re.finditer(EFI_LINE, run.log)]
    usable = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"mm: usable RAM \[0x([0-9a-f]+), 0x([0-9a-f]+)\)",
                                                              run.log)]
    assert len(descriptors) > 20 and usable, run.describe()
    kept_out = [d for d in descriptors if d[2] not in FREE_EFI_TYPES or d[3] & EFI_MEMORY_RUNTIME]
    runtime = [d for d in kept_out if d[2] in (5, 6)]
    nvs = [d for d in kept_out if d[2] == 10]
    assert runtime and nvs, f"OVMF's map has runtime and NVS memory: {kept_out}"
    for start, length, kind, attributes in kept_out:
        for low, high in usable:
            assert start + length <= low or high <= start, \
                f"EFI type {kind} (attributes 0x{attributes:x}) at 0x{start:x}+0x{length:x} is in usable RAM " \
                f"[0x{low:x}, 0x{high:x})"
    # And every free descriptor is usable RAM (nothing the firmware gave up is lost).
    for start, length, kind, _ in descriptors:
        if kind in FREE_EFI_TYPES and start >= 0x100000:
            assert any(low <= start and start + length <= high for low, high in usable), \
                f"free EFI type {kind} at 0x{start:x}+0x{length:x} is not usable RAM"


def test_uefi_guests_run_and_live_updates_keep_them(ctx):
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    modules = [(ctx.build / "guests" / elf, string) for elf, string in GUESTS] + images
    iso = make_iso(ctx.scratch / "uefi-lu.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules,
                   firmware="uefi")
    with Machine(iso, ctx.scratch, memory="1G", cpus=2, firmware="uefi") as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 120, "control channel up")
        machine.wait_for_pattern(r"smp: 2 of 2 CPUs up", 10, "the second CPU started under UEFI")
        first_map = machine.wait_for_pattern(EFI_MAP, 10, "the EFI memory map")[0]
        wait_for_guests(machine)
        steady = None
        for update in range(1, UPDATES + 1):
            variant = "b" if update % 2 else "a"
            before = len(machine.log)
            out = expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant}", timeout=60)
            assert "phase blackout us=" in out, out
            machine.wait_for_pattern(rf"update: from \S+ \(build \S+\), generation {update}, 3 of 3 domains", 60,
                                     f"update {update}: every domain restored", start=before)
            # The next image read the very map the firmware gave the first one.
            again = machine.wait_for_pattern(EFI_MAP, 30, f"update {update}: the EFI memory map", start=before)[0]
            assert again.group(2, 3) == first_map.group(2, 3), \
                f"update {update}: {again.group(0)} differs from the first boot's {first_map.group(0)}"
            machine.wait_for_pattern(r"control: listening on COM2", 60, f"update {update}: control up",
                                     start=before)
            machine.wait_for_pattern(r"smp: 2 of 2 CPUs up", 30, f"update {update}: the AP restarted", start=before)
            wait_for_guests(machine, after=len(machine.log))
            counts = memory_counts(ctx, machine)
            steady = steady or counts
            assert counts == steady, f"update {update}: free/preserved frames {counts}, after update 1 {steady}"
        check_guest_history(machine.log)
        memcheck = re.findall(r"memcheck: pass \d+ verified (\d+) pages mismatches=(\d+)", machine.log)
        assert len(memcheck) >= UPDATES and all(m == "0" for _, m in memcheck), memcheck


def test_uefi_amdvi_assigned_device_keeps_doing_dma_across_live_updates(ctx):
    """test_dma's update test, booted through OVMF with the AMD-Vi IOMMU: the firmware
    placed the BARs, the IVRS came from its ACPI tables, and DMA never stops."""
    assigned_device_keeps_doing_dma_across_live_updates(ctx, AMDVI, firmware="uefi")
