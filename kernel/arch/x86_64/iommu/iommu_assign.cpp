// SPDX-License-Identifier: MIT
// Device assignment: checks, the domain's IO page table, context entries, BARs, release.
#include "arch/x86_64/iommu/iommu_assign.hpp"
#include "abi/errno.h"
#include "dom/device_assign.hpp"
#include "dom/domain.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

namespace iommu {

namespace {

// The IOMMU side of one domain: its IO page table (the p2m's IO listener) and the units
// its devices sit behind, which all read that one table and are invalidated together.
class DomainIo final : public vtd::IoInvalidator {
public:
    void invalidate(u64 io_frame, u64 count) override;
    void block_devices() override;

    u16 domain = 0;
    u32 unit_mask = 0; // bit n: unit(n) holds a context entry pointing at the table
    vtd::IoMapper mapper;
};

DomainIo domain_io[MAX_DOMAINS];
Assignment assigned[MAX_ASSIGNED];
usize assigned_count;

constexpr u16 GUEST_COMMAND_BITS = pci::COMMAND_MEMORY | pci::COMMAND_BUS_MASTER;

// The IO page-table format the units of `kind` walk.
constexpr vtd::TableFormat format_of(Kind kind)
{
    return kind == Kind::vtd ? vtd::TableFormat::vtd : vtd::TableFormat::amd_vi;
}

unsigned unit_index(const Unit *which)
{
    for (usize i = 0; i < unit_count(); i++)
        if (&unit(i) == which)
            return static_cast<unsigned>(i);
    return 0;
}

void DomainIo::invalidate(u64 io_frame, u64 count)
{
    for (usize i = 0; i < unit_count(); i++) {
        if ((unit_mask >> i & 1) == 0)
            continue;
        if (int error = unit(i).invalidate(domain, io_frame, count); error != 0)
            log_error("iommu: %s: IOTLB invalidation for domain %u failed (%d)", unit(i).name(), domain, error);
    }
}

// A page-aligned memory BAR of at least a page, which the guest may see at its own address.
bool mappable(const pci::Bar &bar)
{
    return !bar.io && bar.size >= PAGE_SIZE && bar.base != 0 && is_aligned(bar.base, PAGE_SIZE);
}

void unmap_bars(Domain &domain, const pci::Device &device)
{
    for (unsigned i = 0; i < device.bar_slots; i++)
        if (mappable(device.bars[i]) &&
            domain.p2m.unmap(device.bars[i].base >> PAGE_SHIFT, device.bars[i].size >> PAGE_SHIFT) != 0)
            // mmio over populated RAM is refused when mapping, so the span holds no RAM to
            // refuse over; reaching here is a broken p2m, and the device is blocked anyway.
            log_error("iommu: d%u: BAR%u of %02x:%02x.%u stays mapped", domain.id, i, device.address.bus,
                      device.address.device, device.address.function);
}

int map_bars(Domain &domain, const pci::Device &device, char *why, usize why_capacity)
{
    for (unsigned i = 0; i < device.bar_slots; i++) {
        const pci::Bar &bar = device.bars[i];
        if (bar.size == 0)
            continue;
        if (!mappable(bar)) {
            log_warn("iommu: %02x:%02x.%u BAR%u (%s 0x%lx+0x%lx) is not given to the guest: not a whole page of "
                     "memory",
                     device.address.bus, device.address.device, device.address.function, i, bar.io ? "io" : "mem",
                     bar.base, bar.size);
            continue;
        }
        const u64 gfn = bar.base >> PAGE_SHIFT;
        if (int error = domain.p2m.map(gfn, gfn, bar.size >> PAGE_SHIFT, P2mType::mmio, P2mAccess::rw)) {
            unmap_bars(domain, device);
            return format_refusal(why, why_capacity, -error, "BAR%u 0x%lx+0x%lx cannot be mapped into d%u (%d)", i,
                                  bar.base, bar.size, domain.id, error);
        }
    }
    return 0;
}

// Blocks the device (context entry gone, caches invalidated), gives the command register
// back and forgets the assignment. The p2m is left alone: the caller unmaps the BARs if
// the domain lives on.
void release(usize index)
{
    Assignment &a = assigned[index];
    if (int error = a.unit->block(a.device); error != 0)
        log_error("iommu: %s: cannot block %02x:%02x.%u again (%d)", a.unit->name(), a.device.bus, a.device.device,
                  a.device.function, error);
    pci::write16(a.device, pci::CONFIG_COMMAND, a.host_command);
    log_info("iommu: %02x:%02x.%u taken from d%u and blocked again", a.device.bus, a.device.device, a.device.function,
             a.domain);
    assigned[index] = assigned[--assigned_count];
    assigned[assigned_count] = {};
}

// The p2m is being destroyed (its lock is held: no p2m calls here).
void DomainIo::block_devices()
{
    for (usize i = assigned_count; i > 0; i--)
        if (assigned[i - 1].domain == domain)
            release(i - 1);
    unit_mask = 0;
}

// The domain's IO state before its first device: `io.mapper` is made (built or adopted)
// next, then follow_p2m() ties it to the p2m.
DomainIo &fresh_io(const Domain &domain)
{
    DomainIo &io = domain_io[domain.id - 1];
    io.domain = domain.id;
    io.unit_mask = 0;
    return io;
}

int follow_p2m(Domain &domain, DomainIo &io, P2m::IoLeaves leaves, char *why, usize why_capacity)
{
    if (int error = domain.p2m.attach_io(io.mapper, leaves)) {
        io.mapper.destroy();
        return format_refusal(why, why_capacity, -error, "d%u's IO page table cannot follow its p2m (%d)", domain.id,
                              error);
    }
    return 0;
}

// `unit` now holds a context entry pointing at the domain's table for `address`.
Assignment &add_assignment(DomainIo &io, pci::Address address, Unit &unit, u16 host_command, u16 guest_command)
{
    io.unit_mask |= 1u << unit_index(&unit);
    Assignment &a = assigned[assigned_count++];
    a = {};
    a.device = address;
    a.domain = io.domain;
    a.unit = &unit;
    a.host_command = host_command;
    a.guest_command = guest_command;
    return a;
}

bool domain_has_devices(u16 domain)
{
    for (usize i = 0; i < assigned_count; i++)
        if (assigned[i].domain == domain)
            return true;
    return false;
}

int assign_device(Domain &domain, pci::Address address, char *why, usize why_capacity)
{
    const pci::Device *device = pci::find(address);
    if (device == nullptr)
        return format_refusal(why, why_capacity, BATON_ENOENT, "no device %02x:%02x.%u on bus 0", address.bus,
                              address.device, address.function);
    if ((device->header_type & 0x7f) != 0 || (device->class_code >> 16) == 0x06)
        return format_refusal(why, why_capacity, BATON_EINVAL, "%02x:%02x.%u is a bridge; only devices are assigned",
                              address.bus, address.device, address.function);
    Unit *unit = unit_for(address);
    if (unit == nullptr)
        return format_refusal(why, why_capacity, BATON_EPERM,
                              "%02x:%02x.%u is behind no IOMMU unit: its DMA could reach any memory", address.bus,
                              address.device, address.function);
    if (const Assignment *taken = find_assignment(address))
        return format_refusal(why, why_capacity, BATON_EBUSY, "%02x:%02x.%u is already assigned to d%u", address.bus,
                              address.device, address.function, taken->domain);
    if (assigned_count == MAX_ASSIGNED)
        return format_refusal(why, why_capacity, BATON_ENOSPC, "%zu devices are assigned already", MAX_ASSIGNED);
    if (domain.id >= unit->domain_ids())
        return format_refusal(why, why_capacity, BATON_ENOSPC, "%s has no domain id %u", unit->name(), domain.id);
    if (domain.p2m.log_dirty_enabled())
        return format_refusal(why, why_capacity, BATON_EBUSY,
                              "d%u has log-dirty on: DMA writes would bypass the dirty bitmap", domain.id);

    DomainIo &io = domain_io[domain.id - 1];
    const bool first = !io.mapper.ready();
    if (first) {
        fresh_io(domain);
        if (int error =
                io.mapper.init(&frame_allocator(), domain.id, unit->table_levels(), &io, format_of(unit->kind())))
            return format_refusal(why, why_capacity, -error, "no preserved frame for d%u's IO page table", domain.id);
        if (int error = follow_p2m(domain, io, P2m::IoLeaves::rewrite, why, why_capacity))
            return error;
    } else if (io.mapper.table().levels() != unit->table_levels() ||
               io.mapper.table().format() != format_of(unit->kind())) {
        return format_refusal(why, why_capacity, BATON_EINVAL, "%s uses %u-level %s tables, d%u's IO table has %u",
                              unit->name(), unit->table_levels(), kind_name(unit->kind()), domain.id,
                              io.mapper.table().levels());
    }
    auto undo_table = [&] {
        if (first) {
            domain.p2m.detach_io();
            io.mapper.destroy();
        }
    };
    if (int error = map_bars(domain, *device, why, why_capacity)) {
        undo_table();
        return error;
    }
    const vtd::IoPageTable &table = io.mapper.table();
    if (int error = unit->attach(address, table.root(), table.levels(), domain.id)) {
        unmap_bars(domain, *device);
        undo_table();
        return format_refusal(why, why_capacity, -error, "%s refused the context entry (%d)", unit->name(), error);
    }
    const u16 host_command = pci::read16(address, pci::CONFIG_COMMAND);
    add_assignment(io, address, *unit, host_command, 0);
    // The guest starts with the device quiet; it sets Memory and Bus Master itself.
    pci::write16(address, pci::CONFIG_COMMAND, host_command & static_cast<u16>(~GUEST_COMMAND_BITS));
    log_info("iommu: %02x:%02x.%u [%04x:%04x] assigned to d%u: domain id %u on %s, IO page table 0x%lx (%u levels, "
             "%lu frames, %lu pages mapped)",
             address.bus, address.device, address.function, device->vendor, device->device_id, domain.id, domain.id,
             unit->name(), table.root(), table.levels(), table.table_frames(), table.mapped_frames());
    return 0;
}

} // namespace

int adopt_assignment(Domain &domain, pci::Address address, Unit &unit, u64 table_root, unsigned levels,
                     u64 table_frames, char *why, usize why_capacity)
{
    if (assigned_count == MAX_ASSIGNED || find_assignment(address) != nullptr)
        return format_refusal(why, why_capacity, BATON_EBUSY, "%02x:%02x.%u cannot be taken over twice", address.bus,
                              address.device, address.function);
    DomainIo &io = domain_io[domain.id - 1];
    if (!io.mapper.ready()) {
        fresh_io(domain);
        if (int error = io.mapper.adopt(&frame_allocator(), domain.id, levels, table_root, table_frames, &io,
                                        format_of(unit.kind())))
            return format_refusal(why, why_capacity, -error, "d%u's IO page table cannot be adopted (%d)", domain.id,
                                  error);
        // The previous image kept the table in step with the ranges the p2m was restored
        // from: nothing to rewrite. From now on it follows the p2m as if built here.
        if (int error = follow_p2m(domain, io, P2m::IoLeaves::current, why, why_capacity))
            return error;
    } else if (io.mapper.table().root() != table_root) {
        return format_refusal(why, why_capacity, BATON_EINVAL, "d%u's devices use two IO tables", domain.id);
    }
    // Known in full before its guest runs again: sized later, its decoding would go off
    // under the guest's feet.
    (void)pci::size_bars(address);
    // The command register holds what the guest set (Memory, Bus Master) over the rest.
    const u16 command = pci::read16(address, pci::CONFIG_COMMAND);
    add_assignment(io, address, unit, command & static_cast<u16>(~GUEST_COMMAND_BITS), command & GUEST_COMMAND_BITS);
    log_info("iommu: %02x:%02x.%u stays assigned to d%u across the update: IO page table 0x%lx adopted (%u levels, "
             "%lu frames, %lu pages mapped)",
             address.bus, address.device, address.function, domain.id, table_root, levels, table_frames,
             io.mapper.table().mapped_frames());
    return 0;
}

namespace {

int deassign_device(Domain &domain, pci::Address address, char *why, usize why_capacity)
{
    usize index = 0;
    while (index < assigned_count && !(assigned[index].device == address && assigned[index].domain == domain.id))
        index++;
    if (index == assigned_count)
        return format_refusal(why, why_capacity, BATON_ENOENT, "%02x:%02x.%u is not assigned to d%u", address.bus,
                              address.device, address.function, domain.id);
    release(index); // blocked first: nothing below can be reached by its DMA any more
    if (const pci::Device *device = pci::find(address))
        unmap_bars(domain, *device);
    if (!domain_has_devices(domain.id)) {
        DomainIo &io = domain_io[domain.id - 1];
        domain.p2m.detach_io();
        io.mapper.destroy();
        io.unit_mask = 0;
    }
    return 0;
}

class IommuAssigner final : public DeviceAssigner {
public:
    int assign(Domain &domain, pci::Address device, char *why, usize why_capacity) override
    {
        return assign_device(domain, device, why, why_capacity);
    }
    int deassign(Domain &domain, pci::Address device, char *why, usize why_capacity) override
    {
        return deassign_device(domain, device, why, why_capacity);
    }
};

IommuAssigner assigner;

} // namespace

void register_assigner() { set_device_assigner(&assigner); }

usize assignment_count() { return assigned_count; }
Assignment &assignment(usize index) { return assigned[index]; }

Assignment *find_assignment(pci::Address device)
{
    for (usize i = 0; i < assigned_count; i++)
        if (assigned[i].device == device)
            return &assigned[i];
    return nullptr;
}

const vtd::IoPageTable *domain_io_table(u16 domain)
{
    if (domain < 1 || domain > MAX_DOMAINS || !domain_io[domain - 1].mapper.ready())
        return nullptr;
    return &domain_io[domain - 1].mapper.table();
}

} // namespace iommu
