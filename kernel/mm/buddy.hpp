// SPDX-License-Identifier: MIT
// Buddy allocator: power-of-two blocks of frames over frame-table entries.
#pragma once
#include "mm/frame_table.hpp"

inline constexpr unsigned MAX_ORDER = 18; // 2^18 frames: 1 GiB blocks
inline constexpr frame_t NO_FRAME = ~frame_t{0};

// The order of the largest naturally aligned block that starts at `frame` and ends at
// or before `end` (which must be above `frame`): how ranges are cut into blocks.
constexpr unsigned largest_block_order(frame_t frame, frame_t end)
{
    unsigned order = 0;
    while (order < MAX_ORDER && (frame & ((frame_t{2} << order) - 1)) == 0 && frame + (frame_t{2} << order) <= end)
        order++;
    return order;
}

// The smallest order whose block holds `frames` frames (MAX_ORDER + 1 if none does):
// how a size becomes an allocation.
constexpr unsigned order_covering(u64 frames)
{
    unsigned order = 0;
    while (order <= MAX_ORDER && (u64{1} << order) < frames)
        order++;
    return order;
}

// One zone owns the frames in [first, end) minus an optional hole [hole_first, hole_end).
// The general zone is all of RAM with the bootmem region as its hole, the bootmem zone
// is the region: one mechanism, and blocks never merge across a zone's edge because a
// buddy outside the zone is never one of its free blocks.
//
// Free blocks are kept in per-order doubly linked lists threaded through the head
// entries (FRAME_FREE_HEAD, `order`, `link`). Callers validate frees; the zone trusts
// them and only splits and merges.
class BuddyZone final {
public:
    constexpr BuddyZone()
    {
        for (u32 &head : heads_)
            head = NO_FRAME_LINK;
    }

    void init(FrameTable *table, const char *name, frame_t first, frame_t end, frame_t hole_first = 0,
              frame_t hole_end = 0);

    const char *name() const { return name_; }
    bool owns(frame_t frame) const
    {
        return frame >= first_ && frame < end_ && !(frame >= hole_first_ && frame < hole_end_);
    }

    // Hands [first, end) to the zone (all frames must be owned by it and unused); their
    // entries become free.
    void add_free(frame_t first, frame_t end);
    // First frame of a block of 2^order frames, or NO_FRAME when no block is big enough
    // (and, with `limit`, none ends at or below frame `limit`). The caller marks the
    // block's entries.
    frame_t alloc(unsigned order, frame_t limit = NO_FRAME);
    // Returns a block; it merges with its buddies as far as they are free.
    void free(frame_t first, unsigned order);

    u64 free_frames() const { return free_frames_; }
    u64 free_blocks(unsigned order) const { return block_counts_[order]; }
    // The largest order with a free block, or -1 when the zone is empty.
    [[nodiscard]] int largest_free_order() const;

private:
    void push(frame_t frame, unsigned order);
    void unlink(frame_t frame, unsigned order);
    bool is_free_block(frame_t frame, unsigned order) const;

    FrameTable *table_ = nullptr;
    const char *name_ = "";
    frame_t first_ = 0;
    frame_t end_ = 0;
    frame_t hole_first_ = 0;
    frame_t hole_end_ = 0;
    u32 heads_[MAX_ORDER + 1]{};
    u64 block_counts_[MAX_ORDER + 1]{};
    u64 free_frames_ = 0;
};
