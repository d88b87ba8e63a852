// SPDX-License-Identifier: MIT
// Fixed-capacity sorted sets of physical address ranges.
#pragma once
#include "mm/phys.hpp"

// A canonical set of byte ranges: sorted, non-empty, and neither overlapping nor
// touching (touching ranges merge). Storage comes from FixedRangeSet, so the set works
// before any heap exists. An operation that would need more room than the storage has
// returns -BATON_ENOSPC and leaves the set as it was.
class RangeSet {
public:
    RangeSet(const RangeSet &) = delete;
    RangeSet &operator=(const RangeSet &) = delete;

    usize count() const { return count_; }
    usize capacity() const { return capacity_; }
    bool empty() const { return count_ == 0; }
    const PhysRange &operator[](usize index) const { return ranges_[index]; }
    const PhysRange *begin() const { return ranges_; }
    const PhysRange *end() const { return ranges_ + count_; }

    void clear() { count_ = 0; }
    [[nodiscard]] int assign(const RangeSet &other);

    // Adds a range, merging it with every range it overlaps or touches.
    [[nodiscard]] int add(PhysRange range);
    // Removes a range; a range that strictly contains it splits in two.
    [[nodiscard]] int subtract(PhysRange range);
    // Keeps only what lies inside the window.
    void intersect(PhysRange window);
    // Shrinks every range to `alignment` boundaries and drops what becomes empty.
    void align_inward(u64 alignment);

    // Set forms; on -BATON_ENOSPC part of `other` may already have been applied.
    [[nodiscard]] int add_all(const RangeSet &other);
    [[nodiscard]] int subtract_all(const RangeSet &other);

    bool overlaps(PhysRange range) const;
    // True if one range of the set holds all of `range`.
    bool covers(PhysRange range) const;
    u64 total_bytes() const;
    // Calls fn(PhysRange) for each part of the set inside `window`, in order; costs a
    // binary search plus the parts.
    template <typename Fn>
    void for_each_within(PhysRange window, Fn fn) const
    {
        for (usize i = first_ending_at_or_after(window.start); i < count_ && ranges_[i].start < window.end; i++) {
            PhysRange part{ranges_[i].start > window.start ? ranges_[i].start : window.start,
                           ranges_[i].end < window.end ? ranges_[i].end : window.end};
            if (!part.empty())
                fn(part);
        }
    }
    // One past the highest address in the set, 0 when empty.
    u64 highest_end() const { return count_ ? ranges_[count_ - 1].end : 0; }

protected:
    constexpr RangeSet(PhysRange *storage, usize capacity) : ranges_(storage), capacity_(capacity) {}
    ~RangeSet() = default;

private:
    // Index of the first range whose end is at or after `address`.
    usize first_ending_at_or_after(u64 address) const;
    void remove(usize index, usize how_many);
    void insert(usize index, PhysRange range);

    PhysRange *ranges_;
    usize capacity_;
    usize count_ = 0;
};

template <usize Capacity>
class FixedRangeSet final : public RangeSet {
public:
    constexpr FixedRangeSet() : RangeSet(storage_, Capacity) {}

private:
    PhysRange storage_[Capacity]{};
};
