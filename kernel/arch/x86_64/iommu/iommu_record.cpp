// SPDX-License-Identifier: MIT
// Writing the IOMMU units into the handover record: root tables, devices, table frames.
// The same for both kinds: VT-d's root table or AMD-Vi's device table, and the rest.
#include "update/iommu_record.hpp"
#include "arch/x86_64/iommu/iommu_assign.hpp"
#include "arch/x86_64/iommu/vtd_walk.hpp"
#include "lib/format.hpp"
#include "mm/frames.hpp"

namespace schema = handover::schema;

namespace {

struct DeviceLine {
    u16 requester_id;
    u32 domain;
    u64 table_root;
    unsigned levels;
};
// The record's device list is sized in 32 bits; a unit holds far fewer.
static_assert(iommu::MAX_ASSIGNED <= 0xffffffffu);

// The devices assigned through `unit`, sorted by requester id (the record's order).
usize devices_of(const iommu::Unit &unit, DeviceLine (&lines)[iommu::MAX_ASSIGNED])
{
    usize count = 0;
    for (usize i = 0; i < iommu::assignment_count(); i++) {
        const iommu::Assignment &assignment = iommu::assignment(i);
        u16 domain_id = 0;
        u64 root = 0;
        unsigned levels = 0;
        if (assignment.unit != &unit || !unit.context_of(assignment.device, domain_id, root, levels))
            continue;
        DeviceLine line{assignment.device.requester_id(), assignment.domain, root, levels};
        usize at = count++;
        for (; at > 0 && lines[at - 1].requester_id > line.requester_id; at--)
            lines[at] = lines[at - 1];
        lines[at] = line;
    }
    return count;
}

constexpr schema::IommuFrameKind frame_kind(iommu::TableRole role)
{
    switch (role) {
    case iommu::TableRole::context_table: return schema::IommuFrameKind::context_table;
    case iommu::TableRole::command_buffer: return schema::IommuFrameKind::command_buffer;
    case iommu::TableRole::event_log: return schema::IommuFrameKind::event_log;
    }
    return schema::IommuFrameKind::context_table;
}

// Calls visit(kind, domain, phys) for every table frame the unit reads besides its root
// table: its own (VT-d context tables, AMD-Vi rings), then each assigned domain's IO page
// tables (once per domain). False when a table is not a preserved table frame of its owner.
template <typename Visit>
bool for_each_table_frame(const iommu::Unit &unit, const DeviceLine *devices, usize count, Visit &&visit)
{
    struct Relay {
        Visit *visit;
    } relay{&visit};
    auto relay_frame = [](void *context, iommu::TableRole role, u64 phys) {
        (*static_cast<Relay *>(context)->visit)(frame_kind(role), schema::NO_DOMAIN, phys);
    };
    if (!unit.for_each_unit_frame(relay_frame, &relay))
        return false;
    const vtd::TableFormat format = unit.kind() == iommu::Kind::vtd ? vtd::TableFormat::vtd : vtd::TableFormat::amd_vi;
    for (usize i = 0; i < count; i++) {
        bool seen = false;
        for (usize j = 0; j < i; j++)
            seen |= devices[j].table_root == devices[i].table_root;
        if (seen)
            continue; // devices of one domain share its table
        const u32 domain = devices[i].domain;
        auto domain_table = [&](u64 phys) {
            return vtd::preserved_table_frame(frame_allocator().table(), phys, static_cast<frame_owner_t>(domain));
        };
        if (!vtd::for_each_io_table(
                devices[i].table_root, devices[i].levels, domain_table,
                [&](u64 phys) { visit(schema::IommuFrameKind::page_table, domain, phys); }, format))
            return false;
    }
    return true;
}

} // namespace

u64 arch_iommu_record_bound()
{
    u64 bytes = 0;
    for (usize i = 0; i < iommu::unit_count(); i++)
        bytes += 256 + 32 * iommu::MAX_ASSIGNED + 40 * iommu::unit(i).table_frames();
    for (usize i = 0; i < iommu::assignment_count(); i++) {
        if (const vtd::IoPageTable *table = iommu::domain_io_table(iommu::assignment(i).domain))
            bytes += 40 * table->table_frames();
    }
    return bytes;
}

bool arch_iommu_write_record(schema::Handover::Builder record, char *why, usize why_capacity)
{
    usize translating = 0;
    for (usize i = 0; i < iommu::unit_count(); i++)
        translating += iommu::unit(i).translating() ? 1u : 0u;
    auto units = record.init_iommu(static_cast<u32>(translating));
    u32 index = 0;
    for (usize i = 0; i < iommu::unit_count(); i++) {
        const iommu::Unit &unit = iommu::unit(i);
        if (!unit.translating())
            continue;
        auto out = units[index++];
        out.set_kind(unit.kind() == iommu::Kind::vtd ? schema::IommuKind::vtd : schema::IommuKind::amd_vi);
        out.set_segment(unit.segment());
        out.set_register_base(unit.register_base());
        auto root = out.init_root_table();
        root.set_first_frame(addr_to_frame(unit.root_table()));
        root.set_frame_count(unit.root_table_frames());
        out.set_translation_enabled(true);

        DeviceLine devices[iommu::MAX_ASSIGNED];
        const usize device_count = devices_of(unit, devices);
        auto device_list = out.init_devices(static_cast<u32>(device_count));
        for (u32 d = 0; d < device_count; d++) {
            device_list[d].set_requester_id(devices[d].requester_id);
            device_list[d].set_domain_id(devices[d].domain);
            device_list[d].set_page_table_root(addr_to_frame(devices[d].table_root));
            device_list[d].set_page_table_levels(static_cast<u8>(devices[d].levels));
        }

        u32 frame_count = 0;
        if (!for_each_table_frame(unit, devices, device_count,
                                  [&](schema::IommuFrameKind, u32, u64) { frame_count++; })) {
            format(why, why_capacity, "IOMMU unit at 0x%lx reads a table that is not a preserved table frame",
                   unit.register_base());
            return false;
        }
        auto frames = out.init_table_frames(frame_count);
        u32 frame_index = 0;
        // The same walk as the count above, over the same unchanged tables: it succeeds.
        (void)for_each_table_frame(unit, devices, device_count, [&](schema::IommuFrameKind kind, u32 domain, u64 phys) {
            frames[frame_index].set_kind(kind);
            frames[frame_index].set_domain_id(domain);
            frames[frame_index].set_first_frame(addr_to_frame(phys));
            frames[frame_index++].set_frame_count(1);
        });
    }
    return true;
}
