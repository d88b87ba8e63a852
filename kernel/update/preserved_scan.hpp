// SPDX-License-Identifier: MIT
// Finding every preserved frame by walking the frame table block by block.
#pragma once
#include "handover_layout.hpp"
#include "mm/frames.hpp"

// A run of adjacent preserved blocks of one type, owner and flags.
struct PreservedRun {
    PhysRange range;
    FrameType type = FrameType::guest_ram;
    frame_owner_t owner = OWNER_NONE;
    u8 flags = 0; // FRAME_EXTRA_PAGE or 0
};

// The record's name for preserved frames of a type; false for a type that may not be
// preserved (the record cannot describe it).
[[nodiscard]] bool preserved_kind_of(FrameType type, handover::schema::PreservedKind &kind);
// And back: the frame type and flags the next image marks.
[[nodiscard]] bool frame_type_of(handover::schema::PreservedKind kind, FrameType &type, u8 &flags);

// Calls visit(const PreservedRun &) for every maximal run, in address order. The frame
// table is the truth about what must survive (a leaked preserved block is found too);
// the walk steps over whole blocks, so it costs what the blocks number, not the frames.
template <typename Visit>
void for_each_preserved_run(const FrameAllocator &frames, Visit &&visit)
{
    const FrameTable &table = frames.table();
    PreservedRun run;
    bool open = false;
    for (const PhysRange &usable : frames.usable_ram()) {
        frame_t frame = usable.first_frame(), end = usable.end_frame();
        while (frame < end && table.contains(frame)) {
            const FrameEntry &entry = table[frame];
            frame_t step = entry.has(FRAME_BLOCK_HEAD) || entry.has(FRAME_FREE_HEAD) ? frame_t{1} << entry.order : 1;
            bool preserved = entry.has(FRAME_BLOCK_HEAD) && entry.has(FRAME_PRESERVED);
            u8 flags = entry.flags & FRAME_EXTRA_PAGE;
            bool extends = open && preserved && run.range.end == frame_to_addr(frame) && run.type == entry.type &&
                           run.owner == entry.owner && run.flags == flags;
            if (open && !extends) {
                visit(static_cast<const PreservedRun &>(run));
                open = false;
            }
            if (extends)
                run.range.end = frame_to_addr(frame + step);
            else if (preserved) {
                run = PreservedRun{{frame_to_addr(frame), frame_to_addr(frame + step)}, entry.type, entry.owner, flags};
                open = true;
            }
            frame += step;
        }
    }
    if (open)
        visit(static_cast<const PreservedRun &>(run));
}
