// SPDX-License-Identifier: MIT
// The p2m: rebuilding from a saved range list after a live update, and the invariant audit.
#include "abi/errno.h"
#include "dom/p2m.hpp"

// Populated RAM must be preserved guest_ram of this domain. Frames of one allocator block
// share their entry's type and owner, so checking block by block checks every frame.
namespace {

int check_owned_frames(const FrameTable &table, frame_owner_t owner, u64 mfn, u64 count)
{
    u64 frame = mfn;
    while (frame < mfn + count) {
        if (!table.contains(frame))
            return -BATON_EPERM;
        const FrameEntry &entry = table[frame];
        if (entry.type != FrameType::guest_ram || entry.owner != owner || !entry.has(FRAME_PRESERVED))
            return -BATON_EPERM;
        frame += entry.has(FRAME_BLOCK_HEAD) ? u64{1} << entry.order : 1;
    }
    return 0;
}

} // namespace

int P2m::check_restore_range(const P2mRange &range, const LogDirtyState &log_dirty) const
{
    if ((range.flags & ~P2M_RANGE_FLAGS) != 0 || static_cast<u8>(range.type) >= P2M_TYPE_COUNT ||
        range.type == P2mType::invalid || !p2m_access_valid(range.access))
        return -BATON_EINVAL;
    if (int error = check_span(range.gfn, range.count))
        return error;
    // Populated RAM is RAM; only populated RAM is ever covered.
    if ((range.owned() && !p2m_type_is_ram(range.type)) || (range.covered() && !range.owned()))
        return -BATON_EINVAL;
    // While log-dirty is on, writable RAM is stored as log_dirty, and only then.
    if ((range.type == P2mType::log_dirty && !log_dirty.enabled) ||
        (range.type == P2mType::ram_rw && log_dirty.enabled))
        return -BATON_EINVAL;
    if (range.type == P2mType::mmio_emulated)
        return range.mfn == 0 ? 0 : -BATON_EINVAL;
    if (!range.owned())
        return check_frames(range.mfn, range.count, range.type == P2mType::mmio ? P2mType::mmio : P2mType::ram_rw);
    u64 end = 0;
    if (add_overflows(range.mfn, range.count, &end) || end > npt::MFN_LIMIT)
        return -BATON_ERANGE;
    return check_owned_frames(frames_->table(), owner_, range.mfn, range.count);
}

// Every covered range lies wholly under mappings that are not populated RAM.
bool P2m::covered_ranges_hidden() const
{
    for (const P2mRange &covered : covered_) {
        u64 seen = 0;
        bool hidden = true;
        visible_.for_each_in(covered.gfn, covered.count, [&](const P2mRange &piece) {
            seen += piece.count;
            hidden &= !piece.owned();
        });
        if (!hidden || seen != covered.count)
            return false;
    }
    return true;
}

int P2m::restore(const P2mRange *ranges, usize count, const LogDirtyState &log_dirty)
{
    Change guard(*this);
    if (ready())
        return -BATON_EBUSY;
    if (count != 0 && ranges == nullptr)
        return -BATON_EINVAL;

    // Everything is checked before anything is built.
    u64 visible_end = 0, covered_end = 0, owned = 0, ram_end = 0;
    usize visible_count = 0, covered_count = 0;
    for (usize i = 0; i < count; i++) {
        const P2mRange &range = ranges[i];
        if (int error = check_restore_range(range, log_dirty))
            return error;
        u64 &layer_end = range.covered() ? covered_end : visible_end;
        if (range.gfn < layer_end)
            return -BATON_EINVAL; // unsorted or overlapping within its layer
        layer_end = range.end();
        (range.covered() ? covered_count : visible_count)++;
        if (range.owned())
            owned += range.count;
        if (p2m_type_is_ram(range.type) && range.end() > ram_end)
            ram_end = range.end();
    }
    if (log_dirty.enabled && log_dirty.guest_frames < ram_end)
        return -BATON_EINVAL;

    if (int error = tables_.init(frames_, owner_))
        return error;
    int error = visible_.reserve(visible_count);
    if (error == 0)
        error = covered_.reserve(covered_count);
    if (error == 0) {
        for (usize i = 0; i < count; i++)
            (ranges[i].covered() ? covered_ : visible_).insert(ranges[i]);
        if (!covered_ranges_hidden())
            error = -BATON_EINVAL;
    }
    if (error == 0 && log_dirty.enabled)
        error = dirty_.adopt(log_dirty);
    // Hidden: the leaf tables are not zeroed, because mark_all_stale() below hides them
    // until a fault fills each one whole.
    for (usize i = 0; error == 0 && i < visible_.count(); i++)
        error = tables_.prepare_hidden(visible_[i].gfn, visible_[i].count);
    if (error != 0) {
        forget_all(); // adopted frames stay allocated: they are the caller's again
        return error;
    }
    // The leaves are filled on first touch, a whole leaf table per nested fault, as after
    // a global type change: restoring costs the tables' count, not the guest's pages, so
    // the update's blackout does not grow with guest RAM.
    tables_.mark_all_stale();
    ram_frames_ = owned;
    return 0;
}

u64 P2m::audit() const
{
    MmReadGuard guard(lock_);
    if (!ready())
        return 0;
    u64 problems = tables_.audit(source());
    u64 owned = 0;
    const bool tracking = dirty_.enabled();
    const P2mRangeList *const lists[] = {&visible_, &covered_};
    for (const P2mRangeList *list : lists) {
        const bool covered_list = list == &covered_;
        for (usize i = 0; i < list->count(); i++) {
            const P2mRange &range = (*list)[i];
            if (i + 1 < list->count() &&
                (range.end() > (*list)[i + 1].gfn || P2mRangeList::mergeable(range, (*list)[i + 1])))
                problems++; // unsorted, overlapping or not merged
            if (range.covered() != covered_list || (covered_list && !range.owned()))
                problems++;
            if ((range.type == P2mType::log_dirty && !tracking) || (range.type == P2mType::ram_rw && tracking))
                problems++;
            if (tracking && p2m_type_is_ram(range.type) && range.end() > dirty_.guest_frames())
                problems++;
            if (range.owned())
                owned += range.count;
            // Every frame the guest may reach needs its leaf slot (one check per leaf table).
            for (u64 gfn = range.gfn; !covered_list && gfn < range.end();
                 gfn = (gfn & ~(npt::FRAMES_PER_LEAF_TABLE - 1)) + npt::FRAMES_PER_LEAF_TABLE) {
                if (mapping_of(gfn).present && !tables_.has_leaf_table(gfn))
                    problems++;
            }
        }
    }
    if (!covered_ranges_hidden())
        problems++;
    if (owned != ram_frames_)
        problems++;
    return problems + views_.audit();
}
