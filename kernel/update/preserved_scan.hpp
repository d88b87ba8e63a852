// SPDX-License-Identifier: MIT
// Finding every preserved frame: from the preserved-block index, or by walking the frame table.
#pragma once
#include "handover_layout.hpp"
#include "mm/frames.hpp"

// `make CHECK_PRESERVED=1`: every live update also walks the frame table and refuses
// when the preserved-block index disagrees with it (check_preserved_runs_agree()).
#ifndef BATON_CHECK_PRESERVED
#define BATON_CHECK_PRESERVED 0
#endif
inline constexpr bool CHECK_PRESERVED_RUNS = BATON_CHECK_PRESERVED != 0;

// A run of adjacent preserved blocks of one type, owner and flags.
struct PreservedRun {
    PhysRange range;
    FrameType type = FrameType::guest_ram;
    frame_owner_t owner = OWNER_NONE;
    u8 flags = 0; // FRAME_EXTRA_PAGE or 0

    bool operator==(const PreservedRun &other) const
    {
        return range.start == other.range.start && range.end == other.range.end && type == other.type &&
               owner == other.owner && flags == other.flags;
    }
};

// The record's name for preserved frames of a type; false for a type that may not be
// preserved (the record cannot describe it).
[[nodiscard]] bool preserved_kind_of(FrameType type, handover::schema::PreservedKind &kind);
// And back: the frame type and flags the next image marks.
[[nodiscard]] bool frame_type_of(handover::schema::PreservedKind kind, FrameType &type, u8 &flags);

// Where the preserved blocks come from, in address order.
enum class PreservedSource : u8 {
    // The allocator's preserved-block index (mm/preserved_index.hpp): what every owner
    // of preserved memory allocated (domains' RAM blocks, extra pages, IOMMU tables,
    // dirty bitmaps, the record, the rollback kit, image copies) or inherited from the
    // record, leaked blocks included. Costs what the blocks number: the update's way.
    index,
    // A walk over the frame table, block by block over all RAM: costs what RAM holds.
    // The cross-check's reference (check_preserved_runs_agree()).
    frame_table,
};

// Yields the maximal runs of preserved blocks, in address order, one at a time.
class PreservedRuns final {
public:
    PreservedRuns(const FrameAllocator &frames, PreservedSource source);
    // The next run; false once there is none.
    bool next(PreservedRun &run);

private:
    // The next preserved block's head and its frame count; false at the end.
    bool next_block(frame_t &frame, frame_t &count);
    bool next_indexed(frame_t &frame, frame_t &count);
    bool next_walked(frame_t &frame, frame_t &count);

    const FrameAllocator &frames_;
    PreservedSource source_;
    frame_t cursor_ = 0; // the next frame to look at
    usize usable_index_ = 0; // the walk's usable RAM range
    bool pending_ = false; // a block read ahead that starts the next run
    frame_t pending_frame_ = 0;
    frame_t pending_count_ = 0;
};

// Calls visit(const PreservedRun &) for every maximal run, in address order, found
// from `source`. Runs are sorted by first frame, disjoint, and adjacent blocks of the
// same type, owner and flags are merged into one: the record's preserved list.
template <typename Visit>
void for_each_preserved_run(const FrameAllocator &frames, PreservedSource source, Visit &&visit)
{
    PreservedRuns runs(frames, source);
    PreservedRun run;
    while (runs.next(run))
        visit(static_cast<const PreservedRun &>(run));
}
template <typename Visit>
void for_each_preserved_run(const FrameAllocator &frames, Visit &&visit)
{
    for_each_preserved_run(frames, PreservedSource::index, static_cast<Visit &&>(visit));
}

// The outcome of comparing the index's runs with the frame-table walk's, run by run.
struct PreservedCheck {
    bool agree = true;
    u64 runs = 0; // runs compared (up to and including the first difference)
    // At the first difference: each side's run, or has_* false when that side had ended.
    bool has_indexed = false, has_walked = false;
    PreservedRun indexed, walked;
};

// The debug/test cross-check: the index must list exactly the preserved blocks the
// frame table holds (a block allocated behind the index's back, or one it forgot to
// drop, shows here). Costs a walk over all RAM; the kernel runs it on a live update
// only when built with CHECK_PRESERVED=1 (docs/live-update.md).
PreservedCheck check_preserved_runs_agree(const FrameAllocator &frames);
// One line saying where they differ, for a refusal or a test message.
void describe_preserved_check(const PreservedCheck &check, char *text, usize capacity);
