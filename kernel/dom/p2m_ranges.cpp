// SPDX-License-Identifier: MIT
// The p2m's source of truth: a sorted list of disjoint guest-frame ranges.
#include "dom/p2m_ranges.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"

namespace {

constexpr usize ranges_per_block(unsigned order) { return (PAGE_SIZE << order) / sizeof(P2mRange); }

} // namespace

P2mRange P2mRangeList::clip(const P2mRange &range, u64 first, u64 limit)
{
    const u64 low = range.gfn > first ? range.gfn : first;
    const u64 high = range.end() < limit ? range.end() : limit;
    P2mRange piece = range;
    piece.gfn = low;
    piece.count = high - low;
    piece.mfn = range.mfn_at(low);
    return piece;
}

bool P2mRangeList::mergeable(const P2mRange &left, const P2mRange &right)
{
    return left.end() == right.gfn && left.type == right.type && left.access == right.access &&
           left.flags == right.flags && (!p2m_type_has_frames(left.type) || left.mfn + left.count == right.mfn);
}

usize P2mRangeList::first_ending_after(u64 gfn) const
{
    usize low = 0, high = count_;
    while (low < high) {
        const usize middle = low + (high - low) / 2;
        if (ranges_[middle].end() <= gfn)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

// Lookups on several CPUs share the list (the p2m lock's read side) and so the hint: it
// is only a guess, read and written whole (relaxed atomics), and checked before use.
const P2mRange *P2mRangeList::find(u64 gfn) const
{
    const usize hint = __atomic_load_n(&hint_, __ATOMIC_RELAXED);
    if (hint < count_ && ranges_[hint].contains(gfn))
        return &ranges_[hint];
    if (hint + 1 < count_ && ranges_[hint + 1].contains(gfn)) {
        __atomic_store_n(&hint_, hint + 1, __ATOMIC_RELAXED);
        return &ranges_[hint + 1];
    }
    const usize index = first_ending_after(gfn);
    if (index == count_ || ranges_[index].gfn > gfn)
        return nullptr;
    __atomic_store_n(&hint_, index, __ATOMIC_RELAXED);
    return &ranges_[index];
}

bool P2mRangeList::overlaps(u64 gfn, u64 count) const
{
    const usize index = first_ending_after(gfn);
    return index < count_ && ranges_[index].gfn < gfn + count;
}

int P2mRangeList::reserve(usize extra)
{
    const usize needed = count_ + extra;
    if (needed <= capacity_)
        return 0;
    unsigned order = capacity_ != 0 ? order_ + 1 : 0;
    while (order <= MAX_ORDER && ranges_per_block(order) < needed)
        order++;
    if (order > MAX_ORDER)
        return -BATON_ENOMEM;
    const u64 phys = frames_->alloc_frames(order, MemClass::ephemeral, owner_, FrameType::heap);
    if (phys == 0)
        return -BATON_ENOMEM;
    P2mRange *grown = phys_to<P2mRange>(phys);
    for (usize i = 0; i < count_; i++)
        grown[i] = ranges_[i];
    if (capacity_ != 0)
        frames_->free_frames(virt_to_phys(ranges_), order_);
    ranges_ = grown;
    capacity_ = ranges_per_block(order);
    order_ = order;
    return 0;
}

void P2mRangeList::erase(usize index, usize how_many)
{
    for (usize i = index; i + how_many < count_; i++)
        ranges_[i] = ranges_[i + how_many];
    count_ -= how_many;
    __atomic_store_n(&hint_, usize{0}, __ATOMIC_RELAXED);
}

void P2mRangeList::open_gap(usize index)
{
    if (count_ == capacity_)
        panic("p2m: range list full (a caller skipped reserve())");
    for (usize i = count_; i > index; i--)
        ranges_[i] = ranges_[i - 1];
    count_++;
    __atomic_store_n(&hint_, usize{0}, __ATOMIC_RELAXED);
}

void P2mRangeList::merge_around(usize index)
{
    if (index + 1 < count_ && mergeable(ranges_[index], ranges_[index + 1])) {
        ranges_[index].count += ranges_[index + 1].count;
        erase(index + 1, 1);
    }
    if (index > 0 && mergeable(ranges_[index - 1], ranges_[index])) {
        ranges_[index - 1].count += ranges_[index].count;
        erase(index, 1);
    }
}

void P2mRangeList::insert(const P2mRange &range)
{
    const usize index = first_ending_after(range.gfn);
    open_gap(index);
    ranges_[index] = range;
    merge_around(index);
}

void P2mRangeList::remove(u64 gfn, u64 count)
{
    const u64 limit = gfn + count;
    const usize low = first_ending_after(gfn);
    usize high = low;
    while (high < count_ && ranges_[high].gfn < limit)
        high++;
    if (low == high)
        return;
    const P2mRange first = ranges_[low];
    const P2mRange last = ranges_[high - 1];
    if (low + 1 == high && first.gfn < gfn && first.end() > limit) {
        open_gap(low + 1);
        ranges_[low] = clip(first, first.gfn, gfn);
        ranges_[low + 1] = clip(first, limit, first.end());
        return;
    }
    usize erase_from = low, erase_to = high;
    if (first.gfn < gfn) {
        ranges_[low] = clip(first, first.gfn, gfn);
        erase_from = low + 1;
    }
    if (last.end() > limit) {
        ranges_[high - 1] = clip(last, limit, last.end());
        erase_to = high - 1;
    }
    if (erase_to > erase_from)
        erase(erase_from, erase_to - erase_from);
}

void P2mRangeList::retype(P2mType from, P2mType to)
{
    usize kept = 0;
    for (usize i = 0; i < count_; i++) {
        P2mRange range = ranges_[i];
        if (range.type == from)
            range.type = to;
        if (kept > 0 && mergeable(ranges_[kept - 1], range))
            ranges_[kept - 1].count += range.count;
        else
            ranges_[kept++] = range;
    }
    count_ = kept;
    __atomic_store_n(&hint_, usize{0}, __ATOMIC_RELAXED);
}

void P2mRangeList::release()
{
    if (capacity_ != 0)
        frames_->free_frames(virt_to_phys(ranges_), order_);
    ranges_ = nullptr;
    count_ = capacity_ = 0;
    order_ = 0;
    __atomic_store_n(&hint_, usize{0}, __ATOMIC_RELAXED);
}
