// SPDX-License-Identifier: MIT
// Adopting the IOMMU state an earlier image handed over: checking it, then taking it over.
#include "arch/x86_64/iommu/iommu_adopt.hpp"
#include "arch/x86_64/iommu/amdvi_format.hpp"
#include "arch/x86_64/iommu/iommu_assign.hpp"
#include "arch/x86_64/iommu/vtd_walk.hpp"
#include "dom/domain.hpp"
#include "lib/log.hpp"
#include "mm/frames.hpp"
#include "update/iommu_record.hpp"

namespace schema = handover::schema;

namespace iommu {

namespace {

Handover *pending;

void log_device(const char *what, const AdoptedDevice &device)
{
    log_warn("iommu: %02x:%02x.%u of d%u: %s; it is blocked", device.device.bus, device.device.device,
             device.device.function, device.domain, what);
}

void block(const AdoptedDevice &device)
{
    if (Unit *unit = unit_for(device.device))
        unit->block(device.device);
}

// The unit's own frames, checked: VT-d's root and context tables (walked), AMD-Vi's device
// table and rings (named in the record). False when they do not check out.
bool read_unit(schema::IommuUnit::Reader unit, AdoptedUnit &adopted)
{
    auto hypervisor_table = [](u64 phys) {
        return vtd::preserved_table_frame(frame_allocator().table(), phys, OWNER_HYPERVISOR);
    };
    if (adopted.kind == Kind::vtd) {
        adopted.table_frames = 1;
        return vtd::for_each_context_table(adopted.root, hypervisor_table, [&](u8, u64) { adopted.table_frames++; });
    }
    if (unit.root_table().frame_count() != amdvi::DEVICE_TABLE_PAGES)
        return false;
    for (unsigned i = 0; i < amdvi::DEVICE_TABLE_PAGES; i++)
        if (!hypervisor_table(adopted.root + i * PAGE_SIZE))
            return false;
    auto frames = unit.table_frames();
    for (u32 i = 0; i < frames.size(); i++) {
        const u64 phys = frame_to_addr(frames[i].first_frame());
        if (frames[i].kind() == schema::IommuFrameKind::command_buffer && frames[i].frame_count() == 1)
            adopted.command_buffer = phys;
        else if (frames[i].kind() == schema::IommuFrameKind::event_log && frames[i].frame_count() == 1)
            adopted.event_log = phys;
    }
    adopted.table_frames = amdvi::DEVICE_TABLE_PAGES + 2;
    return adopted.command_buffer != 0 && adopted.event_log != 0 && hypervisor_table(adopted.command_buffer) &&
           hypervisor_table(adopted.event_log);
}

} // namespace

void read_handover(schema::Handover::Reader record, Handover &out)
{
    out = Handover{};
    auto units = record.iommu();
    for (u32 i = 0; i < units.size(); i++) {
        auto unit = units[i];
        if (!unit.translation_enabled() || out.unit_count == MAX_UNITS)
            continue;
        const Kind kind = unit.kind() == schema::IommuKind::vtd ? Kind::vtd : Kind::amd_vi;
        AdoptedUnit adopted;
        adopted.kind = kind;
        adopted.register_base = unit.register_base();
        adopted.root = frame_to_addr(unit.root_table().first_frame());
        if (!read_unit(unit, adopted)) {
            log_warn("iommu: the record's unit at 0x%lx names tables that are not its preserved frames; its devices "
                     "are blocked",
                     adopted.register_base);
            continue;
        }
        out.units[out.unit_count++] = adopted;
        const vtd::TableFormat format = kind == Kind::vtd ? vtd::TableFormat::vtd : vtd::TableFormat::amd_vi;
        auto devices = unit.devices();
        for (u32 d = 0; d < devices.size() && out.device_count < sizeof(out.devices) / sizeof(out.devices[0]); d++) {
            const u16 id = devices[d].requester_id();
            AdoptedDevice device{{vtd::source_bus(id), vtd::source_device(id), vtd::source_function(id)},
                                 static_cast<u16>(devices[d].domain_id()),
                                 adopted.register_base,
                                 frame_to_addr(devices[d].page_table_root()),
                                 devices[d].page_table_levels(),
                                 0,
                                 kind};
            auto domain_table = [&](u64 phys) {
                return vtd::preserved_table_frame(frame_allocator().table(), phys, device.domain);
            };
            if (!vtd::for_each_io_table(
                    device.table_root, device.levels, domain_table, [&](u64) { device.table_frames++; }, format)) {
                log_device("the record's IO page table is not the domain's preserved frames", device);
                continue; // not handed over: init() blocks it
            }
            out.devices[out.device_count++] = device;
        }
    }
}

const Handover *pending_handover() { return pending; }
void set_pending_handover(Handover *handover) { pending = handover; }

void block_handover_devices(u16 domain)
{
    if (pending == nullptr)
        return;
    Handover &handover = *pending;
    for (usize i = 0; i < handover.device_count;) {
        if (handover.devices[i].domain != domain) {
            i++;
            continue;
        }
        log_device("its domain is not restored", handover.devices[i]);
        block(handover.devices[i]);
        handover.devices[i] = handover.devices[--handover.device_count];
    }
}

void adopt_devices()
{
    if (pending == nullptr)
        return;
    for (usize i = 0; i < pending->device_count; i++) {
        const AdoptedDevice &device = pending->devices[i];
        Domain *domain = domain_find(device.domain);
        Unit *unit = unit_for(device.device);
        u16 domain_id = 0;
        u64 root = 0;
        unsigned levels = 0;
        if (domain == nullptr) {
            log_device("its domain is not restored", device);
        } else if (unit == nullptr || unit->register_base() != device.register_base ||
                   !unit->context_of(device.device, domain_id, root, levels) || root != device.table_root ||
                   levels != device.levels || domain_id != device.domain) {
            log_device("the unit's context entry is not what the record says", device);
        } else {
            char why[160];
            if (adopt_assignment(*domain, device.device, *unit, device.table_root, device.levels, device.table_frames,
                                 why, sizeof(why)) == 0)
                continue;
            log_device(why, device);
        }
        block(device);
    }
    pending = nullptr;
}

} // namespace iommu

void arch_iommu_adopt_devices() { iommu::adopt_devices(); }
void arch_iommu_domain_not_restored(u32 domain) { iommu::block_handover_devices(static_cast<u16>(domain)); }
