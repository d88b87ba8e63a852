// SPDX-License-Identifier: MIT
// A p2m's alternate views: their list, life cycle, overrides, and keeping them in step.
#include "dom/p2m_views.hpp"
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "lib/log.hpp"

// Locking: every function here runs under the p2m lock (the host ranges and the bitmap
// are what views show; the write side for changes) and takes the view-list lock, then one
// view lock at a time.

P2mViews::P2mViews(P2m &host, FrameAllocator &frames, frame_owner_t owner)
    : host_(host), lock_(MmLockLevel::altp2m_list, "altp2m list", owner)
{
    for (P2mView &view : views_)
        view.attach(&host, &frames, owner);
}

P2mViews::Locked::Locked(P2mViews &views) : views_(views)
{
    views_.host_.lock_.lock();
    views_.lock_.lock();
}

P2mViews::Locked::~Locked()
{
    views_.lock_.unlock();
    views_.host_.finish_change(); // drops the write side, then shoots down if asked
}

P2mViews::ReadLocked::ReadLocked(const P2mViews &views) : views_(views)
{
    views_.host_.lock_.lock_shared();
    views_.lock_.lock();
}

P2mViews::ReadLocked::~ReadLocked()
{
    views_.lock_.unlock();
    views_.host_.lock_.unlock_shared();
}

const P2mView *P2mViews::find(u16 index) const
{
    if (index == P2M_HOST_VIEW || index > P2M_MAX_VIEWS || !views_[index - 1].exists())
        return nullptr;
    return &views_[index - 1];
}

P2mView *P2mViews::find(u16 index) { return const_cast<P2mView *>(static_cast<const P2mViews *>(this)->find(index)); }

npt::Mapping P2mViews::leaf_of(const void *view, u64 gfn)
{
    const P2mView &self = *static_cast<const P2mView *>(view);
    return self.host().mapping_shown(self.host().shown_at(&self, gfn));
}

// --- keeping views in step (the host calls these under its p2m lock) --------------------------

int P2mViews::prepare(u64 gfn, u64 count)
{
    MmLockGuard list(lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (view.exists() && view.tables().prepare(gfn, count) != 0)
            return -BATON_ENOMEM; // tables made so far stay, empty and harmless
    }
    return 0;
}

// Host frames [gfn, gfn + count) changed: rewrite every view leaf that shows them, at their
// own gfn (unless remapped away, which sync computes right anyway) and through remaps.
void P2mViews::sync(u64 gfn, u64 count)
{
    MmLockGuard list(lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (!view.exists())
            continue;
        const npt::LeafSource view_leaves = source(view);
        view.tables().sync(gfn, count, view_leaves);
        view.for_each_alias_of(
            gfn, count, [&](u64 alias, u64 alias_count) { view.tables().sync(alias, alias_count, view_leaves); });
    }
}

void P2mViews::mark_stale()
{
    MmLockGuard list(lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (view.exists())
            view.tables().mark_all_stale();
    }
}

void P2mViews::resolve_all()
{
    MmLockGuard list(lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (view.exists())
            view.tables().resolve_all(source(view));
    }
}

void P2mViews::destroy_all()
{
    MmLockGuard list(lock_);
    for (P2mView &view : views_) {
        MmLockGuard one(view.lock());
        view.destroy();
    }
}

bool P2mViews::shown_at(u16 index, u64 gfn, P2mShown *shown) const
{
    MmLockGuard list(lock_);
    const P2mView *view = find(index);
    if (view == nullptr)
        return false;
    MmLockGuard one(view->lock());
    *shown = host_.shown_at(view, gfn);
    return true;
}

npt::Refresh P2mViews::refresh(u16 index, u64 gfn)
{
    MmLockGuard list(lock_);
    P2mView &view = *find(index);
    MmLockGuard one(view.lock());
    return view.tables().refresh(gfn, source(view));
}

// Leaf slots for every frame the host maps, then every entry stale: the view fills on
// first touch like the host after a restore, and costs its tables, not the guest's pages.
int P2mViews::prepare_view(P2mView &view) const
{
    for (const P2mRange &range : host_.visible_) {
        if (view.tables().prepare(range.gfn, range.count) != 0)
            return -BATON_ENOMEM;
    }
    view.tables().mark_all_stale();
    return 0;
}

// --- life cycle ------------------------------------------------------------------------------

int P2mViews::create(u16 index)
{
    const Locked locked(*this);
    if (!host_.ready() || index > P2M_MAX_VIEWS)
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

int P2mViews::destroy(u16 index)
{
    const Locked locked(*this);
    P2mView *view = find(index);
    if (view == nullptr)
        return -BATON_ENOENT;
    MmLockGuard one(view->lock());
    if (view->users() != 0) {
        log_warn("p2m %u: view %u is in use by %u vCPU(s); switch them away first", host_.owner_, index, view->users());
        return -BATON_EBUSY;
    }
    view->destroy();
    return 0;
}

int P2mViews::enter(u16 index)
{
    const Locked locked(*this);
    if (index == P2M_HOST_VIEW)
        return 0;
    P2mView *view = find(index);
    if (view == nullptr)
        return -BATON_ENOENT;
    MmLockGuard one(view->lock());
    view->enter();
    return 0;
}

void P2mViews::leave(u16 index)
{
    const Locked locked(*this);
    if (P2mView *view = find(index)) {
        MmLockGuard one(view->lock());
        if (view->users() == 0)
            panic("p2m %u: view %u left more often than entered", host_.owner_, index);
        view->leave();
    }
}

bool P2mViews::exists(u16 index) const
{
    const ReadLocked locked(*this);
    return index == P2M_HOST_VIEW ? host_.ready() : find(index) != nullptr;
}

u16 P2mViews::count() const
{
    const ReadLocked locked(*this);
    u16 count = 0;
    for (const P2mView &view : views_)
        if (view.exists())
            count++;
    return count;
}

u32 P2mViews::users(u16 index) const
{
    const ReadLocked locked(*this);
    const P2mView *view = find(index);
    return view != nullptr ? view->users() : 0;
}

u64 P2mViews::root(u16 index) const
{
    if (index == P2M_HOST_VIEW)
        return host_.nested_root();
    const ReadLocked locked(*this);
    const P2mView *view = find(index);
    return view != nullptr ? view->tables().root() : 0;
}

// --- overrides ---------------------------------------------------------------------------------

// Only a remap can show frames where the host view shows none: every frame the host maps
// has its leaf slot in every view already. So rights over any span, the whole guest-physical
// space included, cost no tables, and only the leaves that show frames before or after the
// change are rewritten: those of the old remaps in the span, then those of the new remap or
// of the host's ranges there. The cost follows the ranges, not the span.
int P2mViews::change(u16 index, u64 gfn, u64 count, const P2mViewEntry &entry)
{
    MmLockGuard list(lock_);
    P2mView *view = find(index);
    if (view == nullptr)
        return index == P2M_HOST_VIEW || index > P2M_MAX_VIEWS ? -BATON_EINVAL : -BATON_ENOENT;
    MmLockGuard one(view->lock());
    const bool remap = entry.count != 0 && entry.target_gfn != entry.gfn;
    // Three slots: dropping an old remap splits at most one override, the new one takes
    // one, and replace() keeps a margin of two. Nothing below can fail.
    if ((remap && view->tables().prepare(gfn, count) != 0) || view->reserve(3) != 0)
        return -BATON_ENOMEM;
    const npt::LeafSource leaves = source(*view);
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
        host_.visible_.for_each_in(gfn, count,
                                   [&](const P2mRange &piece) { view->tables().sync(piece.gfn, piece.count, leaves); });
    host_.request_flush(); // rights or frames may have been taken away
    return 0;
}

int P2mViews::set_access(u16 index, u64 gfn, u64 count, P2mAccess access)
{
    P2m::Change guard(host_);
    if (int error = host_.check_span(gfn, count))
        return error;
    if (!p2m_access_valid(access))
        return -BATON_EINVAL;
    return change(index, gfn, count, {gfn, gfn, count, access});
}

int P2mViews::remap(u16 index, u64 gfn, u64 target_gfn, u64 count, P2mAccess access)
{
    P2m::Change guard(host_);
    if (int error = host_.check_span(gfn, count))
        return error;
    if (int error = host_.check_span(target_gfn, count))
        return error;
    if (!p2m_access_valid(access))
        return -BATON_EINVAL;
    // Only the domain's own populated RAM, visible or under an overlay (only populated RAM
    // is ever covered): a view never reaches a frame the host view could not, and what it
    // shows is tracked by the same dirty bits.
    u64 populated = 0;
    host_.visible_.for_each_in(target_gfn, count,
                               [&](const P2mRange &piece) { populated += piece.owned() ? piece.count : 0; });
    host_.covered_.for_each_in(target_gfn, count, [&](const P2mRange &piece) { populated += piece.count; });
    if (populated != count)
        return -BATON_EPERM;
    return change(index, gfn, count, {gfn, target_gfn, count, access});
}

int P2mViews::reset(u16 index, u64 gfn, u64 count)
{
    P2m::Change guard(host_);
    if (int error = host_.check_span(gfn, count))
        return error;
    return change(index, gfn, count, {gfn, gfn, 0, P2mAccess::n});
}

// --- what a view shows ---------------------------------------------------------------------------

P2mEntry P2mViews::lookup(u16 index, u64 gfn) const
{
    if (index == P2M_HOST_VIEW)
        return host_.lookup(gfn);
    const ReadLocked locked(*this);
    const P2mView *view = find(index);
    if (view == nullptr)
        return {};
    MmLockGuard one(view->lock());
    return host_.entry_of(host_.shown_at(view, gfn));
}

npt::Translation P2mViews::translate(u16 index, u64 gfn) const
{
    if (index == P2M_HOST_VIEW)
        return host_.translate(gfn);
    const ReadLocked locked(*this);
    const P2mView *view = find(index);
    if (view == nullptr)
        return {};
    MmLockGuard one(view->lock());
    return view->tables().translate(gfn);
}

u64 P2mViews::audit() const
{
    MmLockGuard list(lock_);
    u64 problems = 0;
    for (const P2mView &view : views_) {
        MmLockGuard one(view.lock());
        if (!view.exists())
            continue;
        problems += view.tables().audit(source(view));
        view.for_each_entry([&](const P2mViewEntry &entry) {
            if (!p2m_access_valid(entry.access) || entry.count == 0)
                problems++;
        });
    }
    return problems;
}
