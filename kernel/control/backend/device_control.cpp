// SPDX-License-Identifier: MIT
// The control channel's device commands: PCI devices, IOMMU state, the DMA probe.
#include "arch/x86_64/iommu/dma_probe.hpp"
#include "arch/x86_64/iommu/iommu.hpp"
#include "arch/x86_64/iommu/iommu_assign.hpp"
#include "control/backend/hypervisor_control.hpp"
#include "dom/device_assign.hpp"
#include "dom/domain.hpp"
#include "lib/format.hpp"

namespace {

pci::Address to_pci(const DeviceAddress &device) { return {device.bus, device.device, device.function}; }

// "bar0=mem32:0xfe900000+0x100000,bar2=io:0xc040+0x20"; "-" without any, "unsized"
// while a live update's new image has not sized them yet.
void format_bars(const pci::Device &device, char *text, usize capacity)
{
    if (!device.sized) {
        format(text, capacity, "unsized");
        return;
    }
    usize used = 0;
    for (unsigned i = 0; i < device.bar_slots && used < capacity; i++) {
        const pci::Bar &bar = device.bars[i];
        if (bar.size != 0)
            used += format(text + used, capacity - used, "%sbar%u=%s:0x%lx+0x%lx", used == 0 ? "" : ",", i,
                           bar.io     ? "io"
                           : bar.wide ? "mem64"
                                      : "mem32",
                           bar.base, bar.size);
    }
    if (used == 0)
        format(text, capacity, "-");
}

} // namespace

int HypervisorControl::pci_list(ReportLines &lines, ControlReason &)
{
    for (usize i = 0; i < pci::device_count(); i++) {
        const pci::Device &device = pci::device(i);
        const iommu::Unit *unit = iommu::unit_for(device.address);
        const iommu::Assignment *assigned = iommu::find_assignment(device.address);
        char owner[24] = "";
        if (assigned != nullptr)
            format(owner, sizeof(owner), " domain=%u", assigned->domain);
        char bars[160];
        format_bars(device, bars, sizeof(bars));
        lines.line("pci device=%02x:%02x.%u vendor=%04x device_id=%04x class=%06x kind=%s dma=%s%s iommu=%s bars=%s",
                   device.address.bus, device.address.device, device.address.function, device.vendor, device.device_id,
                   device.class_code, pci::class_name(device.class_code),
                   iommu::device_state_name(iommu::device_state(device.address)), owner,
                   unit != nullptr ? unit->name() : "-", bars);
    }
    return 0;
}

int HypervisorControl::iommu_status(ReportLines &lines, ControlReason &)
{
    iommu::poll_faults();
    lines.line("iommu units=%zu faults=%lu", iommu::unit_count(), iommu::fault_count());
    for (usize i = 0; i < iommu::unit_count(); i++) {
        const iommu::Unit &unit = iommu::unit(i);
        lines.line("unit name=%s kind=%s segment=%u registers=0x%lx translation=%s root=0x%lx levels=%u "
                   "table_frames=%lu fault_slots=%u",
                   unit.name(), iommu::kind_name(unit.kind()), unit.segment(), unit.register_base(),
                   unit.translating() ? "on" : "off", unit.root_table(), unit.table_levels(), unit.table_frames(),
                   unit.fault_slots());
    }
    iommu::Fault faults[iommu::RECENT_FAULTS];
    const usize count = iommu::recent_faults(faults, iommu::RECENT_FAULTS);
    for (usize i = 0; i < count; i++) {
        const iommu::Fault &fault = faults[i];
        lines.line("fault unit=%s device=%02x:%02x.%u access=%s address=0x%lx reason=0x%x time_ms=%lu", fault.unit,
                   fault.source >> 8, (fault.source >> 3) & 0x1f, fault.source & 7u, fault.read ? "read" : "write",
                   fault.address, fault.reason, fault.time_ns / 1000000);
    }
    return 0;
}

int HypervisorControl::pci_dma_probe(const DeviceAddress &device, bool write, ReportLines &lines, ControlReason &reason)
{
    if (const iommu::Assignment *assigned = iommu::find_assignment(to_pci(device))) {
        reason.set("%02x:%02x.%u is assigned to d%u: the probe would disturb the guest's own DMA", device.bus,
                   device.device, device.function, assigned->domain);
        return -BATON_EBUSY;
    }
    DmaProbeResult result;
    char why[CONTROL_REASON_MAX];
    if (int error = dma_probe(to_pci(device), write, result, why, sizeof(why)); error != 0) {
        reason.set("%s", why);
        return error;
    }
    lines.line("dma-probe device=%02x:%02x.%u direction=%s address=0x%lx bytes=%u completed=%s changed=%u "
               "new_faults=%lu elapsed_us=%lu",
               device.bus, device.device, device.function, result.write ? "write" : "read", result.address,
               result.bytes, result.completed ? "yes" : "no", result.bytes_changed,
               result.faults_after - result.faults_before, result.elapsed_us);
    return 0;
}

int HypervisorControl::assign_device(u32 id, const DeviceAddress &device, bool assign, ControlReason &reason)
{
    Domain *domain = domain_find(id);
    if (domain == nullptr) {
        reason.set("no domain %u", id);
        return -BATON_ENOENT;
    }
    char why[CONTROL_REASON_MAX];
    const int error = assign ? domain_assign_device(*domain, to_pci(device), why, sizeof(why))
                             : domain_deassign_device(*domain, to_pci(device), why, sizeof(why));
    if (error != 0)
        reason.set("%s", why);
    return error;
}
