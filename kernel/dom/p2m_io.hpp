// SPDX-License-Identifier: MIT
// The p2m's IO mapping listener: how an IOMMU's tables for a domain follow its p2m.
#pragma once
#include "dom/p2m_ranges.hpp"
#include "dom/p2m_types.hpp"

// What a device assigned to the domain may do at one guest frame through the IOMMU.
struct IoRights {
    bool read = false;
    bool write = false;
    constexpr bool any() const { return read || write; }
    constexpr bool operator==(const IoRights &) const = default;
};

// The one rule (docs/iommu.md, "The sync rule"): devices reach RAM only (populated RAM and
// extra pages), never device frames (no peer-to-peer) or emulated frames; they read where
// the guest may read, and write where the guest may write RAM that is writable by type.
// log_dirty never meets a device: log-dirty mode and assignment exclude each other,
// because DMA writes would bypass the dirty bitmap. It is listed as writable so that the
// rule stays total (a device must never lose write access under a running transfer).
constexpr IoRights p2m_io_rights(P2mType type, P2mAccess access)
{
    if (!p2m_type_is_ram(type) || !access_reads(access))
        return {};
    const bool writable_type = type == P2mType::ram_rw || type == P2mType::log_dirty;
    return {true, writable_type && access_writes(access)};
}

// Implemented by the IOMMU side (arch code; a fake in host tests). The p2m calls it under
// its own lock, in the same places it keeps its nested tables and views in step, so the IO
// tables are a cache of the visible ranges exactly like the nested tables are: io_set()
// for every change, then one io_flush() per operation. Calls must not reenter the p2m.
class P2mIoListener {
public:
    // Room for the IO mappings of [gfn, gfn + count) before a change that must not fail
    // half-way: 0 or -BATON_ENOMEM (tables made so far stay, empty and harmless).
    [[nodiscard]] virtual int io_prepare(u64 gfn, u64 count) = 0;
    // [gfn, gfn + count) maps [mfn, mfn + count) with `rights` (none: not mapped). Cannot
    // fail for a span io_prepare() covered; frames the IO tables cannot address are skipped.
    virtual void io_set(u64 gfn, u64 mfn, u64 count, IoRights rights) = 0;
    // The io_set() calls of one p2m operation are done: the unit must forget what it cached
    // of [gfn, gfn + count) (count P2M_IO_ALL: everything of this domain).
    virtual void io_flush(u64 gfn, u64 count) = 0;
    // The p2m is being destroyed and its RAM is about to be freed: every device of the
    // domain must be blocked (and the unit's caches invalidated) before this returns.
    virtual void io_detach() = 0;

protected:
    ~P2mIoListener() = default;
};

inline constexpr u64 P2M_IO_ALL = ~u64{0};

// The p2m's side of the mirroring: the attached listener and what it must hold, written from
// the visible ranges. Not locked itself: its P2m calls it under the p2m lock, in the places
// it keeps its own tables in step.
class P2mIoMirror final {
public:
    bool attached() const { return listener_ != nullptr; }
    // Attaches `listener`. With `rewrite`, room for every visible range the rule maps, then
    // every leaf written (-BATON_ENOMEM: nothing stays attached); without, the listener's
    // tables already say what `visible` says (adopted after a live update).
    [[nodiscard]] int attach(P2mIoListener &listener, const P2mRangeList &visible, bool rewrite);
    // Forgets the listener (its devices were blocked by the caller).
    void detach() { listener_ = nullptr; }
    // The domain's RAM is about to be freed: the listener blocks every device, then is forgotten.
    void release();
    // Room for [gfn, gfn + count) in the listener's tables; 0 when none is attached.
    [[nodiscard]] int prepare(u64 gfn, u64 count) const;
    // The listener's leaves of [gfn, gfn + count) rewritten to what `visible` says (holes
    // unmapped), then one flush.
    void sync(const P2mRangeList &visible, u64 gfn, u64 count) const;
    // Every visible range rewritten (after a global type change: same ranges, new rights).
    void sync_all(const P2mRangeList &visible) const;

private:
    P2mIoListener *listener_ = nullptr;
};
