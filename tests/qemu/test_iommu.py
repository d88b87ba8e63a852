# SPDX-License-Identifier: MIT
"""QEMU tests of the IOMMU (docs/iommu.md): with -device intel-iommu the hypervisor finds
the VT-d unit through ACPI (DMAR), turns translation on with every PCI device blocked,
and a DMA by QEMU's edu device (started by the `pci dma-probe` diagnostic) is refused
and logged as a fault naming the device, the address and the reason. Without an IOMMU
the hypervisor boots as before and says it has none. A live update keeps translation on
and the device blocked."""

import re

from baton_qemu import Machine, make_iso
from test_kexec import batonctl, expect, stripped

IOMMU = ["-device", "intel-iommu,aw-bits=48", "-device", "edu"]
EDU = "00:03.0"  # edu is the first device added after q35's own
EDU_SOURCE_ID = 0x18  # bus 0, device 3, function 0
FAULT_LINE = (r"iommu: DMA fault on vtd0: device 0000:(?P<bus>[0-9a-f]{2}):(?P<dev>[0-9a-f]{2})\.(?P<fn>\d) "
              r"\[1234:11e8\] (?P<access>read|write) at 0x(?P<address>[0-9a-f]+) refused: "
              r"(?P<text>[^(]+) \(reason 0x(?P<reason>[0-9a-f]+)\)")


def source_id(match):
    return int(match["bus"], 16) << 8 | int(match["dev"], 16) << 3 | int(match["fn"])


def probe(ctx, machine, direction):
    """Runs one edu DMA and returns the target address and how many bytes changed."""
    out = expect(ctx, machine, 0, "pci", "dma-probe", EDU, direction)
    match = re.search(rf"dma-probe device={EDU} direction={direction} address=0x([0-9a-f]+) bytes=64 "
                      r"completed=yes changed=(\d+) new_faults=(\d+)", out)
    assert match, f"no probe result in: {out}\n{machine.describe()}"
    return int(match.group(1), 16), int(match.group(2)), int(match.group(3))


def expect_blocked_probe(ctx, machine, direction, after):
    """A probe DMA is refused: nothing lands, and the IOMMU logs exactly this fault."""
    address, changed, new_faults = probe(ctx, machine, direction)
    assert changed == 0, f"a blocked {direction} DMA changed {changed} bytes\n{machine.describe()}"
    assert new_faults == 1, f"the {direction} probe gave {new_faults} faults\n{machine.describe()}"
    fault = machine.wait_for_pattern(FAULT_LINE, 10, f"the IOMMU's fault line for the {direction} probe",
                                     start=after)[0]
    assert source_id(fault) == EDU_SOURCE_ID, f"fault names source 0x{source_id(fault):x}: {fault.group(0)}"
    assert int(fault["address"], 16) == address, f"fault at 0x{fault['address']}, probe used 0x{address:x}"
    assert fault["access"] == direction, fault.group(0)
    assert int(fault["reason"], 16) == 2 and fault["text"] == "context entry not present", fault.group(0)
    return address


def expect_iommu_on(ctx, machine, after=0):
    machine.wait_for_pattern(r"iommu: DRHD 0: registers 0xfed90000, segment 0", 5, "the DRHD from ACPI", start=after)
    machine.wait_for_pattern(r"iommu: vtd0 at 0xfed90000 segment 0: VT-d \d+\.\d+, 4-level tables", 5,
                             "the unit with 4-level tables (aw-bits=48)", start=after)
    status = expect(ctx, machine, 0, "iommu", "status")
    assert re.search(r"unit name=vtd0 kind=vtd segment=0 registers=0xfed90000 translation=on root=0x[0-9a-f]+ "
                     r"levels=4 table_frames=2", status), status
    listing = expect(ctx, machine, 0, "pci", "list")
    assert re.search(rf"pci device={EDU} vendor=1234 device_id=11e8 .* dma=blocked iommu=vtd0", listing), listing
    devices = re.findall(r"^pci device=(\S+) .* dma=(\S+)", listing, re.MULTILINE)
    assert devices and all(state == "blocked" for _, state in devices), f"not every device is blocked: {listing}"
    return status


def test_vtd_blocks_unassigned_device_dma_and_logs_the_fault(ctx):
    iso = make_iso(ctx.scratch / "iommu.iso", ctx.build / "baton.elf", "loglevel=info")
    with Machine(iso, ctx.scratch, extra=IOMMU) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        assert re.search(r"iommu: vtd0: translation on, root table 0x[0-9a-f]+ \(2 preserved frames\)", machine.log), \
            machine.describe()
        expect_iommu_on(ctx, machine)

        mark = len(machine.log)
        address = expect_blocked_probe(ctx, machine, "write", mark)
        mark = len(machine.log)
        assert expect_blocked_probe(ctx, machine, "read", mark) == address

        status = expect(ctx, machine, 0, "iommu", "status")
        assert re.search(r"iommu units=1 faults=2", status), status
        assert re.search(rf"fault unit=vtd0 device={EDU} access=write address=0x{address:x} reason=0x2", status), status
        assert re.search(rf"fault unit=vtd0 device={EDU} access=read address=0x{address:x} reason=0x2", status), status
        # Each fault is logged once: the records were cleared, later polls find nothing.
        expect(ctx, machine, 0, "version")
        assert len(re.findall(r"iommu: DMA fault", machine.log)) == 2, machine.describe()
        assert "PANIC" not in machine.log and "EXCEPTION" not in machine.log


def test_without_iommu_the_hypervisor_says_so_and_dma_is_not_restricted(ctx):
    iso = make_iso(ctx.scratch / "no-iommu.iso", ctx.build / "baton.elf", "loglevel=info")
    with Machine(iso, ctx.scratch, extra=["-device", "edu"]) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        assert re.search(r"iommu: none \(no DMAR table among the \d+ ACPI tables", machine.log), machine.describe()
        status = expect(ctx, machine, 0, "iommu", "status")
        assert "iommu units=0 faults=0" in status, status
        listing = expect(ctx, machine, 0, "pci", "list")
        assert re.search(rf"pci device={EDU} vendor=1234 device_id=11e8 .* dma=unprotected iommu=-", listing), listing
        # Nothing stops the device: the probe's bytes land in the target page.
        _, changed, new_faults = probe(ctx, machine, "write")
        assert changed == 64 and new_faults == 0, machine.describe()


def test_live_update_keeps_translation_on_and_the_device_blocked(ctx):
    modules = [(ctx.build / "guests" / "counter.elf", "counter start ram=8M"),
               (stripped(ctx, "baton-b.elf"), "baton-b")]
    iso = make_iso(ctx.scratch / "iommu-lu.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch, extra=IOMMU) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        expect_iommu_on(ctx, machine)
        mark = len(machine.log)
        code, out = batonctl(ctx, machine, "live-update", "--module", "baton-b", timeout=60)
        machine.wait_for_pattern(r"control: listening on COM2", 30, "the new image up", start=mark)
        assert code == 0, f"batonctl live-update -> {code}: {out}\n{machine.describe()}"
        root_before = re.search(r"iommu: vtd0: translation on, root table (0x[0-9a-f]+)", machine.log).group(1)
        adopted = machine.wait_for_pattern(r"iommu: vtd0: translation stayed on; root table (0x[0-9a-f]+) and its "
                                           r"context tables", 30, "the new image adopting the unit's tables",
                                           start=mark)[0]
        assert adopted.group(1) == root_before, f"tables rebuilt, not adopted: {adopted.group(0)}"
        machine.wait_for_pattern(r"counter: tick", 30, "the guest running after the update", start=mark)
        expect_iommu_on(ctx, machine, after=mark)
        expect_blocked_probe(ctx, machine, "write", len(machine.log))
        assert "PANIC" not in machine.log and "EXCEPTION" not in machine.log
