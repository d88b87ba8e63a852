// SPDX-License-Identifier: MIT
// Preserved runs from the preserved-block index or the frame-table walk, and their cross-check.
#include "update/preserved_scan.hpp"
#include "lib/format.hpp"

PreservedRuns::PreservedRuns(const FrameAllocator &frames, PreservedSource source) : frames_(frames), source_(source) {}

bool PreservedRuns::next_indexed(frame_t &frame, frame_t &count)
{
    frame = frames_.preserved_index().next(cursor_);
    if (frame == NO_FRAME)
        return false;
    // Whatever the head says: an index entry that is no preserved block head is a bug the
    // cross-check shows (and the record refuses a type it cannot describe).
    const FrameEntry &head = frames_.table()[frame];
    count = head.has(FRAME_BLOCK_HEAD) ? frame_t{1} << head.order : 1;
    cursor_ = frame + count;
    return true;
}

bool PreservedRuns::next_walked(frame_t &frame, frame_t &count)
{
    const FrameTable &table = frames_.table();
    const RangeSet &usable = frames_.usable_ram();
    while (usable_index_ < usable.count()) {
        const PhysRange &range = usable[usable_index_];
        if (cursor_ < range.first_frame())
            cursor_ = range.first_frame();
        while (cursor_ < range.end_frame() && table.contains(cursor_)) {
            const FrameEntry &entry = table[cursor_];
            frame_t step = entry.has(FRAME_BLOCK_HEAD) || entry.has(FRAME_FREE_HEAD) ? frame_t{1} << entry.order : 1;
            frame = cursor_;
            cursor_ += step;
            if (entry.has(FRAME_BLOCK_HEAD) && entry.has(FRAME_PRESERVED)) {
                count = step;
                return true;
            }
        }
        usable_index_++;
    }
    return false;
}

bool PreservedRuns::next_block(frame_t &frame, frame_t &count)
{
    if (pending_) {
        pending_ = false;
        frame = pending_frame_;
        count = pending_count_;
        return true;
    }
    return source_ == PreservedSource::index ? next_indexed(frame, count) : next_walked(frame, count);
}

bool PreservedRuns::next(PreservedRun &run)
{
    frame_t frame = 0, count = 0;
    if (!next_block(frame, count))
        return false;
    const FrameTable &table = frames_.table();
    const FrameEntry &head = table[frame];
    run = PreservedRun{{frame_to_addr(frame), frame_to_addr(frame + count)},
                       head.type,
                       head.owner,
                       static_cast<u8>(head.flags & FRAME_EXTRA_PAGE)};
    while (next_block(frame, count)) {
        const FrameEntry &entry = table[frame];
        if (frame_to_addr(frame) != run.range.end || entry.type != run.type || entry.owner != run.owner ||
            (entry.flags & FRAME_EXTRA_PAGE) != run.flags) {
            pending_ = true;
            pending_frame_ = frame;
            pending_count_ = count;
            break;
        }
        run.range.end = frame_to_addr(frame + count);
    }
    return true;
}

PreservedCheck check_preserved_runs_agree(const FrameAllocator &frames)
{
    PreservedRuns indexed(frames, PreservedSource::index);
    PreservedRuns walked(frames, PreservedSource::frame_table);
    PreservedCheck check;
    for (;;) {
        check.has_indexed = indexed.next(check.indexed);
        check.has_walked = walked.next(check.walked);
        if (!check.has_indexed && !check.has_walked)
            return check;
        check.runs++;
        if (check.has_indexed != check.has_walked || !(check.indexed == check.walked)) {
            check.agree = false;
            return check;
        }
    }
}

namespace {

void describe_run(bool has, const PreservedRun &run, char *text, usize capacity)
{
    if (!has)
        format(text, capacity, "nothing more");
    else
        format(text, capacity, "0x%lx-0x%lx %s owner 0x%x%s", run.range.start, run.range.end, frame_type_name(run.type),
               run.owner, run.flags != 0 ? " extra" : "");
}

} // namespace

void describe_preserved_check(const PreservedCheck &check, char *text, usize capacity)
{
    if (check.agree) {
        format(text, capacity, "the preserved-block index and the frame table agree on %lu runs", check.runs);
        return;
    }
    char indexed[96], walked[96];
    describe_run(check.has_indexed, check.indexed, indexed, sizeof(indexed));
    describe_run(check.has_walked, check.walked, walked, sizeof(walked));
    format(text, capacity, "preserved run %lu differs: index has %s, frame table has %s", check.runs, indexed, walked);
}
