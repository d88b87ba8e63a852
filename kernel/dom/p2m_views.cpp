// SPDX-License-Identifier: MIT
// The p2m: alternate views, keeping their tables in step with the host p2m, their faults.
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "lib/log.hpp"

// Locking: every function here runs under the p2m lock (the host ranges and the bitmap
// are what views show) and takes the view-list lock, then one view lock at a time.

const P2mView *P2m::find_view(u16 index) const
{
    if (index == P2M_HOST_VIEW || index > P2M_MAX_VIEWS || !views_[index - 1].exists())
        return nullptr;
    return &views_[index - 1];
}

P2mView *P2m::find_view(u16 index) { return const_cast<P2mView *>(static_cast<const P2m *>(this)->find_view(index)); }

npt::Mapping P2m::view_leaf_of(const void *view, u64 gfn)
{
    const P2mView &self = *static_cast<const P2mView *>(view);
    return self.host().mapping_shown(self.host().shown_at(&self, gfn));
}

// --- keeping views in step -----------------------------------------------------------------

int P2m::prepare_tables(u64 gfn, u64 count)
{
    if (tables_.prepare(gfn, count) != 0 || io_.prepare(gfn, count) != 0)
        return -BATON_ENOMEM;
    MmLockGuard list(views_lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (view.exists() && view.tables().prepare(gfn, count) != 0)
            return -BATON_ENOMEM; // tables made so far stay, empty and harmless
    }
    return 0;
}

void P2m::sync_tables(u64 gfn, u64 count)
{
    tables_.sync(gfn, count, source());
    sync_views(gfn, count);
    io_.sync(visible_, gfn, count);
}

// Host frames [gfn, gfn + count) changed: rewrite every view leaf that shows them, at their
// own gfn (unless remapped away, which sync computes right anyway) and through remaps.
void P2m::sync_views(u64 gfn, u64 count)
{
    MmLockGuard list(views_lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (!view.exists())
            continue;
        const npt::LeafSource view_leaves = view_source(view);
        view.tables().sync(gfn, count, view_leaves);
        view.for_each_alias_of(
            gfn, count, [&](u64 alias, u64 alias_count) { view.tables().sync(alias, alias_count, view_leaves); });
    }
}

void P2m::mark_views_stale()
{
    MmLockGuard list(views_lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (view.exists())
            view.tables().mark_all_stale();
    }
}

void P2m::destroy_views()
{
    MmLockGuard list(views_lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        view.destroy();
    }
}

// Leaf slots for every frame the host maps, then every entry stale: the view fills on
// first touch like the host after a restore, and costs its tables, not the guest's pages.
int P2m::prepare_view(P2mView &view) const
{
    for (const P2mRange &range : visible_) {
        if (view.tables().prepare(range.gfn, range.count) != 0)
            return -BATON_ENOMEM;
    }
    view.tables().mark_all_stale();
    return 0;
}

// --- life cycle ------------------------------------------------------------------------------

int P2m::create_view(u16 index)
{
    const ViewsLocked locked(*this);
    if (!ready() || index > P2M_MAX_VIEWS)
        return -BATON_EINVAL;
    if (index == 0) {
        for (u16 candidate = 1; candidate <= P2M_MAX_VIEWS && index == 0; candidate++)
            index = views_[candidate - 1].exists() ? 0 : candidate;
        if (index == 0)
            return -BATON_ENOSPC;
    }
    P2mView &view = views_[index - 1];
    MmLockGuard one(view.lock());
    if (view.exists())
        return -BATON_EEXIST;
    if (view.create() != 0)
        return -BATON_ENOMEM;
    if (prepare_view(view) != 0) {
        view.destroy(); // all or nothing: the tables made so far go with it
        return -BATON_ENOMEM;
    }
    return index;
}

int P2m::destroy_view(u16 index)
{
    const ViewsLocked locked(*this);
    P2mView *view = locked.find(index);
    if (view == nullptr)
        return -BATON_ENOENT;
    MmLockGuard one(view->lock());
    if (view->users() != 0) {
        log_warn("p2m %u: view %u is in use by %u vCPU(s); switch them away first", owner_, index, view->users());
        return -BATON_EBUSY;
    }
    view->destroy();
    return 0;
}

int P2m::enter_view(u16 index)
{
    const ViewsLocked locked(*this);
    if (index == P2M_HOST_VIEW)
        return 0;
    P2mView *view = locked.find(index);
    if (view == nullptr)
        return -BATON_ENOENT;
    MmLockGuard one(view->lock());
    view->enter();
    return 0;
}

void P2m::leave_view(u16 index)
{
    const ViewsLocked locked(*this);
    if (P2mView *view = locked.find(index)) {
        MmLockGuard one(view->lock());
        if (view->users() == 0)
            panic("p2m %u: view %u left more often than entered", owner_, index);
        view->leave();
    }
}

bool P2m::view_exists(u16 index) const
{
    const ViewsLocked locked(*this);
    return index == P2M_HOST_VIEW ? ready() : locked.find(index) != nullptr;
}

u16 P2m::view_count() const
{
    const ViewsLocked locked(*this);
    u16 count = 0;
    for (const P2mView &view : views_)
        if (view.exists())
            count++;
    return count;
}

u32 P2m::view_users(u16 index) const
{
    const ViewsLocked locked(*this);
    const P2mView *view = locked.find(index);
    return view != nullptr ? view->users() : 0;
}

u64 P2m::view_root(u16 index) const
{
    if (index == P2M_HOST_VIEW)
        return tables_.root();
    const ViewsLocked locked(*this);
    const P2mView *view = locked.find(index);
    return view != nullptr ? view->tables().root() : 0;
}

// --- overrides ---------------------------------------------------------------------------------

// Only a remap can show frames where the host view shows none: every frame the host maps
// has its leaf slot in every view already. So rights over any span, the whole guest-physical
// space included, cost no tables, and only the leaves that show frames before or after the
// change are rewritten: those of the old remaps in the span, then those of the new remap or
// of the host's ranges there. The cost follows the ranges, not the span.
int P2m::change_view(u16 index, u64 gfn, u64 count, const P2mViewEntry &entry)
{
    MmLockGuard list(views_lock_);
    P2mView *view = find_view(index);
    if (view == nullptr)
        return index == P2M_HOST_VIEW || index > P2M_MAX_VIEWS ? -BATON_EINVAL : -BATON_ENOENT;
    MmLockGuard one(view->lock());
    const bool remap = entry.count != 0 && entry.target_gfn != entry.gfn;
    // Three slots: dropping an old remap splits at most one override, the new one takes
    // one, and replace() keeps a margin of two. Nothing below can fail.
    if ((remap && view->tables().prepare(gfn, count) != 0) || view->reserve(3) != 0)
        return -BATON_ENOMEM;
    const npt::LeafSource leaves = view_source(*view);
    // Old remaps may lie in host holes: each is dropped and its leaves rewritten before
    // the next is looked for (their spans are not known once the new override is in).
    for (P2mViewEntry old; view->first_remap_in(gfn, count, &old);) {
        (void)view->replace(old.gfn, old.count, {});
        view->tables().sync(old.gfn, old.count, leaves);
    }
    (void)view->replace(gfn, count, entry);
    if (remap)
        view->tables().sync(gfn, count, leaves);
    else
        visible_.for_each_in(gfn, count,
                             [&](const P2mRange &piece) { view->tables().sync(piece.gfn, piece.count, leaves); });
    tlb_generation_++; // rights or frames may have been taken away
    return 0;
}

int P2m::view_set_access(u16 index, u64 gfn, u64 count, P2mAccess access)
{
    MmLockGuard guard(lock_);
    if (int error = check_span(gfn, count))
        return error;
    if (!p2m_access_valid(access))
        return -BATON_EINVAL;
    return change_view(index, gfn, count, {gfn, gfn, count, access});
}

int P2m::view_remap(u16 index, u64 gfn, u64 target_gfn, u64 count, P2mAccess access)
{
    MmLockGuard guard(lock_);
    if (int error = check_span(gfn, count))
        return error;
    if (int error = check_span(target_gfn, count))
        return error;
    if (!p2m_access_valid(access))
        return -BATON_EINVAL;
    // Only the domain's own populated RAM, visible or under an overlay (only populated RAM
    // is ever covered): a view never reaches a frame the host view could not, and what it
    // shows is tracked by the same dirty bits.
    u64 populated = 0;
    visible_.for_each_in(target_gfn, count,
                         [&](const P2mRange &piece) { populated += piece.owned() ? piece.count : 0; });
    covered_.for_each_in(target_gfn, count, [&](const P2mRange &piece) { populated += piece.count; });
    if (populated != count)
        return -BATON_EPERM;
    return change_view(index, gfn, count, {gfn, target_gfn, count, access});
}

int P2m::view_reset(u16 index, u64 gfn, u64 count)
{
    MmLockGuard guard(lock_);
    if (int error = check_span(gfn, count))
        return error;
    return change_view(index, gfn, count, {gfn, gfn, 0, P2mAccess::n});
}

// --- what a view shows ---------------------------------------------------------------------------

P2mEntry P2m::view_lookup(u16 index, u64 gfn) const
{
    if (index == P2M_HOST_VIEW)
        return lookup(gfn);
    const ViewsLocked locked(*this);
    const P2mView *view = locked.find(index);
    if (view == nullptr)
        return {};
    MmLockGuard one(view->lock());
    return entry_of(shown_at(view, gfn));
}

npt::Translation P2m::view_translate(u16 index, u64 gfn) const
{
    if (index == P2M_HOST_VIEW)
        return translate(gfn);
    const ViewsLocked locked(*this);
    const P2mView *view = locked.find(index);
    if (view == nullptr)
        return {};
    MmLockGuard one(view->lock());
    return view->tables().translate(gfn);
}

u64 P2m::audit_views() const
{
    MmLockGuard list(views_lock_);
    u64 problems = 0;
    for (const P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (!view.exists())
            continue;
        problems += view.tables().audit(view_source(view));
        view.for_each_entry([&](const P2mViewEntry &entry) {
            if (!p2m_access_valid(entry.access) || entry.count == 0)
                problems++;
        });
    }
    return problems;
}
