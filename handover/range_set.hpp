// SPDX-License-Identifier: MIT
// Containment queries over sorted, disjoint frame-range lists in a record (no heap).
#pragma once
#include "handover_layout.hpp"

namespace handover {

// Frame numbers stop at 2^40: physical addresses have at most 52 bits.
inline constexpr u64 MAX_FRAME = u64{1} << 40;

// [first, first + count) is a valid frame range: non-empty and below MAX_FRAME.
constexpr bool frame_range_fits(u64 first, u64 count)
{
    return count != 0 && first < MAX_FRAME && count <= MAX_FRAME - first;
}

// How many of `count` ascending keys (key_of(i) is the i-th) are at or before `key`: one
// less is the index of the last such key.
template <typename KeyOf>
constexpr u32 count_at_or_before(u32 count, u64 key, KeyOf &&key_of)
{
    u32 low = 0, high = count;
    while (low < high) {
        const u32 middle = low + (high - low) / 2;
        if (key_of(middle) <= key)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

// A place in a list of chunks (a record's chunked range lists): chunk, then element.
struct ChunkPosition {
    u32 list = 0;
    u32 index = 0;
};
// Steps to the next element across chunks (none is empty); false past the last.
template <typename List>
bool advance_in_chunks(const List *lists, u32 list_count, ChunkPosition *at)
{
    if (at->index + 1 < lists[at->list].size()) {
        at->index++;
        return true;
    }
    if (at->list + 1 >= list_count)
        return false;
    *at = {at->list + 1, 0};
    return true;
}

// Up to Capacity lists of T (a struct with first_frame() and frame_count()), taken
// together as one sorted sequence of disjoint ranges; the caller has checked that
// they are. Queries cost a binary search, or O(1) when they walk forward in order.
template <class T, u32 Capacity>
class SortedRangeSet final {
public:
    static constexpr u32 MAX_LISTS = Capacity;

    bool add(wire::StructListReader<T> list)
    {
        if (list.size() == 0)
            return true;
        if (list_count_ == MAX_LISTS)
            return false;
        lists_[list_count_] = list;
        list_first_[list_count_] = list[0].first_frame();
        list_count_++;
        return true;
    }

    // Every frame of [first, first + count) lies in the set (ranges may abut).
    bool covers(u64 first, u64 count)
    {
        // Most queries fall in the range the last one found (p2m ranges mostly ascend).
        if (found_before_ && first >= hit_first_ && first < hit_end_ && count <= hit_end_ - first)
            return true;
        return search(first, count);
    }

private:
    using Position = ChunkPosition;

    [[gnu::noinline]] bool search(u64 first, u64 count)
    {
        if (!locate(first))
            return false;
        // Abutting ranges cover together: walk on while each starts where the last ended.
        const u64 end = first + count;
        Position at = hit_;
        u64 covered_to = hit_end_;
        while (covered_to < end) {
            if (!advance(&at))
                return false;
            const typename T::Reader next = element(at);
            if (next.first_frame() != covered_to)
                return false;
            covered_to += next.frame_count();
        }
        return true;
    }

    typename T::Reader element(Position at) const { return lists_[at.list][at.index]; }

    void remember(Position at)
    {
        const typename T::Reader range = element(at);
        hit_ = at;
        hit_first_ = range.first_frame();
        hit_end_ = hit_first_ + range.frame_count();
        found_before_ = true;
    }

    bool advance(Position *at) const { return advance_in_chunks(lists_, list_count_, at); }

    // Makes hit_ the last range starting at or before `frame`; true if it holds it.
    bool locate(u64 frame)
    {
        if (found_before_ && hit_first_ <= frame) {
            if (frame < hit_end_)
                return true;
            // Queries mostly walk forward: try the next range before searching.
            Position next = hit_;
            if (advance(&next)) {
                const typename T::Reader range = element(next);
                if (range.first_frame() <= frame && frame - range.first_frame() < range.frame_count()) {
                    remember(next);
                    return true;
                }
            }
        }
        // The last list whose first range starts at or before `frame`, then its last range.
        const u32 lists = count_at_or_before(list_count_, frame, [&](u32 i) { return list_first_[i]; });
        if (lists == 0) {
            found_before_ = false;
            return false;
        }
        const u32 list = lists - 1;
        const u32 ranges =
            count_at_or_before(lists_[list].size(), frame, [&](u32 i) { return lists_[list][i].first_frame(); });
        remember({list, ranges - 1});
        return frame < hit_end_;
    }

    wire::StructListReader<T> lists_[MAX_LISTS];
    u64 list_first_[MAX_LISTS] = {};
    u32 list_count_ = 0;
    Position hit_;
    u64 hit_first_ = 0;
    u64 hit_end_ = 0;
    bool found_before_ = false;
};

} // namespace handover
