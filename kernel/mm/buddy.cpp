// SPDX-License-Identifier: MIT
// Buddy allocator: power-of-two blocks of frames over frame-table entries.
#include "mm/buddy.hpp"

void BuddyZone::init(FrameTable *table, const char *name, frame_t first, frame_t end, frame_t hole_first,
                     frame_t hole_end)
{
    table_ = table;
    name_ = name;
    first_ = first;
    end_ = end;
    hole_first_ = hole_first;
    hole_end_ = hole_end;
    for (unsigned order = 0; order <= MAX_ORDER; order++) {
        heads_[order] = NO_FRAME_LINK;
        block_counts_[order] = 0;
    }
    free_frames_ = 0;
}

void BuddyZone::push(frame_t frame, unsigned order)
{
    FrameEntry &entry = (*table_)[frame];
    entry.flags |= FRAME_FREE_HEAD;
    entry.order = static_cast<u8>(order);
    entry.link.prev = NO_FRAME_LINK;
    entry.link.next = heads_[order];
    if (heads_[order] != NO_FRAME_LINK)
        (*table_)[heads_[order]].link.prev = static_cast<u32>(frame);
    heads_[order] = static_cast<u32>(frame);
    block_counts_[order]++;
    free_frames_ += frame_t{1} << order;
}

void BuddyZone::unlink(frame_t frame, unsigned order)
{
    FrameEntry &entry = (*table_)[frame];
    if (entry.link.prev != NO_FRAME_LINK)
        (*table_)[entry.link.prev].link.next = entry.link.next;
    else
        heads_[order] = entry.link.next;
    if (entry.link.next != NO_FRAME_LINK)
        (*table_)[entry.link.next].link.prev = entry.link.prev;
    entry.flags &= static_cast<u8>(~FRAME_FREE_HEAD);
    entry.order = 0;
    entry.link.next = 0;
    entry.link.prev = 0;
    block_counts_[order]--;
    free_frames_ -= frame_t{1} << order;
}

bool BuddyZone::is_free_block(frame_t frame, unsigned order) const
{
    if (!owns(frame) || !table_->contains(frame))
        return false;
    const FrameEntry &entry = (*table_)[frame];
    return entry.has(FRAME_FREE_HEAD) && entry.order == order;
}

void BuddyZone::add_free(frame_t first, frame_t end)
{
    // Cut the range into the largest naturally aligned blocks that fit; free() merges
    // them with whatever neighbours are already free.
    frame_t frame = first;
    while (frame < end) {
        unsigned order = largest_block_order(frame, end);
        free(frame, order);
        frame += frame_t{1} << order;
    }
}

frame_t BuddyZone::alloc(unsigned order, frame_t limit)
{
    if (order > MAX_ORDER)
        return NO_FRAME;
    for (unsigned found = order; found <= MAX_ORDER; found++) {
        // The list's first block, or with a limit the first whose lower 2^order frames
        // (what a split keeps) end at or below it: a walk only for the rare limited caller.
        u32 link = heads_[found];
        while (link != NO_FRAME_LINK && frame_t{link} + (frame_t{1} << order) > limit)
            link = (*table_)[link].link.next;
        if (link == NO_FRAME_LINK)
            continue;
        const frame_t frame = link;
        unlink(frame, found);
        // Split: keep the lower half, give the upper halves back.
        while (found > order) {
            found--;
            push(frame + (frame_t{1} << found), found);
        }
        return frame;
    }
    return NO_FRAME;
}

void BuddyZone::free(frame_t first, unsigned order)
{
    table_->mark({frame_to_addr(first), frame_to_addr(first + (frame_t{1} << order))}, FrameType::free, OWNER_NONE, 0);
    frame_t frame = first;
    while (order < MAX_ORDER) {
        frame_t buddy = frame ^ (frame_t{1} << order);
        if (!is_free_block(buddy, order))
            break;
        unlink(buddy, order);
        if (buddy < frame)
            frame = buddy;
        order++;
    }
    push(frame, order);
}

int BuddyZone::largest_free_order() const
{
    for (int order = MAX_ORDER; order >= 0; order--)
        if (heads_[order] != NO_FRAME_LINK)
            return order;
    return -1;
}
