// SPDX-License-Identifier: MIT
// Intel VT-d tables: root and context tables, second-level IO page tables, fault reasons.
#include "arch/x86_64/iommu/vtd_format.hpp"
#include "abi/errno.h"

namespace vtd {

namespace {

u64 *words(u64 table_phys) { return phys_to<u64>(table_phys); }
// The unit may read any entry at any time: no torn or reordered stores.
u64 load(const u64 *at) { return __atomic_load_n(at, __ATOMIC_ACQUIRE); }
void store(u64 *at, u64 value) { __atomic_store_n(at, value, __ATOMIC_RELEASE); }

// IO frames one entry at `level` spans.
constexpr u64 frames_per_entry(unsigned level) { return u64{1} << (9 * (level - 1)); }

} // namespace

const char *fault_reason_text(u8 reason)
{
    switch (reason) {
    case 0x1: return "root entry not present";
    case 0x2: return "context entry not present";
    case 0x3: return "invalid context entry";
    case 0x4: return "address beyond the address width";
    case 0x5: return "write to a read-only or unmapped page";
    case 0x6: return "read of a write-only or unmapped page";
    case 0x7: return "page-table entry address out of range";
    case 0x8: return "root table address out of range";
    case 0x9: return "context table address out of range";
    case 0xa: return "reserved bit set in a root entry";
    case 0xb: return "reserved bit set in a context entry";
    case 0xc: return "reserved bit set in a page-table entry";
    case 0xd: return "translation type blocked by the context entry";
    default: return "unknown reason";
    }
}

u64 TableFrames::alloc()
{
    const u64 phys = frames_->alloc_frames(0, MemClass::preserved, owner_, FrameType::page_table);
    if (phys == 0)
        return 0;
    __builtin_memset(phys_to_virt(phys), 0, PAGE_SIZE);
    count_++;
    return phys;
}

void TableFrames::free(u64 phys)
{
    frames_->free_frames(phys, 0);
    count_--;
}

// ---- root and context tables ---------------------------------------------------------

int ContextTables::init(FrameAllocator *frames)
{
    if (root_ != 0)
        return -BATON_EBUSY;
    frames_ = TableFrames(frames, OWNER_HYPERVISOR);
    root_ = frames_.alloc();
    return root_ != 0 ? 0 : -BATON_ENOMEM;
}

int ContextTables::adopt(FrameAllocator *frames, u64 root, u64 frame_count)
{
    if (root_ != 0)
        return -BATON_EBUSY;
    frames_ = TableFrames(frames, OWNER_HYPERVISOR);
    frames_.adopt(frame_count);
    root_ = root;
    return 0;
}

u64 ContextTables::context_table(u8 bus) const
{
    if (root_ == 0)
        return 0;
    const u64 low = load(&words(root_)[2 * usize{bus}]);
    return (low & ENTRY_PRESENT) != 0 ? low & ENTRY_ADDRESS_MASK : 0;
}

bool ContextTables::has_bus(u8 bus) const { return context_table(bus) != 0; }

int ContextTables::add_bus(u8 bus)
{
    if (root_ == 0)
        return -BATON_EINVAL;
    if (has_bus(bus))
        return 0;
    const u64 table = frames_.alloc();
    if (table == 0)
        return -BATON_ENOMEM;
    const Entry128 entry = root_entry(table);
    u64 *slot = &words(root_)[2 * usize{bus}];
    store(&slot[1], entry.high);
    store(&slot[0], entry.low);
    return 0;
}

int ContextTables::set_context(u8 bus, u8 devfn, const Entry128 &entry)
{
    const u64 table = context_table(bus);
    if (table == 0)
        return -BATON_ENOENT;
    u64 *slot = &words(table)[2 * usize{devfn}];
    if (entry_present(entry)) {
        store(&slot[0], 0); // a present entry being replaced goes away first
        store(&slot[1], entry.high);
        store(&slot[0], entry.low);
    } else {
        store(&slot[0], entry.low);
        store(&slot[1], entry.high);
    }
    return 0;
}

Entry128 ContextTables::context(u8 bus, u8 devfn) const
{
    const u64 table = context_table(bus);
    if (table == 0)
        return {};
    const u64 *slot = &words(table)[2 * usize{devfn}];
    return {load(&slot[0]), load(&slot[1])};
}

void ContextTables::destroy()
{
    if (root_ == 0)
        return;
    for (unsigned bus = 0; bus < ROOT_ENTRIES; bus++)
        if (const u64 table = context_table(static_cast<u8>(bus)); table != 0)
            frames_.free(table);
    frames_.free(root_);
    root_ = 0;
}

// ---- IO page tables (either format) -----------------------------------------------------

int IoPageTable::init(FrameAllocator *frames, frame_owner_t owner, unsigned levels, TableFormat format)
{
    if (levels != 3 && levels != 4)
        return -BATON_EINVAL;
    if (root_ != 0)
        return -BATON_EBUSY;
    frames_ = TableFrames(frames, owner);
    levels_ = levels;
    format_ = format;
    root_ = frames_.alloc();
    return root_ != 0 ? 0 : -BATON_ENOMEM;
}

int IoPageTable::adopt(FrameAllocator *frames, frame_owner_t owner, unsigned levels, u64 root, u64 frame_count,
                       TableFormat format)
{
    if (levels != 3 && levels != 4)
        return -BATON_EINVAL;
    if (root_ != 0)
        return -BATON_EBUSY;
    frames_ = TableFrames(frames, owner);
    frames_.adopt(frame_count);
    levels_ = levels;
    format_ = format;
    root_ = root;
    return 0;
}

u64 *IoPageTable::leaf_slot(u64 io_frame, bool create)
{
    u64 table = root_;
    for (unsigned level = levels_; level > 1; level--) {
        u64 *entry = &words(table)[io_pte::index(io_frame, level)];
        const u64 value = load(entry);
        if (io_pte::present(format_, value)) {
            table = io_pte::address(value);
            continue;
        }
        if (!create)
            return nullptr;
        const u64 fresh = frames_.alloc();
        if (fresh == 0)
            return nullptr;
        store(entry, io_pte::table_entry(format_, fresh, level)); // empty: safe to link at once
        table = fresh;
    }
    return &words(table)[io_pte::index(io_frame, 1)];
}

int IoPageTable::map(u64 io_frame, u64 machine_frame, u64 count, Access access)
{
    u64 io_end, machine_end;
    if (root_ == 0 || add_overflows(io_frame, count, &io_end) || io_end > frame_limit() ||
        add_overflows(machine_frame, count, &machine_end) || machine_end > (SL_ADDRESS_MASK >> PAGE_SHIFT) + 1)
        return -BATON_EINVAL;
    for (u64 i = 0; i < count; i++) {
        u64 *slot = leaf_slot(io_frame + i, true);
        if (slot == nullptr)
            return -BATON_ENOMEM;
        store(slot, io_pte::leaf_entry(format_, frame_to_addr(machine_frame + i), access));
    }
    return 0;
}

int IoPageTable::prepare(u64 io_frame, u64 count)
{
    if (root_ == 0)
        return -BATON_EINVAL;
    u64 end;
    if (add_overflows(io_frame, count, &end) || end > frame_limit())
        end = frame_limit();
    // One leaf per leaf table is enough: leaf_slot() makes the whole path to it.
    for (u64 frame = io_frame; frame < end; frame = (frame | (SL_ENTRIES - 1)) + 1)
        if (leaf_slot(frame, true) == nullptr)
            return -BATON_ENOMEM;
    return 0;
}

void IoPageTable::unmap(u64 io_frame, u64 count)
{
    if (root_ == 0)
        return;
    u64 end;
    if (add_overflows(io_frame, count, &end) || end > frame_limit())
        end = frame_limit();
    for (u64 frame = io_frame; frame < end;) {
        u64 table = root_;
        unsigned level = levels_;
        for (; level > 1; level--) {
            const u64 value = load(&words(table)[io_pte::index(frame, level)]);
            if (!io_pte::present(format_, value))
                break;
            table = io_pte::address(value);
        }
        if (level > 1) {
            frame = (frame | (frames_per_entry(level) - 1)) + 1; // nothing below: skip the entry's span
            continue;
        }
        store(&words(table)[io_pte::index(frame, 1)], 0);
        frame++;
    }
}

Translation IoPageTable::translate(u64 io_address) const
{
    const u64 io_frame = io_address >> PAGE_SHIFT;
    if (root_ == 0 || io_frame >= frame_limit())
        return {};
    Access access{true, true};
    u64 table = root_;
    for (unsigned level = levels_; level >= 1; level--) {
        const u64 value = load(&words(table)[io_pte::index(io_frame, level)]);
        const Access here = io_pte::rights(format_, value);
        access.read &= here.read;
        access.write &= here.write;
        if (!access.any())
            return {};
        if (level == 1)
            return {true, access, io_pte::address(value) | (io_address & (PAGE_SIZE - 1))};
        table = io_pte::address(value);
    }
    return {};
}

u64 IoPageTable::count_leaves(u64 table_phys, unsigned level) const
{
    const u64 *table = words(table_phys);
    u64 mapped = 0;
    for (unsigned i = 0; i < SL_ENTRIES; i++) {
        const u64 value = load(&table[i]);
        if (!io_pte::present(format_, value))
            continue;
        mapped += level == 1 ? 1 : count_leaves(io_pte::address(value), level - 1);
    }
    return mapped;
}

u64 IoPageTable::mapped_frames() const { return root_ != 0 ? count_leaves(root_, levels_) : 0; }

void IoPageTable::free_table(u64 table_phys, unsigned level)
{
    if (level > 1) {
        const u64 *table = words(table_phys);
        for (unsigned i = 0; i < SL_ENTRIES; i++)
            if (const u64 value = load(&table[i]); io_pte::present(format_, value))
                free_table(io_pte::address(value), level - 1);
    }
    frames_.free(table_phys);
}

void IoPageTable::destroy()
{
    if (root_ != 0)
        free_table(root_, levels_);
    root_ = 0;
}

} // namespace vtd
