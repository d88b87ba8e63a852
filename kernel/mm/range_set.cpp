// SPDX-License-Identifier: MIT
// Fixed-capacity sorted sets of physical address ranges.
#include "mm/range_set.hpp"
#include "abi/errno.h"

usize RangeSet::first_ending_at_or_after(u64 address) const
{
    usize low = 0, high = count_;
    while (low < high) {
        usize middle = low + (high - low) / 2;
        if (ranges_[middle].end < address)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

void RangeSet::remove(usize index, usize how_many)
{
    for (usize i = index; i + how_many < count_; i++)
        ranges_[i] = ranges_[i + how_many];
    count_ -= how_many;
}

void RangeSet::insert(usize index, PhysRange range)
{
    for (usize i = count_; i > index; i--)
        ranges_[i] = ranges_[i - 1];
    ranges_[index] = range;
    count_++;
}

int RangeSet::assign(const RangeSet &other)
{
    if (&other == this)
        return 0;
    if (other.count_ > capacity_)
        return -BATON_ENOSPC;
    for (usize i = 0; i < other.count_; i++)
        ranges_[i] = other.ranges_[i];
    count_ = other.count_;
    return 0;
}

int RangeSet::add(PhysRange range)
{
    if (range.empty())
        return 0;
    // Ranges [first, last) overlap or touch the new one (touching counts: end == start).
    usize first = first_ending_at_or_after(range.start);
    usize last = first;
    while (last < count_ && ranges_[last].start <= range.end)
        last++;
    if (first == last) {
        if (count_ == capacity_)
            return -BATON_ENOSPC;
        insert(first, range);
        return 0;
    }
    PhysRange merged = ranges_[first];
    if (range.start < merged.start)
        merged.start = range.start;
    merged.end = ranges_[last - 1].end > range.end ? ranges_[last - 1].end : range.end;
    ranges_[first] = merged;
    remove(first + 1, last - first - 1);
    return 0;
}

int RangeSet::subtract(PhysRange range)
{
    if (range.empty())
        return 0;
    // Touching is not overlapping here: start strictly after range.start's left side.
    usize index = first_ending_at_or_after(range.start + 1);
    if (index < count_) {
        const PhysRange &hit = ranges_[index];
        if (hit.start < range.start && hit.end > range.end) {
            if (count_ == capacity_)
                return -BATON_ENOSPC;
            PhysRange right{range.end, hit.end};
            ranges_[index].end = range.start;
            insert(index + 1, right);
            return 0;
        }
    }
    while (index < count_ && ranges_[index].start < range.end) {
        PhysRange &hit = ranges_[index];
        if (hit.start < range.start) {
            hit.end = range.start; // keep the left part
            index++;
        } else if (hit.end > range.end) {
            hit.start = range.end; // keep the right part
            break;
        } else {
            remove(index, 1);
        }
    }
    return 0;
}

void RangeSet::intersect(PhysRange window)
{
    usize kept = 0;
    for (usize i = 0; i < count_; i++) {
        PhysRange clipped = ranges_[i];
        if (clipped.start < window.start)
            clipped.start = window.start;
        if (clipped.end > window.end)
            clipped.end = window.end;
        if (!clipped.empty())
            ranges_[kept++] = clipped;
    }
    count_ = kept;
}

void RangeSet::align_inward(u64 alignment)
{
    usize kept = 0;
    for (usize i = 0; i < count_; i++) {
        const PhysRange &range = ranges_[i];
        if (range.start > align_down(~u64{0}, alignment))
            continue; // aligning up would wrap
        PhysRange aligned{align_up(range.start, alignment), align_down(range.end, alignment)};
        if (!aligned.empty())
            ranges_[kept++] = aligned;
    }
    count_ = kept;
}

int RangeSet::add_all(const RangeSet &other)
{
    for (const PhysRange &range : other)
        if (int error = add(range))
            return error;
    return 0;
}

int RangeSet::subtract_all(const RangeSet &other)
{
    for (const PhysRange &range : other)
        if (int error = subtract(range))
            return error;
    return 0;
}

bool RangeSet::overlaps(PhysRange range) const
{
    if (range.empty())
        return false;
    usize index = first_ending_at_or_after(range.start + 1);
    return index < count_ && ranges_[index].overlaps(range);
}

bool RangeSet::covers(PhysRange range) const
{
    if (range.empty())
        return true;
    usize index = first_ending_at_or_after(range.end);
    return index < count_ && ranges_[index].covers(range);
}

u64 RangeSet::total_bytes() const
{
    u64 total = 0;
    for (const PhysRange &range : *this)
        total += range.size();
    return total;
}
