// SPDX-License-Identifier: MIT
// An alternate p2m view: the host p2m seen through overrides of rights and of frames.
#pragma once
#include "abi/errno.h"
#include "arch/arch.hpp"
#include "dom/p2m_ranges.hpp"
#include "mm/mm_lock.hpp"

// Views per domain, numbered 1..P2M_MAX_VIEWS; 0 names the host p2m itself. The record
// schema's altp2mMaxViews has the same value (kernel/update/serialize.cpp checks).
inline constexpr u16 P2M_MAX_VIEWS = 8;
inline constexpr u16 P2M_HOST_VIEW = 0;

class P2m;

// What a view (or the host view) shows at a guest frame: the host's range at `target` (the
// frame itself unless remapped) with the view's rights. One rule for lookups and faults.
struct P2mShown {
    u64 target = 0;
    const P2mRange *range = nullptr; // nullptr: nothing mapped
    P2mAccess access = P2mAccess::n;
    bool remapped = false;
};

// One override: guest frames [gfn, gfn + count) show what the host view shows at
// [target_gfn, target_gfn + count), with these rights. target_gfn == gfn keeps the frames
// and changes only the rights.
struct P2mViewEntry {
    u64 gfn = 0;
    u64 target_gfn = 0;
    u64 count = 0;
    P2mAccess access = P2mAccess::n;
    constexpr bool operator==(const P2mViewEntry &) const = default;
};

// A view names guest frames of its own domain, never machine frames: it owns no memory,
// what it shows follows the host p2m as that changes, and the one dirty bitmap (kept per
// guest frame) records writes through every view (docs/p2m.md, "Alternate views").
//
// The overrides are kept in a P2mRangeList, whose sorting, splitting and merging they
// need exactly: an override is stored as a range whose `mfn` holds the target guest frame
// (so remaps of consecutive frames merge like consecutive machine frames do) and whose
// type is always ram_rw (a type with frames, so clipping advances the target).
//
// Locking: the view's own lock (level altp2m) guards the overrides and tables; the owning
// p2m takes it inside its p2m lock and the view-list lock, one view at a time.
class P2mView final {
public:
    constexpr P2mView() = default;
    P2mView(const P2mView &) = delete;
    P2mView &operator=(const P2mView &) = delete;

    void attach(const P2m *host, FrameAllocator *frames, frame_owner_t owner)
    {
        host_ = host;
        frames_ = frames;
        owner_ = owner;
        overrides_.attach(frames, owner);
        lock_.set_domain(owner);
    }

    bool exists() const { return tables_.ready(); }
    const P2m &host() const { return *host_; }
    MmLock &lock() const { return lock_; }
    npt::NestedPageTable &tables() { return tables_; }
    const npt::NestedPageTable &tables() const { return tables_; }
    u32 users() const { return users_; }
    void enter() { users_++; }
    void leave() { users_--; }

    // The root table. -BATON_ENOMEM leaves the view absent.
    [[nodiscard]] int create() { return tables_.init(frames_, owner_); }
    // Frees the tables and the override storage: the view no longer exists.
    void destroy()
    {
        overrides_.release();
        tables_.destroy();
        users_ = 0;
    }

    // The override holding gfn, or nullptr (the host view shows through).
    const P2mRange *find(u64 gfn) const { return overrides_.find(gfn); }
    static P2mViewEntry entry_of(const P2mRange &stored)
    {
        return {stored.gfn, stored.mfn, stored.count, stored.access};
    }
    static P2mRange stored_of(const P2mViewEntry &entry)
    {
        return {entry.gfn, entry.target_gfn, entry.count, P2mType::ram_rw, entry.access, 0};
    }
    template <typename Visit>
    void for_each_entry(Visit &&visit) const
    {
        for (const P2mRange &stored : overrides_)
            visit(entry_of(stored));
    }
    // Calls visit(gfn, count) for each span of this view that shows host frames of
    // [target, target + count) through a remap (not the frames at their own gfn).
    template <typename Visit>
    void for_each_alias_of(u64 target, u64 count, Visit &&visit) const
    {
        const u64 limit = target + count;
        for (const P2mRange &stored : overrides_) {
            if (stored.mfn == stored.gfn || stored.mfn >= limit || stored.mfn + stored.count <= target)
                continue;
            const u64 first = stored.mfn > target ? stored.mfn : target;
            const u64 last = stored.mfn + stored.count < limit ? stored.mfn + stored.count : limit;
            visit(stored.gfn + (first - stored.mfn), last - first);
        }
    }

    // The first remap (an override that shows other frames, not just other rights) inside
    // [gfn, gfn + count), clipped; false if there is none.
    [[nodiscard]] bool first_remap_in(u64 gfn, u64 count, P2mViewEntry *found) const
    {
        bool seen = false;
        overrides_.for_each_in(gfn, count, [&](const P2mRange &piece) {
            if (!seen && piece.mfn != piece.gfn) {
                *found = entry_of(piece);
                seen = true;
            }
        });
        return seen;
    }

    // Room for `extra` more overrides, so that the replace() calls that follow cannot fail.
    [[nodiscard]] int reserve(usize extra) { return overrides_.reserve(extra); }
    // [gfn, gfn + count) gets the one override `entry` (count 0: none, the host view shows
    // through again), whatever overrides it had. -BATON_ENOMEM leaves them as they were.
    [[nodiscard]] int replace(u64 gfn, u64 count, const P2mViewEntry &entry)
    {
        if (overrides_.reserve(2) != 0)
            return -BATON_ENOMEM;
        overrides_.remove(gfn, count);
        if (entry.count != 0)
            overrides_.insert(stored_of(entry));
        return 0;
    }

private:
    mutable MmLock lock_{MmLockLevel::altp2m, "altp2m view"};
    const P2m *host_ = nullptr;
    FrameAllocator *frames_ = nullptr;
    frame_owner_t owner_ = OWNER_NONE;
    P2mRangeList overrides_;
    npt::NestedPageTable tables_;
    u32 users_ = 0;
};
