// SPDX-License-Identifier: MIT
// The boot allocator: frames handed out before the frame table exists, never freed.
#include "mm/bootmem.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"

void BootAllocator::reset(PhysRange region)
{
    region_ = region;
    region_free_.clear();
    other_free_.clear();
    allocated_.clear();
    sealed_ = false;
}

int BootAllocator::add_free(PhysRange range)
{
    PhysRange aligned{align_up(range.start, PAGE_SIZE), align_down(range.end, PAGE_SIZE)};
    if (aligned.start < PAGE_SIZE)
        aligned.start = PAGE_SIZE;
    if (aligned.empty())
        return 0;
    if (allocated_.overlaps(aligned))
        return -BATON_EBUSY;
    // Split at the region's edges: the part inside goes to the preferred pool.
    PhysRange inside{aligned.start > region_.start ? aligned.start : region_.start,
                     aligned.end < region_.end ? aligned.end : region_.end};
    if (!inside.empty()) {
        if (int error = region_free_.add(inside))
            return error;
        if (aligned.start < inside.start)
            if (int error = other_free_.add({aligned.start, inside.start}))
                return error;
        if (inside.end < aligned.end)
            if (int error = other_free_.add({inside.end, aligned.end}))
                return error;
        return 0;
    }
    return other_free_.add(aligned);
}

int BootAllocator::exclude(PhysRange range)
{
    if (allocated_.overlaps(range))
        return -BATON_EBUSY;
    if (int error = region_free_.subtract(range))
        return error;
    return other_free_.subtract(range);
}

bool BootAllocator::take_from(RangeSet &pool, u64 size, u64 alignment, u64 limit, u64 *address)
{
    for (const PhysRange &range : pool) {
        if (range.start > align_down(~u64{0}, alignment))
            break;
        u64 start = align_up(range.start, alignment);
        u64 end = 0;
        if (add_overflows(start, size, &end) || end > limit)
            break; // ranges are sorted: later ones start even higher
        if (end > range.end)
            continue;
        // Taking [start, end) adds at most one range to each set; make sure both have
        // room first so that no failure can leave the two out of step.
        if (pool.count() == pool.capacity() || allocated_.count() == allocated_.capacity())
            return false;
        // Room was checked above, and that is all these can fail for.
        (void)pool.subtract({start, end});
        (void)allocated_.add({start, end});
        *address = start;
        return true;
    }
    return false;
}

u64 BootAllocator::alloc(u64 bytes, u64 alignment, u64 limit)
{
    if (sealed_) {
        log_error("bootmem: allocation of %lu bytes after the frame table was built", bytes);
        return 0;
    }
    if (bytes == 0 || bytes > align_down(~u64{0}, PAGE_SIZE) || alignment < PAGE_SIZE ||
        (alignment & (alignment - 1)) != 0)
        return 0;
    u64 size = align_up(bytes, PAGE_SIZE);
    u64 address = 0;
    if (take_from(region_free_, size, alignment, limit, &address) ||
        take_from(other_free_, size, alignment, limit, &address))
        return address;
    return 0;
}
