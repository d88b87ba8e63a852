# SPDX-License-Identifier: MIT
"""QEMU tests of the IOMMU (docs/iommu.md), each with both kinds QEMU emulates: with
-device intel-iommu the hypervisor finds the VT-d unit through ACPI (DMAR), with
-device amd-iommu the AMD-Vi unit through IVRS; either way translation is on with every
PCI device blocked, and a DMA by QEMU's edu device (started by the `pci dma-probe`
diagnostic) does not reach memory. VT-d also logs it as a fault naming the device, the
address and the reason; QEMU 7.2's AMD-Vi never writes an event-log entry for a blocked
DMA, so there blocking is proved by the data alone (the probe's target is unchanged).
Without an IOMMU the hypervisor boots as before and says it has none. A live update keeps
translation on and the device blocked."""

import re

from baton_qemu import Machine, make_iso
from test_kexec import batonctl, expect, stripped


class Iommu:
    """One emulated IOMMU: its QEMU options and what the hypervisor says about it."""

    def __init__(self, kind, options, unit, registers, table_frames, logs_faults, first_edu):
        self.kind = kind  # as `iommu status` names it
        self.options = options
        self.unit = unit
        self.registers = registers
        self.table_frames = table_frames  # the unit's own preserved frames after boot
        self.logs_faults = logs_faults
        self.first_edu = first_edu  # where the first `-device edu` lands

    def edus(self, count):
        """QEMU options for the IOMMU and `count` edu devices, and their addresses."""
        slot = int(self.first_edu[3:5], 16)
        return (self.options + ["-device", "edu"] * count,
                [f"00:{slot + i:02x}.0" for i in range(count)])


# VT-d is a system-bus device; AMD-Vi's PCI function takes the next free slot (00:03.0),
# and must come before the devices it translates (QEMU sets their DMA space up then).
VTD = Iommu("vtd", ["-device", "intel-iommu,aw-bits=48"], "vtd0", "0xfed90000", 2, True, "00:03.0")
AMDVI = Iommu("amd-vi", ["-device", "amd-iommu"], "amdvi0", "0xfed80000", 4, False, "00:04.0")
IOMMUS = (VTD, AMDVI)
EDU = "00:03.0"  # edu is the first device added after q35's own (VT-d, or none)


def fault_line(unit):
    return (rf"iommu: DMA fault on {unit}: device 0000:(?P<bus>[0-9a-f]{{2}}):(?P<dev>[0-9a-f]{{2}})\.(?P<fn>\d) "
            r"\[1234:11e8\] (?P<access>read|write) at 0x(?P<address>[0-9a-f]+) refused: "
            r"(?P<text>[^(]+) \(reason 0x(?P<reason>[0-9a-f]+)\)")


FAULT_LINE = fault_line("vtd0")


def source_id(match):
    return int(match["bus"], 16) << 8 | int(match["dev"], 16) << 3 | int(match["fn"])


def probe(ctx, machine, direction, edu=EDU):
    """Runs one edu DMA and returns the target address, how many bytes changed and faults."""
    out = expect(ctx, machine, 0, "pci", "dma-probe", edu, direction)
    match = re.search(rf"dma-probe device={edu} direction={direction} address=0x([0-9a-f]+) bytes=64 "
                      r"completed=yes changed=(\d+) new_faults=(\d+)", out)
    assert match, f"no probe result in: {out}\n{machine.describe()}"
    return int(match.group(1), 16), int(match.group(2)), int(match.group(3))


def expect_blocked_probe(ctx, machine, direction, after, iommu=VTD, edu=EDU):
    """A probe DMA is refused: nothing lands; VT-d logs exactly this fault, AMD-Vi none."""
    address, changed, new_faults = probe(ctx, machine, direction, edu)
    assert changed == 0, f"a blocked {direction} DMA changed {changed} bytes\n{machine.describe()}"
    if not iommu.logs_faults:
        # QEMU 7.2's AMD-Vi drops a blocked write and returns zeros for a blocked read,
        # without an event: the unchanged target is the whole proof.
        assert new_faults == 0, f"the {direction} probe gave {new_faults} faults\n{machine.describe()}"
        return address
    assert new_faults == 1, f"the {direction} probe gave {new_faults} faults\n{machine.describe()}"
    fault = machine.wait_for_pattern(fault_line(iommu.unit), 10, f"the IOMMU's fault line for the {direction} probe",
                                     start=after)[0]
    bus, dev_fn = edu.split(":")
    expected = int(bus, 16) << 8 | int(dev_fn[:2], 16) << 3 | int(dev_fn[3:])
    assert source_id(fault) == expected, f"fault names source 0x{source_id(fault):x}: {fault.group(0)}"
    assert int(fault["address"], 16) == address, f"fault at 0x{fault['address']}, probe used 0x{address:x}"
    assert fault["access"] == direction, fault.group(0)
    assert int(fault["reason"], 16) == 2 and fault["text"] == "context entry not present", fault.group(0)
    return address


def expect_iommu_on(ctx, machine, iommu=VTD, edu=EDU, after=0):
    if iommu is VTD:
        machine.wait_for_pattern(r"iommu: DRHD 0: registers 0xfed90000, segment 0", 5, "the DRHD from ACPI",
                                 start=after)
        machine.wait_for_pattern(r"iommu: vtd0 at 0xfed90000 segment 0: VT-d \d+\.\d+, 4-level tables", 5,
                                 "the unit with 4-level tables (aw-bits=48)", start=after)
    else:
        machine.wait_for_pattern(r"iommu: IVHD 0: registers 0xfed80000, segment 0, IOMMU at 00:03\.0", 5,
                                 "the IVHD from ACPI", start=after)
        machine.wait_for_pattern(r"iommu: amdvi0 at 0xfed80000 segment 0: AMD-Vi \(PCI 00:03\.0, capability at "
                                 r"0x[0-9a-f]+\), 4-level tables", 5, "the AMD-Vi unit", start=after)
    status = expect(ctx, machine, 0, "iommu", "status")
    assert re.search(rf"unit name={iommu.unit} kind={iommu.kind} segment=0 registers={iommu.registers} "
                     rf"translation=on root=0x[0-9a-f]+ levels=4 table_frames={iommu.table_frames}", status), status
    listing = expect(ctx, machine, 0, "pci", "list")
    assert re.search(rf"pci device={edu} vendor=1234 device_id=11e8 .* dma=blocked iommu={iommu.unit}",
                     listing), listing
    devices = re.findall(r"^pci device=(\S+) .* dma=(\S+)", listing, re.MULTILINE)
    assert devices and all(state == "blocked" for _, state in devices), f"not every device is blocked: {listing}"
    return status


def blocks_unassigned_device_dma(ctx, iommu):
    options, (edu,) = iommu.edus(1)
    iso = make_iso(ctx.scratch / "iommu.iso", ctx.build / "baton.elf", "loglevel=info")
    with Machine(iso, ctx.scratch, extra=options) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        on = (r"iommu: vtd0: translation on, root table 0x[0-9a-f]+ \(2 preserved frames\)" if iommu is VTD else
              r"iommu: amdvi0: translation on, device table 0x[0-9a-f]+ \(256 entries, 4 preserved frames")
        assert re.search(on, machine.log), machine.describe()
        expect_iommu_on(ctx, machine, iommu, edu)

        mark = len(machine.log)
        address = expect_blocked_probe(ctx, machine, "write", mark, iommu, edu)
        mark = len(machine.log)
        assert expect_blocked_probe(ctx, machine, "read", mark, iommu, edu) == address

        status = expect(ctx, machine, 0, "iommu", "status")
        faults = 2 if iommu.logs_faults else 0
        assert re.search(rf"iommu units=1 faults={faults}", status), status
        if iommu.logs_faults:
            assert re.search(rf"fault unit=vtd0 device={edu} access=write address=0x{address:x} reason=0x2",
                             status), status
            assert re.search(rf"fault unit=vtd0 device={edu} access=read address=0x{address:x} reason=0x2",
                             status), status
        # Each fault is logged once: the records were cleared, later polls find nothing.
        expect(ctx, machine, 0, "version")
        assert len(re.findall(r"iommu: DMA fault", machine.log)) == faults, machine.describe()
        assert "PANIC" not in machine.log and "EXCEPTION" not in machine.log


def test_vtd_blocks_unassigned_device_dma_and_logs_the_fault(ctx):
    blocks_unassigned_device_dma(ctx, VTD)


def test_amdvi_blocks_unassigned_device_dma(ctx):
    blocks_unassigned_device_dma(ctx, AMDVI)


def test_without_iommu_the_hypervisor_says_so_and_dma_is_not_restricted(ctx):
    iso = make_iso(ctx.scratch / "no-iommu.iso", ctx.build / "baton.elf", "loglevel=info")
    with Machine(iso, ctx.scratch, extra=["-device", "edu"]) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        assert re.search(r"iommu: none \(no DMAR or IVRS table among the \d+ ACPI tables", machine.log), \
            machine.describe()
        status = expect(ctx, machine, 0, "iommu", "status")
        assert "iommu units=0 faults=0" in status, status
        listing = expect(ctx, machine, 0, "pci", "list")
        assert re.search(rf"pci device={EDU} vendor=1234 device_id=11e8 .* dma=unprotected iommu=-", listing), listing
        # Nothing stops the device: the probe's bytes land in the target page.
        _, changed, new_faults = probe(ctx, machine, "write")
        assert changed == 64 and new_faults == 0, machine.describe()


def live_update_keeps_translation_on_and_the_device_blocked(ctx, iommu):
    options, (edu,) = iommu.edus(1)
    modules = [(ctx.build / "guests" / "counter.elf", "counter start ram=8M"),
               (stripped(ctx, "baton-b.elf"), "baton-b")]
    iso = make_iso(ctx.scratch / "iommu-lu.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch, extra=options) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        expect_iommu_on(ctx, machine, iommu, edu)
        mark = len(machine.log)
        code, out = batonctl(ctx, machine, "live-update", "--module", "baton-b", timeout=60)
        machine.wait_for_pattern(r"control: listening on COM2", 30, "the new image up", start=mark)
        assert code == 0, f"batonctl live-update -> {code}: {out}\n{machine.describe()}"
        table = "root table" if iommu is VTD else "device table"
        before = re.search(rf"iommu: {iommu.unit}: translation on, {table} (0x[0-9a-f]+)", machine.log).group(1)
        adopted = machine.wait_for_pattern(rf"iommu: {iommu.unit}: translation stayed on; {table} (0x[0-9a-f]+)", 30,
                                           "the new image adopting the unit's tables", start=mark)[0]
        assert adopted.group(1) == before, f"tables rebuilt, not adopted: {adopted.group(0)}"
        machine.wait_for_pattern(r"counter: tick", 30, "the guest running after the update", start=mark)
        expect_iommu_on(ctx, machine, iommu, edu, after=mark)
        expect_blocked_probe(ctx, machine, "write", len(machine.log), iommu, edu)
        assert "PANIC" not in machine.log and "EXCEPTION" not in machine.log


def test_live_update_keeps_translation_on_and_the_device_blocked(ctx):
    live_update_keeps_translation_on_and_the_device_blocked(ctx, VTD)


def test_amdvi_live_update_keeps_translation_on_and_the_device_blocked(ctx):
    live_update_keeps_translation_on_and_the_device_blocked(ctx, AMDVI)
