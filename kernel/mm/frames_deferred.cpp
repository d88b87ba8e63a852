// SPDX-License-Identifier: MIT
// The frame table built a section at a time, and free memory given to the zones later.
#include "lib/log.hpp"
#include "mm/frames.hpp"

namespace {

// The block of the cut of [first, end) (into the largest aligned blocks of at most 2^cap
// frames, as the allocator cuts) that holds `frame`: the cut is the unique one whose
// blocks are maximal, so it is the largest aligned block around `frame` inside the range.
unsigned cut_order_at(frame_t frame, frame_t first, frame_t end, unsigned cap)
{
    for (unsigned order = cap; order > 0; order--) {
        frame_t head = frame & ~((frame_t{1} << order) - 1);
        if (head >= first && head + (frame_t{1} << order) <= end)
            return order;
    }
    return 0;
}

void write_range(FrameTable &table, frame_t first, frame_t end, FrameType type, frame_owner_t owner, u8 flags)
{
    for (frame_t frame = first; frame < end; frame++)
        FrameTable::write_entry(table.unchecked(frame), type, owner, flags);
}

} // namespace

// What init() would have written for this section, from the ranges it was built from.
// Free memory is marked pending: a zone gets it from give_section().
void FrameAllocator::fill_section(void *self, FrameTable &table, frame_t first, frame_t end)
{
    const FrameAllocator &frames = *static_cast<const FrameAllocator *>(self);
    const PhysRange window{frame_to_addr(first), frame_to_addr(end)};
    auto mark = [&](PhysRange range, FrameType type, frame_owner_t owner, u8 flags) {
        PhysRange part{range.start > window.start ? range.start : window.start,
                       range.end < window.end ? range.end : window.end};
        if (!part.empty())
            write_range(table, part.first_frame(), part.end_frame(), type, owner, flags);
    };
    // Holes and firmware stay `reserved`; the rest is marked by what it holds.
    write_range(table, first, end, FrameType::reserved, OWNER_NONE, 0);
    frames.usable_.for_each_within(window,
                                   [&](PhysRange part) { mark(part, FrameType::free, OWNER_NONE, FRAME_PENDING); });
    mark(LOW_MEMORY, FrameType::reserved, OWNER_HYPERVISOR, 0);
    for (usize i = 0; i < frames.reserved_count_; i++)
        mark(frames.reserved_[i].range, frames.reserved_[i].type, OWNER_HYPERVISOR, 0);
    frames.boot_.allocated().for_each_within(
        window, [&](PhysRange part) { mark(part, FrameType::boot_alloc, OWNER_HYPERVISOR, 0); });
    frames.fill_preserved(table, first, end);
}

void FrameAllocator::fill_preserved(FrameTable &table, frame_t first, frame_t end) const
{
    // The first range that ends above the section (the list is sorted and disjoint).
    usize low = 0, high = preserved_list_count_;
    while (low < high) {
        usize middle = low + (high - low) / 2;
        if (preserved_list_[middle].range.end_frame() <= first)
            low = middle + 1;
        else
            high = middle;
    }
    for (usize i = low; i < preserved_list_count_ && preserved_list_[i].range.first_frame() < end; i++) {
        const PreservedRange &preserved = preserved_list_[i];
        const frame_t range_first = preserved.range.first_frame(), range_end = preserved.range.end_frame();
        const unsigned cap = preserved_cut_order(preserved.type);
        frame_t frame = range_first > first ? range_first : first;
        while (frame < end && frame < range_end) {
            unsigned order = cut_order_at(frame, range_first, range_end, cap);
            frame_t head = frame & ~((frame_t{1} << order) - 1);
            frame_t block_end = head + (frame_t{1} << order);
            write_range(table, frame, block_end < end ? block_end : end, preserved.type, preserved.owner,
                        FRAME_PRESERVED | preserved.flags);
            if (head >= first) {
                FrameEntry &entry = table.unchecked(head);
                entry.flags |= FRAME_BLOCK_HEAD;
                entry.order = static_cast<u8>(order);
                entry.use.refcount = 1;
            }
            frame = block_end;
        }
    }
}

// Builds the section if needed and gives its pending frames to their zones, cut into
// blocks that merge with whatever free neighbours the zones already hold.
void FrameAllocator::give_section(frame_t section)
{
    const frame_t first = section << FRAME_SECTION_ORDER;
    if (first >= table_.frames())
        return;
    const frame_t end = first + FRAME_SECTION_FRAMES < table_.frames() ? first + FRAME_SECTION_FRAMES : table_.frames();
    table_.make_ready(first);
    for (frame_t frame = first; frame < end;) {
        if (!table_.unchecked(frame).has(FRAME_PENDING)) {
            frame++;
            continue;
        }
        frame_t run_end = frame + 1;
        while (run_end < end && table_.unchecked(run_end).has(FRAME_PENDING) && &zone_of(run_end) == &zone_of(frame))
            run_end++;
        BuddyZone &zone = zone_of(frame);
        if (&zone == &general_zone_)
            pending_frames_ -= run_end - frame;
        zone.add_free(frame, run_end);
        frame = run_end;
    }
}

bool FrameAllocator::give_pending_locked(usize max_sections)
{
    const frame_t sections = FrameTable::sections_for(table_.frames());
    for (usize given = 0; given < max_sections && give_cursor_ < sections; given++)
        give_section(give_cursor_++);
    return give_cursor_ < sections;
}

bool FrameAllocator::give_pending(usize max_sections)
{
    MmLockGuard guard(lock_);
    return give_pending_locked(max_sections);
}

u64 FrameAllocator::pending_frames() const
{
    MmLockGuard guard(lock_);
    return pending_frames_;
}
