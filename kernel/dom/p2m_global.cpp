// SPDX-License-Identifier: MIT
// The p2m: global type changes, nested page faults and log-dirty mode.
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "lib/log.hpp"

// The ranges change now, so every caller sees the change at once; the tables only get
// their top entries marked stale. A later change marks again: stale entries are
// recomputed from the ranges as they are when they are opened, so changes compose
// without resolving the earlier one first.
void P2m::retype_all(P2mType from, P2mType to, bool takes_rights)
{
    visible_.retype(from, to);
    covered_.retype(from, to);
    tables_.mark_all_stale();
    views_.mark_stale();
    io_.sync_all(visible_); // IO tables have no lazy path: devices do not fault politely
    if (takes_rights)
        request_flush();
}

int P2m::change_type_global(P2mType from, P2mType to)
{
    Change guard(*this);
    if (!ready())
        return -BATON_EINVAL;
    const bool to_read_only = from == P2mType::ram_rw && to == P2mType::ram_ro;
    const bool to_writable = from == P2mType::ram_ro && to == P2mType::ram_rw;
    if (!to_read_only && !to_writable)
        return -BATON_EINVAL;
    if (dirty_.enabled()) {
        log_warn("p2m %u: refusing %s -> %s while log-dirty is on (tracked RAM is log_dirty)", owner_,
                 p2m_type_name(from), p2m_type_name(to));
        return -BATON_EBUSY;
    }
    retype_all(from, to, to_read_only);
    return 0;
}

void P2m::resolve_pending()
{
    Change guard(*this);
    if (!ready())
        return;
    tables_.resolve_all(source());
    views_.resolve_all();
}

// One rule for the host view and every alternate view: the access is judged against
// what the vCPU's view shows (shown_at), and a first write marks the frame it lands in.
NpfAction P2m::judge_fault(u64 gfn, bool write, bool fetch, u16 view, P2mShown *shown) const
{
    if (!ready())
        return NpfAction::crash_internal;
    if (view == P2M_HOST_VIEW) {
        *shown = shown_at(nullptr, gfn);
    } else if (!views_.shown_at(view, gfn, shown)) {
        log_error("p2m %u: a vCPU runs in view %u, which does not exist", owner_, view);
        return NpfAction::crash_internal;
    }
    return access_verdict(*shown, write, fetch);
}

// Faults that only judge (emulated MMIO, crashes) share the lock, so CPUs faulting at once
// do not wait for each other; a fault that fills the tables takes the write side and
// judges again, since anything may have changed while no lock was held.
NpfAction P2m::handle_nested_fault(u64 gpa, bool write, bool fetch, u16 view)
{
    const u64 gfn = gpa >> PAGE_SHIFT;
    P2mShown shown;
    {
        MmReadGuard guard(lock_);
        if (NpfAction verdict = judge_fault(gfn, write, fetch, view, &shown); verdict != NpfAction::retry)
            return verdict;
    }
    Change guard(*this);
    if (NpfAction verdict = judge_fault(gfn, write, fetch, view, &shown); verdict != NpfAction::retry)
        return verdict;

    // The first write since the last clean: the bit is set, and the frame's leaf is
    // rewritten in the host and in every view that shows it (the faulting one included).
    if (write && shown.range->type == P2mType::log_dirty && !dirty_.test(shown.target)) {
        if (!dirty_.set(shown.target)) {
            log_error("p2m %u: log_dirty frame 0x%lx lies outside the dirty bitmap", owner_, shown.target);
            return NpfAction::crash_internal;
        }
        sync_tables(shown.target, 1);
        return NpfAction::retry;
    }
    const npt::Refresh refreshed = view == P2M_HOST_VIEW ? tables_.refresh(gfn, source()) : views_.refresh(view, gfn);
    if (refreshed == npt::Refresh::missing_table) {
        log_error("p2m %u: guest frame 0x%lx is mapped in view %u but has no nested table", owner_, gfn, view);
        return NpfAction::crash_internal;
    }
    // The tables already allowed the access: the fault came from a stale TLB entry.
    if (refreshed == npt::Refresh::unchanged)
        request_flush();
    return NpfAction::retry;
}

int P2m::enable_log_dirty()
{
    Change guard(*this);
    if (!ready())
        return -BATON_EINVAL;
    if (dirty_.enabled()) {
        log_warn("p2m %u: log-dirty is already on", owner_);
        return -BATON_EBUSY;
    }
    if (io_.attached()) {
        log_warn("p2m %u: refusing log-dirty while a device is assigned (its DMA writes would not be tracked)", owner_);
        return -BATON_EBUSY;
    }
    if (int error = dirty_.enable(ram_span()))
        return error;
    retype_all(P2mType::ram_rw, P2mType::log_dirty, true);
    return 0;
}

int P2m::disable_log_dirty()
{
    Change guard(*this);
    if (!dirty_.enabled())
        return -BATON_EINVAL;
    // Only rights are added, so no flush: a stale entry is stricter and faults into refresh.
    retype_all(P2mType::log_dirty, P2mType::ram_rw, false);
    dirty_.disable();
    return 0;
}

i64 P2m::read_dirty(u64 first_gfn, u64 count, DirtyBits &out, bool clean)
{
    Change guard(*this);
    if (!dirty_.enabled())
        return -BATON_EINVAL;
    if (count > DIRTY_READ_MAX_FRAMES)
        return -BATON_E2BIG;
    u64 end = 0;
    if (add_overflows(first_gfn, count, &end) || end > gfn_limit_)
        return -BATON_ERANGE;
    // The bits are copied (and cleared) under the log-dirty lock, which the copy alone
    // holds; then each cleaned frame is write-protected again under the p2m lock. So a bit
    // is cleared before its frame is protected: a guest write that slips in between lands
    // before the caller copies the page, one after the protection faults and sets the bit
    // again. The other order could clear a bit a fault just set.
    const u64 found = dirty_.read(first_gfn, count, out, clean);
    if (clean && found != 0) {
        out.for_each_dirty([&](u64 gfn) { sync_tables(gfn, 1); });
        request_flush(); // returns once no CPU can write through the old leaves
    }
    return static_cast<i64>(found);
}

u64 P2m::dirty_count() const
{
    MmReadGuard guard(lock_);
    return dirty_.count();
}

LogDirtyState P2m::log_dirty_state() const
{
    MmReadGuard guard(lock_);
    return dirty_.state();
}

// Most hypervisor writes land in frames already dirty: those need only the read side. A
// frame still clean has its leaf rewritten (writable again), which takes the write side.
void P2m::mark_dirty(u64 gfn)
{
    {
        MmReadGuard guard(lock_);
        if (!dirty_.enabled() || dirty_.test(gfn))
            return;
    }
    Change guard(*this);
    if (dirty_.enabled() && dirty_.set(gfn))
        sync_tables(gfn, 1);
}
