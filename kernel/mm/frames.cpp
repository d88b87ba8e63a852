// SPDX-License-Identifier: MIT
// The frame allocator: allocation, freeing and reference counts by class.
#include "mm/frames.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"

constinit FrameAllocator kernel_frame_allocator;

namespace {

// Which class each allocatable type may have; the rest are never allocated.
bool class_allowed(FrameType type, MemClass mem_class)
{
    switch (type) {
    case FrameType::heap: return mem_class == MemClass::ephemeral; // heap pages are never shared or kept
    case FrameType::page_table: return true; // the hypervisor's own are ephemeral, adopted guest/IOMMU ones preserved
    case FrameType::guest_ram:
    case FrameType::extra:
    case FrameType::record:
    case FrameType::hypervisor_image:
    case FrameType::rollback_kit:
    case FrameType::log_dirty_bitmap: return mem_class == MemClass::preserved; // guests and the next image keep them
    default: return false;
    }
}

} // namespace

const char *mem_class_name(MemClass mem_class) { return mem_class == MemClass::preserved ? "preserved" : "ephemeral"; }

u64 FrameAllocator::alloc_frames(unsigned order, MemClass mem_class, frame_owner_t owner, FrameType type, u64 below)
{
    MmLockGuard guard(lock_);
    if (!class_allowed(type, mem_class))
        panic("alloc_frames: %s frames cannot be %s", frame_type_name(type), mem_class_name(mem_class));
    if (order > MAX_ORDER)
        return 0;
    const frame_t limit = below != 0 ? below >> PAGE_SHIFT : NO_FRAME;
    const frame_t frame = take(order, mem_class == MemClass::ephemeral, limit);
    if (frame == NO_FRAME)
        return 0;
    u8 flags = mem_class == MemClass::preserved ? FRAME_PRESERVED : 0;
    if (type == FrameType::extra)
        flags |= FRAME_EXTRA_PAGE;
    table_.mark_block(frame, order, type, owner, flags);
    if (mem_class == MemClass::preserved)
        preserved_.insert(frame);
    return frame_to_addr(frame);
}

frame_t FrameAllocator::take(unsigned order, bool bootmem_first, frame_t limit)
{
    for (;;) {
        frame_t frame = bootmem_first ? bootmem_zone_.alloc(order, limit) : NO_FRAME;
        if (frame == NO_FRAME)
            frame = general_zone_.alloc(order, limit);
        if (frame != NO_FRAME || all_given())
            return frame;
        // During a deferred start-up, no fitting block yet means: prove more memory free.
        give_pending_locked(GROW_SECTIONS);
    }
}

FrameEntry &FrameAllocator::allocated_head(u64 phys, const char *caller)
{
    if (!is_aligned(phys, PAGE_SIZE))
        panic("%s: 0x%lx is not page aligned", caller, phys);
    FrameEntry *entry = table_.find(phys);
    if (entry == nullptr)
        panic("%s: 0x%lx is outside the frame table", caller, phys);
    if (entry->type == FrameType::free)
        panic("%s: 0x%lx is free (double free?)", caller, phys);
    if (!entry->has(FRAME_BLOCK_HEAD))
        panic("%s: 0x%lx is not the start of an allocated block (type %s)", caller, phys, frame_type_name(entry->type));
    return *entry;
}

void FrameAllocator::release(frame_t frame, unsigned order)
{
    preserved_.erase(frame); // whatever the flags say now: a block leaves the index when it is freed
    zone_of(frame).free(frame, order);
}

void FrameAllocator::free_frames(u64 phys, unsigned order)
{
    MmLockGuard guard(lock_);
    FrameEntry &head = allocated_head(phys, "free_frames");
    if (head.order != order)
        panic("free_frames: block at 0x%lx has order %u, freed with order %u", phys, head.order, order);
    if (head.has(FRAME_SLAB))
        panic("free_frames: 0x%lx is a slab page, freed behind the heap's back", phys);
    if (head.use.refcount != 1)
        panic("free_frames: block at 0x%lx still has %u references", phys, head.use.refcount);
    release(addr_to_frame(phys), order);
}

void FrameAllocator::free_range(PhysRange range)
{
    MmLockGuard guard(lock_);
    if (!is_aligned(range.start, PAGE_SIZE) || !is_aligned(range.end, PAGE_SIZE))
        panic("free_range: 0x%lx-0x%lx is not page aligned", range.start, range.end);
    u64 phys = range.start;
    while (phys < range.end) {
        FrameEntry &head = allocated_head(phys, "free_range");
        unsigned order = head.order;
        u64 block_end = phys + (PAGE_SIZE << order);
        if (block_end > range.end)
            panic("free_range: block 0x%lx-0x%lx runs past the end of 0x%lx-0x%lx", phys, block_end, range.start,
                  range.end);
        if (head.has(FRAME_SLAB) || head.use.refcount != 1)
            panic("free_range: block at 0x%lx is still in use", phys);
        release(addr_to_frame(phys), order);
        phys = block_end;
    }
}

void FrameAllocator::ref_get(u64 phys)
{
    MmLockGuard guard(lock_);
    FrameEntry &head = allocated_head(phys, "ref_get");
    if (head.has(FRAME_SLAB))
        panic("ref_get: 0x%lx is a slab page", phys);
    if (head.use.refcount == ~u32{0})
        panic("ref_get: reference count of 0x%lx overflows", phys);
    head.use.refcount++;
}

void FrameAllocator::ref_put(u64 phys)
{
    MmLockGuard guard(lock_);
    FrameEntry &head = allocated_head(phys, "ref_put");
    if (head.has(FRAME_SLAB))
        panic("ref_put: 0x%lx is a slab page", phys);
    if (head.use.refcount == 0)
        panic("ref_put: 0x%lx has no references left", phys);
    if (--head.use.refcount == 0)
        release(addr_to_frame(phys), head.order);
}

u32 FrameAllocator::refcount(u64 phys)
{
    MmLockGuard guard(lock_);
    FrameEntry &head = allocated_head(phys, "refcount");
    return head.has(FRAME_SLAB) ? 1 : head.use.refcount;
}

int FrameAllocator::set_extra_page(u64 phys, bool extra)
{
    MmLockGuard guard(lock_);
    FrameEntry *head = table_.find(phys);
    if (head == nullptr || !is_aligned(phys, PAGE_SIZE) || !head->has(FRAME_BLOCK_HEAD) || !head->has(FRAME_PRESERVED))
        return -BATON_EINVAL; // extra pages are guest-visible, so they must be preserved
    frame_t first = addr_to_frame(phys);
    frame_t end = first + (frame_t{1} << head->order);
    for (frame_t frame = first; frame < end; frame++) {
        if (extra)
            table_[frame].flags |= FRAME_EXTRA_PAGE;
        else
            table_[frame].flags &= static_cast<u8>(~FRAME_EXTRA_PAGE);
    }
    return 0;
}

u64 FrameAllocator::free_frame_count(MemClass mem_class) const
{
    MmLockGuard guard(lock_);
    u64 general = general_zone_.free_frames();
    return mem_class == MemClass::preserved ? general : general + bootmem_zone_.free_frames();
}

u64 FrameAllocator::alloc_outside_bootmem(unsigned order, FrameType type, u64 below)
{
    MmLockGuard guard(lock_);
    if (class_allowed(type, MemClass::preserved) && !class_allowed(type, MemClass::ephemeral))
        panic("alloc_outside_bootmem: %s frames must be preserved", frame_type_name(type));
    if (order > MAX_ORDER || below == 0)
        return 0;
    const frame_t frame = take(order, false, below >> PAGE_SHIFT);
    if (frame == NO_FRAME)
        return 0;
    table_.mark_block(frame, order, type, OWNER_HYPERVISOR, 0);
    return frame_to_addr(frame);
}
