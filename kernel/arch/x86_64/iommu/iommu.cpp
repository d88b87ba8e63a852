// SPDX-License-Identifier: MIT
// The IOMMU front: discovery from ACPI, blocking every device, fault polling and history.
#include "arch/x86_64/iommu/iommu.hpp"
#include "abi/errno.h"
#include "arch/x86_64/acpi/acpi.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/iommu/dmar.hpp"
#include "arch/x86_64/iommu/iommu_adopt.hpp"
#include "arch/x86_64/iommu/iommu_amdvi.hpp"
#include "arch/x86_64/iommu/iommu_assign.hpp"
#include "arch/x86_64/iommu/iommu_vtd.hpp"
#include "arch/x86_64/iommu/ivrs.hpp"
#include "boot/boot_info.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

namespace iommu {

namespace {

dmar::Info dmar_info;
VtdUnit vtd_units[dmar::MAX_UNITS];
ivrs::Info ivrs_info;
AmdViUnit amdvi_units[ivrs::MAX_UNITS];
Unit *units[MAX_UNITS];
usize units_found;

u64 faults_seen;
Fault recent[RECENT_FAULTS];
u64 last_poll_tick = ~u64{0};

void record_fault(const Fault &fault)
{
    recent[faults_seen % RECENT_FAULTS] = fault;
    faults_seen++;
    const pci::Address device{vtd::source_bus(fault.source), vtd::source_device(fault.source),
                              vtd::source_function(fault.source)};
    const pci::Device *known = pci::find(device);
    char identity[16] = "";
    if (known != nullptr)
        format(identity, sizeof(identity), " [%04x:%04x]", known->vendor, known->device_id);
    log_warn("iommu: DMA fault on %s: device %04x:%02x:%02x.%u%s %s at 0x%lx refused: %s (reason 0x%x)", fault.unit,
             fault.segment, device.bus, device.device, device.function, identity, fault.read ? "read" : "write",
             fault.address, fault.reason_text, fault.reason);
}

const u8 *rsdp_of(const BootInfo &boot_info, usize &size)
{
    if (boot_info.has_acpi_rsdp_v2) {
        size = ACPI_RSDP_V2_SIZE;
        return boot_info.acpi_rsdp_v2;
    }
    if (boot_info.has_acpi_rsdp_v1) {
        size = ACPI_RSDP_V1_SIZE;
        return boot_info.acpi_rsdp_v1;
    }
    size = 0;
    return nullptr;
}

void log_dmar(const acpi::Table &table)
{
    log_info("iommu: DMAR at 0x%lx (%u bytes): host address width %u, %s, %zu unit(s), %zu RMRR(s)", table.phys,
             table.length, dmar_info.host_address_width,
             (dmar_info.flags & dmar::FLAG_INTR_REMAP) != 0 ? "interrupt remapping" : "no interrupt remapping",
             dmar_info.unit_count, dmar_info.reserved_count);
    for (usize i = 0; i < dmar_info.unit_count; i++) {
        const dmar::RemappingUnit &unit = dmar_info.units[i];
        log_info("iommu: DRHD %zu: registers 0x%lx, segment %u%s, %zu device scope(s)%s", i, unit.register_base,
                 unit.segment, unit.include_pci_all() ? ", INCLUDE_PCI_ALL" : "", unit.scope_count,
                 unit.scopes_dropped != 0 ? " (some not kept)" : "");
        for (usize j = 0; j < unit.scope_count; j++) {
            const dmar::DeviceScope &scope = unit.scopes[j];
            log_debug("iommu:   scope %s id %u start bus %u, %u step(s), first %02x.%u",
                      dmar::scope_type_name(scope.type), scope.enumeration_id, scope.start_bus, scope.path_length,
                      scope.path[0].device, scope.path[0].function);
        }
    }
    for (usize i = 0; i < dmar_info.reserved_count; i++)
        log_warn("iommu: RMRR 0x%lx-0x%lx for %zu device(s): not mapped, those devices stay blocked too",
                 dmar_info.reserved[i].base, dmar_info.reserved[i].limit, dmar_info.reserved[i].scope_count);
}

void log_ivrs(const acpi::Table &table)
{
    log_info("iommu: IVRS at 0x%lx (%u bytes): IVinfo 0x%x, %zu IOMMU(s) from %s blocks (%zu of lower types not "
             "used), %zu IVMD(s)",
             table.phys, table.length, ivrs_info.iv_info, ivrs_info.unit_count,
             ivrs_info.unit_count != 0 ? ivrs::block_type_name(ivrs_info.units[0].type) : "no", ivrs_info.superseded,
             ivrs_info.memory_count);
    for (usize i = 0; i < ivrs_info.unit_count; i++) {
        const ivrs::Unit &unit = ivrs_info.units[i];
        log_info("iommu: IVHD %zu: registers 0x%lx, segment %u, IOMMU at %02x:%02x.%u, %zu device range(s)%s", i,
                 unit.register_base, unit.segment, unit.device_id >> 8, (unit.device_id >> 3) & 0x1f,
                 unit.device_id & 7, unit.range_count, unit.ranges_dropped != 0 ? " (some not kept)" : "");
        for (usize j = 0; j < unit.range_count; j++)
            log_debug("iommu:   devices 0x%04x-0x%04x%s", unit.ranges[j].first, unit.ranges[j].last,
                      unit.ranges[j].aliased ? " (aliased)" : "");
    }
    for (usize i = 0; i < ivrs_info.memory_count; i++)
        log_warn("iommu: IVMD 0x%lx+0x%lx for devices 0x%04x-0x%04x: not mapped, those devices stay blocked too",
                 ivrs_info.memory[i].start, ivrs_info.memory[i].length, ivrs_info.memory[i].first,
                 ivrs_info.memory[i].last);
}

// The record's description of the unit at `register_base`, if a live update handed it over.
const AdoptedUnit *adopted_unit(u64 register_base, Kind kind)
{
    const Handover *handover = pending_handover();
    for (usize i = 0; handover != nullptr && i < handover->unit_count; i++)
        if (handover->units[i].register_base == register_base && handover->units[i].kind == kind)
            return &handover->units[i];
    return nullptr;
}

// Keeps every unit `take(i)` (for i < count) took over; one that refused (nullptr, the
// reason in `why`) is logged and its devices stay unprotected.
template <typename Take>
void add_units(usize count, Take &&take, const char *why)
{
    for (usize i = 0; i < count && units_found < MAX_UNITS; i++) {
        if (Unit *unit = take(static_cast<unsigned>(i)))
            units[units_found++] = unit;
        else
            log_error("%s; its devices are not restricted", why);
    }
}

// Takes over the VT-d units of the DMAR `table`.
void init_vtd(const acpi::Table &table, char *why, usize why_capacity)
{
    if (dmar::parse(table.bytes, table.length, dmar_info, why, why_capacity) != 0) {
        log_error("%s; no IOMMU is used", why);
        return;
    }
    log_dmar(table);
    add_units(
        dmar_info.unit_count,
        [&](unsigned i) -> Unit * {
            const dmar::RemappingUnit &drhd = dmar_info.units[i];
            const AdoptedUnit *adopted = adopted_unit(drhd.register_base, Kind::vtd);
            return vtd_units[i].init(dmar_info, drhd, i, adopted, why, why_capacity) == 0 ? &vtd_units[i] : nullptr;
        },
        why);
}

// Takes over the AMD-Vi units of the IVRS `table`.
void init_amdvi(const acpi::Table &table, char *why, usize why_capacity)
{
    if (ivrs::parse(table.bytes, table.length, ivrs_info, why, why_capacity) != 0) {
        log_error("%s; no IOMMU is used", why);
        return;
    }
    log_ivrs(table);
    add_units(
        ivrs_info.unit_count,
        [&](unsigned i) -> Unit * {
            const ivrs::Unit &ivhd = ivrs_info.units[i];
            const AdoptedUnit *adopted = adopted_unit(ivhd.register_base, Kind::amd_vi);
            return amdvi_units[i].init(ivhd, i, adopted, why, why_capacity) == 0 ? &amdvi_units[i] : nullptr;
        },
        why);
}

// Whether a live update handed `device` over assigned (its context entry stays).
bool handed_over(pci::Address device)
{
    const Handover *handover = pending_handover();
    for (usize i = 0; handover != nullptr && i < handover->device_count; i++)
        if (handover->devices[i].device == device)
            return true;
    return false;
}

// Blocks every device found on bus 0 in the unit that covers it, except those a live
// update handed over assigned: their domains come back, and adopt_devices() takes them.
void block_all_devices()
{
    usize blocked = 0, unprotected = 0, kept = 0;
    for (usize i = 0; i < pci::device_count(); i++) {
        const pci::Address address = pci::device(i).address;
        Unit *unit = unit_for(address);
        if (unit == nullptr) {
            unprotected++;
            continue;
        }
        if (handed_over(address)) {
            kept++;
            continue;
        }
        if (int error = unit->block(address); error != 0)
            log_error("iommu: %s: cannot block %02x:%02x.%u (error %d)", unit->name(), address.bus, address.device,
                      address.function, error);
        else
            blocked++;
    }
    log_info(
        "iommu: %zu device(s) blocked from DMA, %zu not behind any unit, %zu still assigned from before the update",
        blocked, unprotected, kept);
}

} // namespace

const char *kind_name(Kind kind) { return kind == Kind::vtd ? "vtd" : "amd-vi"; }

const char *device_state_name(DeviceState state)
{
    switch (state) {
    case DeviceState::unprotected: return "unprotected";
    case DeviceState::blocked: return "blocked";
    case DeviceState::assigned: return "assigned";
    }
    return "unknown";
}

void init(const BootInfo &boot_info)
{
    units_found = 0;
    usize rsdp_size = 0;
    const u8 *rsdp = rsdp_of(boot_info, rsdp_size);
    if (rsdp == nullptr) {
        log_info("iommu: none (the loader passed no ACPI RSDP); device DMA is not restricted");
        return;
    }
    char why[160];
    acpi::Table table;
    acpi::RootInfo root;
    // Intel platforms describe their units in DMAR, AMD ones in IVRS; a machine has one.
    int found = acpi::find_table(rsdp, rsdp_size, "DMAR", paging::direct_map_end(), table, &root, why, sizeof(why));
    const bool intel = found == 0;
    if (found == -BATON_ENOENT)
        found = acpi::find_table(rsdp, rsdp_size, "IVRS", paging::direct_map_end(), table, &root, why, sizeof(why));
    if (found == -BATON_ENOENT) {
        log_info("iommu: none (no DMAR or IVRS table among the %u ACPI tables of %s); device DMA is not restricted",
                 root.entries, root.oem_id);
        return;
    }
    if (found != 0) {
        log_error("%s; no IOMMU is used", why);
        return;
    }
    if (intel)
        init_vtd(table, why, sizeof(why));
    else
        init_amdvi(table, why, sizeof(why));
    block_all_devices();
    if (units_found != 0)
        register_assigner();
    poll_faults(); // faults left from firmware or a previous image
}

void poll_faults()
{
    for (usize i = 0; i < units_found; i++)
        units[i]->drain_faults(record_fault);
}

void poll_faults_each_tick()
{
    const u64 tick = timer::ticks();
    if (tick == last_poll_tick)
        return;
    last_poll_tick = tick;
    poll_faults();
}

usize unit_count() { return units_found; }
Unit &unit(usize index) { return *units[index]; }

Unit *unit_for(pci::Address device)
{
    for (usize i = 0; i < units_found; i++)
        if (units[i]->covers(device))
            return units[i];
    return nullptr;
}

DeviceState device_state(pci::Address device)
{
    if (find_assignment(device) != nullptr)
        return DeviceState::assigned;
    return unit_for(device) != nullptr ? DeviceState::blocked : DeviceState::unprotected;
}

u64 fault_count() { return faults_seen; }

usize recent_faults(Fault *out, usize capacity)
{
    const u64 kept = faults_seen < RECENT_FAULTS ? faults_seen : RECENT_FAULTS;
    const u64 first = faults_seen - kept;
    usize copied = 0;
    for (u64 n = first; n < faults_seen && copied < capacity; n++)
        out[copied++] = recent[n % RECENT_FAULTS];
    return copied;
}

} // namespace iommu
