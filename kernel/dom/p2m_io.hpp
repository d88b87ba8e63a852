// SPDX-License-Identifier: MIT
// The p2m's IO mapping listener: how an IOMMU's tables for a domain follow its p2m.
#pragma once
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
