// SPDX-License-Identifier: MIT
// A p2m's alternate views: their list, life cycle, overrides, and keeping them in step.
#pragma once
#include "dom/p2m_view.hpp"

class P2m;

// Views are numbered 1..P2M_MAX_VIEWS; P2M_HOST_VIEW (0) is the host p2m's own tables and
// always exists. A view starts as the host view and differs only where overridden. Its
// tables are a cache like the host's, filled on first touch; every host change and every
// dirty-bit change reaches the view leaves that show the frames it touched (docs/p2m.md,
// "Alternate views").
//
// Ownership: a P2mViews lives inside its P2m (P2m::views()) and owns the views' tables and
// override storage, frames of the domain. It reads the host only through what a view
// shows (P2m::shown_at, mapping_shown, entry_of), the host's ranges and tables, and moves
// the host's TLB generation when it takes rights away.
//
// Locking: every public entry point takes the host's p2m lock — the write side to change
// anything (Locked, which also shoots down what a change took away, as P2m's changes do),
// the read side to look (ReadLocked) — then the view-list lock, then one view's own lock
// at a time. The maintenance calls the host makes (prepare, sync, ...) run under the p2m
// lock the host already holds.
class P2mViews final {
public:
    P2mViews(P2m &host, FrameAllocator &frames, frame_owner_t owner);
    P2mViews(const P2mViews &) = delete;
    P2mViews &operator=(const P2mViews &) = delete;

    // Creates a view: at `index`, or at the lowest free index when `index` is 0. Returns the
    // index, or -BATON_EEXIST (index taken), -BATON_ENOSPC (all exist), -BATON_EINVAL (bad
    // index, or no p2m yet), -BATON_ENOMEM (nothing is left allocated).
    [[nodiscard]] int create(u16 index = 0);
    // -BATON_ENOENT if it does not exist, -BATON_EBUSY while a vCPU runs in it.
    [[nodiscard]] int destroy(u16 index);
    // [gfn, gfn + count) shows its own frames with `access` (a remap there is dropped).
    [[nodiscard]] int set_access(u16 index, u64 gfn, u64 count, P2mAccess access);
    // [gfn, gfn + count) shows the host view's frames of [target_gfn, target_gfn + count)
    // with `access`. The target must be the domain's populated RAM, visible or covered by
    // an extra page (-BATON_EPERM).
    [[nodiscard]] int remap(u16 index, u64 gfn, u64 target_gfn, u64 count, P2mAccess access);
    // [gfn, gfn + count) shows the host view again.
    [[nodiscard]] int reset(u16 index, u64 gfn, u64 count);
    // Errors of the three: -BATON_ENOENT (no such view), -BATON_EINVAL (index 0, a count of
    // 0, rights x86 cannot express), -BATON_ERANGE, -BATON_ENOMEM (the view is unchanged).

    // A vCPU starts (stops) running in `index`. -BATON_ENOENT if it does not exist; the
    // host view always does.
    [[nodiscard]] int enter(u16 index);
    void leave(u16 index);
    bool exists(u16 index) const;
    u16 count() const;
    u32 users(u16 index) const;
    // The nested root a vCPU in view `index` runs on (0 if it does not exist).
    u64 root(u16 index) const;
    // What the guest sees at gfn in that view (P2m::lookup for the host view).
    P2mEntry lookup(u16 index, u64 gfn) const;
    npt::Translation translate(u16 index, u64 gfn) const;
    // The overrides of view `index` in gfn order; visit runs under the locks (no p2m calls).
    template <typename Visit>
    void for_each_entry(u16 index, Visit &&visit) const
    {
        const ReadLocked locked(*this);
        if (const P2mView *view = find(index)) {
            MmLockGuard one(view->lock());
            view->for_each_entry(visit);
        }
    }

private:
    friend class P2m;

    // The host's p2m lock (write side), then the view list: what every change holds. On
    // release the host finishes the change (its TLB shootdown, if one was asked for).
    class Locked final {
    public:
        explicit Locked(P2mViews &views);
        ~Locked();
        Locked(const Locked &) = delete;
        Locked &operator=(const Locked &) = delete;

    private:
        P2mViews &views_;
    };
    // The host's p2m lock (read side), then the view list: what every look holds.
    class ReadLocked final {
    public:
        explicit ReadLocked(const P2mViews &views);
        ~ReadLocked();
        ReadLocked(const ReadLocked &) = delete;
        ReadLocked &operator=(const ReadLocked &) = delete;

    private:
        const P2mViews &views_;
    };

    // --- what the host calls, under its p2m lock ---------------------------------------------
    // Room in every view's tables for [gfn, gfn + count). -BATON_ENOMEM: tables made so far
    // stay, empty and harmless.
    [[nodiscard]] int prepare(u64 gfn, u64 count);
    // Host frames [gfn, gfn + count) changed: every view leaf that shows them is rewritten.
    void sync(u64 gfn, u64 count);
    void mark_stale();
    void resolve_all();
    void destroy_all();
    u64 audit() const;
    // The view a vCPU runs in, and what it shows at gfn; false if the view does not exist.
    [[nodiscard]] bool shown_at(u16 index, u64 gfn, P2mShown *shown) const;
    // The leaf of gfn in view `index`'s tables (the view exists).
    npt::Refresh refresh(u16 index, u64 gfn);

    const P2mView *find(u16 index) const;
    P2mView *find(u16 index);
    npt::LeafSource source(const P2mView &view) const { return {&P2mViews::leaf_of, &view}; }
    static npt::Mapping leaf_of(const void *view, u64 gfn);
    [[nodiscard]] int prepare_view(P2mView &view) const;
    [[nodiscard]] int change(u16 index, u64 gfn, u64 count, const P2mViewEntry &entry);

    P2m &host_;
    mutable MmLock lock_;
    P2mView views_[P2M_MAX_VIEWS];
};
