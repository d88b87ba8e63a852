// SPDX-License-Identifier: MIT
// AMD64 nested page tables: the 4-level format SVM nested paging walks, as a p2m cache.
#pragma once
#include "mm/frames.hpp"

// Pure logic: tables live in frames reached through the direct map and no privileged
// instruction is used, so this compiles for host tests too. The hypervisor loads root()
// into the VMCB's N_CR3 and flushes the guest's ASID when the owner asks for it.
namespace npt {

// Entry bits: the long-mode format (AMD APM vol. 2, 15.25 "Nested Paging").
inline constexpr u64 PRESENT = u64{1} << 0;
inline constexpr u64 WRITABLE = u64{1} << 1;
// Guest accesses go through the nested tables as user accesses: every entry needs U/S or
// the guest's first fetch takes a nested page fault.
inline constexpr u64 USER = u64{1} << 2;
inline constexpr u64 WRITE_THROUGH = u64{1} << 3;
inline constexpr u64 CACHE_DISABLE = u64{1} << 4;
inline constexpr u64 ACCESSED = u64{1} << 5;
inline constexpr u64 DIRTY = u64{1} << 6;
inline constexpr u64 LARGE = u64{1} << 7;
// Software bit (AVL) on a non-present table entry that still points at its table: the
// subtree is stale and is recomputed from the p2m before it is used again.
inline constexpr u64 STALE = u64{1} << 9;
inline constexpr u64 NO_EXECUTE = u64{1} << 63; // needs EFER.NXE on the host (set at boot)
inline constexpr u64 ADDRESS_MASK = 0x000ffffffffff000;

inline constexpr unsigned LEVELS = 4;
inline constexpr unsigned ENTRIES = 512;
inline constexpr u64 GFN_LIMIT = u64{1} << 36; // four levels: 48-bit guest-physical addresses
inline constexpr u64 MFN_LIMIT = u64{1} << 40; // 52-bit machine addresses
inline constexpr u64 FRAMES_PER_LEAF_TABLE = ENTRIES;

// What one guest frame maps to, independent of any table format.
struct Mapping {
    u64 mfn = 0;
    bool present = false;
    bool writable = false;
    bool executable = false;
    bool uncached = false; // device memory: PCD|PWT selects UC in the host's PAT
    constexpr bool operator==(const Mapping &) const = default;
};

constexpr u64 table_entry(u64 table_phys) { return (table_phys & ADDRESS_MASK) | PRESENT | WRITABLE | USER; }
// Tables grant everything; leaves alone decide, so one leaf change never needs a walk up.
constexpr u64 leaf_entry(const Mapping &mapping)
{
    if (!mapping.present)
        return 0;
    u64 entry = ((mapping.mfn << 12) & ADDRESS_MASK) | PRESENT | USER;
    if (mapping.writable)
        entry |= WRITABLE;
    if (!mapping.executable)
        entry |= NO_EXECUTE;
    if (mapping.uncached)
        entry |= CACHE_DISABLE | WRITE_THROUGH;
    return entry;
}
constexpr Mapping decode_leaf(u64 entry)
{
    if ((entry & PRESENT) == 0)
        return {};
    return {(entry & ADDRESS_MASK) >> 12, true, (entry & WRITABLE) != 0, (entry & NO_EXECUTE) == 0,
            (entry & CACHE_DISABLE) != 0};
}
// Index of `gfn` in the table at `level` (4: PML4 ... 1: leaf table).
constexpr unsigned index_at(u64 gfn, unsigned level) { return (gfn >> (9 * (level - 1))) & (ENTRIES - 1); }

// A nested page fault's EXITINFO1 (error code; bit 32: the final guest-physical address,
// bit 33: an access of the guest's own page tables). EXITINFO2 holds the address.
struct FaultInfo {
    bool present = false; // a protection fault, not a missing entry
    bool write = false; // includes A/D updates of guest page tables
    bool user = false; // the guest itself was at CPL 3
    bool reserved_bit = false; // a malformed entry: a hypervisor bug
    bool fetch = false;
    bool final_address = false;
    bool guest_table_walk = false;
};
constexpr FaultInfo decode_fault(u64 exitinfo1)
{
    return {(exitinfo1 & 1) != 0,
            (exitinfo1 & 2) != 0,
            (exitinfo1 & 4) != 0,
            (exitinfo1 & 8) != 0,
            (exitinfo1 & 16) != 0,
            (exitinfo1 & (u64{1} << 32)) != 0,
            (exitinfo1 & (u64{1} << 33)) != 0};
}

// What the hardware would see for one guest frame: rights are the AND (NX the OR) of
// every level, and a stale or missing entry anywhere means a fault.
struct Translation {
    bool present = false;
    bool writable = false;
    bool executable = false;
    bool user = false;
    bool uncached = false;
    u64 mfn = 0;
};

// Where leaves come from: the p2m computes each one from its ranges and log-dirty state.
using LeafFn = Mapping (*)(const void *context, u64 gfn);
struct LeafSource {
    LeafFn function;
    const void *context;
    Mapping operator()(u64 gfn) const { return function(context, gfn); }
};

enum class Refresh : u8 {
    unchanged, // the path was present and the leaf already right
    changed, // a stale mark was opened or the leaf rewritten
    missing_table, // the leaf should be present but has no table: a caller skipped prepare()
};

// One guest's nested page tables. Frames are ephemeral page_table frames owned by the
// domain: they die with this image and are rebuilt from the p2m's ranges after an update.
// 4 KiB leaves only. Not locked: the owner serializes every call (the p2m lock).
class NestedPageTable final {
public:
    constexpr NestedPageTable() = default;
    NestedPageTable(const NestedPageTable &) = delete;
    NestedPageTable &operator=(const NestedPageTable &) = delete;

    // Allocates an empty root. -BATON_EBUSY if already built, -BATON_ENOMEM.
    [[nodiscard]] int init(FrameAllocator *frames, frame_owner_t owner);
    bool ready() const { return root_ != 0; }
    u64 root() const { return root_; } // physical address for N_CR3
    u64 table_frames() const { return table_frames_; }

    // Allocates every missing table on the path of each frame in [gfn, gfn + count) (the
    // caller checked the bounds). Leaves are untouched. On -BATON_ENOMEM the tables made so
    // far stay, empty and harmless, until destroy().
    [[nodiscard]] int prepare(u64 gfn, u64 count);
    // prepare() for a table that mark_all_stale() then hides whole before anything walks
    // it (P2m::restore): leaf tables are left as the allocator gave them, since opening
    // their stale parent fills all 512 entries before the hardware or a walker can see
    // them. Zeroing them cost 5 ms of the blackout per 4 GiB of guest RAM under TCG.
    [[nodiscard]] int prepare_hidden(u64 gfn, u64 count);
    // Rewrites the leaves of [gfn, gfn + count) from `source`, opening stale marks on the
    // way. Never allocates: a frame without a table must map to nothing (panics otherwise).
    void sync(u64 gfn, u64 count, const LeafSource &source);
    // The nested-fault path: opens stale marks on gfn's path and rewrites its leaf.
    Refresh refresh(u64 gfn, const LeafSource &source);

    // A global change: every top-level entry goes stale (at most 512 writes). Subtrees are
    // recomputed on demand, one level per touch, whole leaf tables at the bottom.
    void mark_all_stale();
    // Opens every stale mark: afterwards each leaf equals source(gfn).
    void resolve_all(const LeafSource &source);
    u64 stale_entries() const { return stale_; }

    Translation translate(u64 gfn) const;
    // The raw leaf entry even under a stale mark (undefined under the marks of a
    // prepare_hidden() table until opened); 0 when it has no table.
    u64 leaf(u64 gfn) const;
    // Whether gfn's leaf slot exists (its path may be stale).
    bool has_leaf_table(u64 gfn) const;
    // Leaves under fully present paths that differ from source(gfn), plus present entries
    // lacking U/S: 0 means the cache is exact wherever the hardware can see it.
    u64 audit(const LeafSource &source) const;

    // Frees every table. The object can be init()ed again.
    void destroy();

private:
    u64 alloc_table(bool zeroed = true);
    [[nodiscard]] int prepare_paths(u64 gfn, u64 count, bool zero_leaf_tables);
    void open(u64 *entry, unsigned level, u64 first_gfn, const LeafSource &source);
    void fill_leaf_table(u64 table_phys, u64 first_gfn, const LeafSource &source);
    void resolve_table(u64 table_phys, unsigned level, u64 first_gfn, const LeafSource &source);
    u64 audit_table(u64 table_phys, unsigned level, u64 first_gfn, const LeafSource &source) const;
    void free_table(u64 table_phys, unsigned level);

    FrameAllocator *frames_ = nullptr;
    frame_owner_t owner_ = OWNER_NONE;
    u64 root_ = 0;
    u64 table_frames_ = 0;
    u64 stale_ = 0;
};

} // namespace npt
