// SPDX-License-Identifier: MIT
// The p2m's source of truth: a sorted list of disjoint guest-frame ranges.
#pragma once
#include "dom/p2m_types.hpp"
#include "mm/frames.hpp"

// Ranges are kept sorted by gfn, never overlapping, and merged with a neighbour whenever
// both agree on type, rights and flags and continue each other's machine frames, so the
// count follows the layout, not the amount of memory. Storage is one block of ephemeral
// frames owned by the domain that doubles when full; every operation that adds ranges
// needs reserve() first, so the edits themselves cannot fail half way.
class P2mRangeList final {
public:
    constexpr P2mRangeList() = default;
    P2mRangeList(const P2mRangeList &) = delete;
    P2mRangeList &operator=(const P2mRangeList &) = delete;

    void attach(FrameAllocator *frames, frame_owner_t owner)
    {
        frames_ = frames;
        owner_ = owner;
    }

    usize count() const { return count_; }
    bool empty() const { return count_ == 0; }
    const P2mRange &operator[](usize index) const { return ranges_[index]; }
    const P2mRange *begin() const { return ranges_; }
    const P2mRange *end() const { return ranges_ + count_; }

    // Index of the first range that ends after `gfn` (count() when there is none).
    usize first_ending_after(u64 gfn) const;
    // The range holding `gfn`, or nullptr. Remembers the last hit, so walking frames in
    // order costs O(1) per frame.
    const P2mRange *find(u64 gfn) const;
    // Whether any range overlaps [gfn, gfn + count).
    bool overlaps(u64 gfn, u64 count) const;
    // Ranges (or parts of ranges) inside [gfn, gfn + count), clipped, in order.
    template <typename Visit>
    void for_each_in(u64 gfn, u64 count, Visit &&visit) const
    {
        const u64 limit = gfn + count;
        for (usize i = first_ending_after(gfn); i < count_ && ranges_[i].gfn < limit; i++)
            visit(clip(ranges_[i], gfn, limit));
    }

    // Room for `extra` more ranges; -BATON_ENOMEM leaves the list as it was.
    [[nodiscard]] int reserve(usize extra);
    // Adds a range that overlaps none (the caller checked), merging it with neighbours.
    // Needs one reserved slot.
    void insert(const P2mRange &range);
    // Cuts [gfn, gfn + count) out; a range sticking out on both sides splits in two, which
    // needs one reserved slot.
    void remove(u64 gfn, u64 count);
    // Every range of type `from` becomes `to`; neighbours that now agree merge.
    void retype(P2mType from, P2mType to);
    // Frees the storage; the list is empty and can be used again.
    void release();

    // `range` clipped to [first, limit), machine frames advanced to match.
    static P2mRange clip(const P2mRange &range, u64 first, u64 limit);
    static bool mergeable(const P2mRange &left, const P2mRange &right);

private:
    void erase(usize index, usize how_many);
    void open_gap(usize index);
    void merge_around(usize index);

    FrameAllocator *frames_ = nullptr;
    frame_owner_t owner_ = OWNER_NONE;
    P2mRange *ranges_ = nullptr;
    usize count_ = 0;
    usize capacity_ = 0;
    unsigned order_ = 0; // of the storage block, when capacity_ != 0
    mutable usize hint_ = 0;
};
