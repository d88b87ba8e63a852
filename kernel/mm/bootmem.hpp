// SPDX-License-Identifier: MIT
// The boot allocator: frames handed out before the frame table exists, never freed.
#pragma once
#include "mm/range_set.hpp"

// Allocates from the lowest fitting address, trying the live-update bootmem region
// first and the other free ranges after it: the region is where the next image will
// boot, so early ephemeral data belongs there, but structures that grow with RAM may
// not fit in it. It records every range it hands out so that the frame table can mark
// them (type boot_alloc, ephemeral). It never panics: failures return 0 and the caller,
// who knows what the memory was for, reports them.
class BootAllocator final {
public:
    static constexpr usize CAPACITY = 320;

    constexpr BootAllocator() = default;

    // Starts over with no free memory; `region` may be empty (no bootmem region).
    void reset(PhysRange region);
    // Gives the allocator more free memory. Frame 0 is never handed out (0 means failure),
    // and the range must not overlap what was already allocated (-BATON_EBUSY).
    [[nodiscard]] int add_free(PhysRange range);
    // Takes a range away for good, e.g. preserved memory named by a handover record.
    // Fails with -BATON_EBUSY (and changes nothing) if part of it was already handed out.
    [[nodiscard]] int exclude(PhysRange range);
    // After this every allocation fails: the frame table has been built from our records.
    void seal() { sealed_ = true; }
    bool sealed() const { return sealed_; }

    // `bytes` rounded up to pages, aligned to `alignment` (a power of two, at least a
    // page), ending at or below `limit` (e.g. 4 GiB for memory an early page table must
    // reach). Returns the physical address, or 0.
    u64 alloc(u64 bytes, u64 alignment = PAGE_SIZE, u64 limit = ~u64{0});

    PhysRange region() const { return region_; }
    const RangeSet &allocated() const { return allocated_; }
    const RangeSet &region_free() const { return region_free_; }
    const RangeSet &other_free() const { return other_free_; }
    u64 allocated_bytes() const { return allocated_.total_bytes(); }

private:
    [[nodiscard]] bool take_from(RangeSet &pool, u64 size, u64 alignment, u64 limit, u64 *address);

    PhysRange region_;
    FixedRangeSet<CAPACITY> region_free_;
    FixedRangeSet<CAPACITY> other_free_;
    FixedRangeSet<CAPACITY> allocated_;
    bool sealed_ = false;
};
