// SPDX-License-Identifier: MIT
// Intel VT-d formats: registers and capabilities, root/context entries, fault records,
// and the tables built from them (root + context tables, second-level IO page tables).
#pragma once
#include "arch/x86_64/iommu/io_pte.hpp"
#include "mm/frames.hpp"

// Pure logic: tables live in frames reached through the direct map and nothing here
// touches a register, so it compiles for host tests. The driver (iommu_vtd.cpp) owns the
// registers, the invalidations and the cache flushes. Layouts: Intel VT-d specification,
// chapters 9 (translation structures) and 11 (registers), legacy (non-scalable) mode.
namespace vtd {

// Register offsets from the unit's base (chapter 11).
inline constexpr u32 REG_VERSION = 0x00, REG_CAPABILITY = 0x08, REG_EXTENDED_CAPABILITY = 0x10,
                     REG_GLOBAL_COMMAND = 0x18, REG_GLOBAL_STATUS = 0x1c, REG_ROOT_TABLE = 0x20,
                     REG_CONTEXT_COMMAND = 0x28, REG_FAULT_STATUS = 0x34, REG_FAULT_EVENT_CONTROL = 0x38,
                     REG_INVALIDATION_QUEUE_TAIL = 0x88;
// Global command / status bits (the same positions in both registers).
inline constexpr u32 GLOBAL_TRANSLATION = 1u << 31, GLOBAL_ROOT_POINTER = 1u << 30, GLOBAL_FAULT_LOG = 1u << 29,
                     GLOBAL_ADVANCED_FAULT_LOG = 1u << 28, GLOBAL_WRITE_BUFFER_FLUSH = 1u << 27,
                     GLOBAL_QUEUED_INVALIDATION = 1u << 26, GLOBAL_INTERRUPT_REMAPPING = 1u << 25,
                     GLOBAL_INTERRUPT_POINTER = 1u << 24, GLOBAL_COMPATIBILITY_FORMAT = 1u << 23;
// Command bits that act once when written as 1 (they read back as status, not state):
// a read-modify-write of GCMD from GSTS must drop them.
inline constexpr u32 GLOBAL_ONE_SHOT =
    GLOBAL_ROOT_POINTER | GLOBAL_FAULT_LOG | GLOBAL_WRITE_BUFFER_FLUSH | GLOBAL_INTERRUPT_POINTER;
// The GCMD value that keeps the unit's enabled features and sets `bit` as well.
constexpr u32 global_command(u32 status, u32 bit) { return (status & ~GLOBAL_ONE_SHOT) | bit; }

// Context-command register: global invalidation of the context cache.
inline constexpr u64 CONTEXT_INVALIDATE = u64{1} << 63;
inline constexpr u64 CONTEXT_GLOBAL = u64{1} << 61;
// IOTLB invalidate register (at the IOTLB offset + 8): global invalidation, drain both.
inline constexpr u64 IOTLB_INVALIDATE = u64{1} << 63;
inline constexpr u64 IOTLB_GLOBAL = u64{1} << 60;
inline constexpr u64 IOTLB_DRAIN = (u64{1} << 49) | (u64{1} << 48);
// Domain-selective (IIRG 10) and page-selective-within-domain (IIRG 11) invalidation: the
// domain id sits in bits 47:32; a page-selective request takes its address and address
// mask (2^mask pages, naturally aligned) from the IVA register at the IOTLB offset.
inline constexpr u64 IOTLB_DOMAIN = u64{2} << 60;
inline constexpr u64 IOTLB_PAGE = u64{3} << 60;
constexpr u64 iotlb_domain_field(u16 domain_id) { return u64{domain_id} << 32; }
// Fault status: overflow and pending bits, the index of the first pending record.
inline constexpr u32 FAULT_OVERFLOW = 1u << 0, FAULT_PENDING = 1u << 1, FAULT_ADVANCED_OVERFLOW = 1u << 2,
                     FAULT_ADVANCED_PENDING = 1u << 3, FAULT_QUEUE_ERROR = 1u << 4, FAULT_COMPLETION_ERROR = 1u << 5,
                     FAULT_TIMEOUT_ERROR = 1u << 6;
// Write-1-to-clear bits of the fault status register (PPF clears with its records).
inline constexpr u32 FAULT_STATUS_CLEAR = FAULT_OVERFLOW | FAULT_ADVANCED_OVERFLOW | FAULT_ADVANCED_PENDING |
                                          FAULT_QUEUE_ERROR | FAULT_COMPLETION_ERROR | FAULT_TIMEOUT_ERROR;
constexpr unsigned fault_record_index(u32 status) { return (status >> 8) & 0xff; }
inline constexpr u32 FAULT_EVENT_MASK = 1u << 31; // no fault interrupt: faults are polled

// What CAP and ECAP say, decoded.
struct Capabilities {
    u8 sagaw = 0; // bit n: (n + 2)-level tables supported (bit 1: 3, bit 2: 4)
    u8 mgaw = 0; // maximum guest address width in bits
    u32 fault_record_offset = 0; // byte offset of the first fault recording register
    u32 fault_records = 0; // how many there are
    u32 iotlb_offset = 0; // byte offset of the IOTLB registers (IVA; invalidate at +8)
    u32 domain_ids = 0; // how many domain ids the unit supports
    bool write_buffer_flush = false; // RWBF: flush write buffers after table changes
    bool caching_mode = false; // CM: not-present entries may be cached too
    bool coherent = false; // ECAP.C: the unit snoops table reads (no clflush needed)
    bool queued_invalidation = false;
    bool interrupt_remapping = false;
    bool pass_through = false;
    bool scalable_mode = false;
    u8 large_pages = 0; // SLLPS: bit 0 2 MiB, bit 1 1 GiB
    bool page_selective = false; // PSI: page-selective IOTLB invalidation
    u8 max_address_mask = 0; // MAMV: largest mask a page-selective request may use
};
constexpr Capabilities decode_capabilities(u64 cap, u64 ecap)
{
    Capabilities c;
    c.domain_ids = 1u << (4 + 2 * (cap & 0x7));
    c.write_buffer_flush = (cap >> 4) & 1;
    c.caching_mode = (cap >> 7) & 1;
    c.sagaw = static_cast<u8>((cap >> 8) & 0x1f);
    c.mgaw = static_cast<u8>(((cap >> 16) & 0x3f) + 1);
    c.fault_record_offset = static_cast<u32>(((cap >> 24) & 0x3ff) * 16);
    c.large_pages = static_cast<u8>((cap >> 34) & 0xf);
    c.fault_records = static_cast<u32>(((cap >> 40) & 0xff) + 1);
    c.page_selective = (cap >> 39) & 1;
    c.max_address_mask = static_cast<u8>((cap >> 48) & 0x3f);
    c.coherent = ecap & 1;
    c.queued_invalidation = (ecap >> 1) & 1;
    c.interrupt_remapping = (ecap >> 3) & 1;
    c.pass_through = (ecap >> 6) & 1;
    c.iotlb_offset = static_cast<u32>(((ecap >> 8) & 0x3ff) * 16);
    c.scalable_mode = (ecap >> 43) & 1;
    return c;
}
// The context entry's address-width field for n-level tables (3 -> 1, 4 -> 2, 5 -> 3).
constexpr u64 address_width_field(unsigned levels) { return levels - 2; }
// The deepest table format both the unit (SAGAW) and we (3 or 4 levels) support, at most
// `wanted`; 0 when none.
constexpr unsigned choose_levels(u8 sagaw, unsigned wanted)
{
    for (unsigned levels = wanted; levels >= 3; levels--)
        if ((sagaw >> (levels - 2)) & 1)
            return levels;
    return 0;
}

// A 128-bit root or context entry; the hardware reads `low` (with the present bit) and
// `high` separately, so the writer orders the two stores.
struct Entry128 {
    u64 low = 0;
    u64 high = 0;
    constexpr bool operator==(const Entry128 &) const = default;
};
inline constexpr u64 ENTRY_PRESENT = 1;
inline constexpr u64 ENTRY_ADDRESS_MASK = 0x000ffffffffff000;
inline constexpr unsigned ROOT_ENTRIES = 256; // one per bus
inline constexpr unsigned CONTEXT_ENTRIES = 256; // one per device/function

// A root entry pointing at a bus's context table.
constexpr Entry128 root_entry(u64 context_table_phys)
{
    return {(context_table_phys & ENTRY_ADDRESS_MASK) | ENTRY_PRESENT, 0};
}
// A context entry that translates the device's untranslated requests through the
// second-level table at `table_phys` (translation type 00) in domain `domain_id`.
constexpr Entry128 context_entry(u64 table_phys, unsigned levels, u16 domain_id)
{
    return {(table_phys & ENTRY_ADDRESS_MASK) | ENTRY_PRESENT, address_width_field(levels) | u64{domain_id} << 8};
}
constexpr bool entry_present(const Entry128 &entry) { return (entry.low & ENTRY_PRESENT) != 0; }
constexpr u64 entry_address(const Entry128 &entry) { return entry.low & ENTRY_ADDRESS_MASK; }
constexpr u16 context_domain(const Entry128 &entry) { return static_cast<u16>(entry.high >> 8); }

// PCI requester (source) id: bus << 8 | device << 3 | function.
constexpr u16 source_id(u8 bus, u8 device, u8 function)
{
    return static_cast<u16>(bus << 8 | (device & 0x1f) << 3 | (function & 7));
}
constexpr u8 source_bus(u16 id) { return static_cast<u8>(id >> 8); }
constexpr u8 source_device(u16 id) { return (id >> 3) & 0x1f; }
constexpr u8 source_function(u16 id) { return id & 7; }

// One 128-bit fault recording register, decoded (section 11.4.14).
struct FaultRecord {
    bool valid = false; // F: the record holds a fault
    u16 source = 0; // requester id
    u64 address = 0; // page address of the request
    bool read = false; // T: 1 for reads (and atomics), 0 for writes
    u8 reason = 0; // FR, see fault_reason_text
    bool pasid_present = false;
    u32 pasid = 0;
};
inline constexpr u64 FAULT_RECORD_VALID = u64{1} << 63; // in the high half
constexpr FaultRecord decode_fault_record(u64 low, u64 high)
{
    FaultRecord f;
    f.valid = (high & FAULT_RECORD_VALID) != 0;
    f.source = static_cast<u16>(high & 0xffff);
    f.address = low & ~u64{0xfff};
    f.read = (high >> 62) & 1;
    f.reason = static_cast<u8>((high >> 32) & 0xff);
    f.pasid_present = (high >> 31) & 1;
    f.pasid = static_cast<u32>((high >> 40) & 0xfffff);
    return f;
}
// What a legacy-mode fault reason means, in a few words ("context entry not present").
const char *fault_reason_text(u8 reason);

// Second-level (IO) page-table entries: read and write rights; tables grant both. The
// encodings of both formats live in io_pte.hpp; these name the VT-d one.
inline constexpr u64 SL_READ = io_pte::VTD_READ;
inline constexpr u64 SL_WRITE = io_pte::VTD_WRITE;
inline constexpr u64 SL_LARGE = io_pte::VTD_LARGE;
inline constexpr u64 SL_ADDRESS_MASK = io_pte::ADDRESS_MASK;
inline constexpr unsigned SL_ENTRIES = io_pte::ENTRIES;

using Access = io_pte::Access;
using TableFormat = io_pte::Format;
constexpr u64 sl_table_entry(u64 table_phys) { return io_pte::table_entry(TableFormat::vtd, table_phys, 2); }
constexpr u64 sl_leaf_entry(u64 phys, Access access) { return io_pte::leaf_entry(TableFormat::vtd, phys, access); }
constexpr unsigned sl_index(u64 frame, unsigned level) { return io_pte::index(frame, level); }

// What the unit would do with one IO address.
struct Translation {
    bool present = false;
    Access access;
    u64 phys = 0;
};

// Where the tables come from: preserved page_table frames, so they can be left in place
// across a live update while devices keep doing DMA, and never inside the bootmem region.
// A clear frame is ready for the unit to read; the owner flushes caches when the unit is
// not coherent and invalidates what the unit may have cached.
class TableFrames final {
public:
    constexpr TableFrames() = default;
    constexpr TableFrames(FrameAllocator *frames, frame_owner_t owner) : frames_(frames), owner_(owner) {}
    u64 alloc(); // a zeroed page, or 0
    void free(u64 phys);
    u64 count() const { return count_; }
    // Takes over `count` frames an earlier image allocated (a live update adopts them).
    void adopt(u64 count) { count_ += count; }

private:
    FrameAllocator *frames_ = nullptr;
    frame_owner_t owner_ = OWNER_NONE;
    u64 count_ = 0;
};

// The root table and the per-bus context tables of one unit. Every context entry starts
// not present: a device with no entry is blocked, and its DMA faults.
class ContextTables final {
public:
    constexpr ContextTables() = default;
    ContextTables(const ContextTables &) = delete;
    ContextTables &operator=(const ContextTables &) = delete;

    // Allocates the (empty) root table. -BATON_EBUSY if built, -BATON_ENOMEM.
    [[nodiscard]] int init(FrameAllocator *frames);
    // Takes over the tables an earlier image left: root table at `root`, `frame_count`
    // frames in all (root included), preserved page_table frames of the hypervisor that
    // the caller walked and checked. -BATON_EBUSY if built.
    [[nodiscard]] int adopt(FrameAllocator *frames, u64 root, u64 frame_count);
    bool ready() const { return root_ != 0; }
    u64 root() const { return root_; }
    u64 table_frames() const { return frames_.count(); }

    // Gives `bus` a context table (all entries not present) if it has none, so that its
    // devices' faults read "context entry not present". -BATON_ENOMEM.
    [[nodiscard]] int add_bus(u8 bus);
    bool has_bus(u8 bus) const;
    u64 context_table(u8 bus) const; // physical address, or 0
    // Sets one device's entry; the bus must have a table (-BATON_ENOENT otherwise).
    // Writing a present entry stores the high half first, clearing one the low half
    // first, so the unit never reads a present half-written entry.
    [[nodiscard]] int set_context(u8 bus, u8 devfn, const Entry128 &entry);
    Entry128 context(u8 bus, u8 devfn) const;

    // Frees every table. The object can be init()ed again.
    void destroy();

private:
    TableFrames frames_;
    u64 root_ = 0;
};

// An IO page table: IO addresses to machine addresses with read/write rights, 4 KiB
// leaves, 3 or 4 levels, in the VT-d second-level or the AMD-Vi format (io_pte.hpp). Not
// locked: the owner serializes every call.
class IoPageTable final {
public:
    constexpr IoPageTable() = default;
    IoPageTable(const IoPageTable &) = delete;
    IoPageTable &operator=(const IoPageTable &) = delete;

    // Allocates an empty root. -BATON_EINVAL for a level count other than 3 or 4,
    // -BATON_EBUSY if built, -BATON_ENOMEM.
    [[nodiscard]] int init(FrameAllocator *frames, frame_owner_t owner, unsigned levels,
                           TableFormat format = TableFormat::vtd);
    // Takes over a table an earlier image built (the caller walked and checked its
    // `frame_count` frames). -BATON_EINVAL / -BATON_EBUSY as init().
    [[nodiscard]] int adopt(FrameAllocator *frames, frame_owner_t owner, unsigned levels, u64 root, u64 frame_count,
                            TableFormat format = TableFormat::vtd);
    bool ready() const { return root_ != 0; }
    u64 root() const { return root_; }
    unsigned levels() const { return levels_; }
    TableFormat format() const { return format_; }
    u64 table_frames() const { return frames_.count(); }
    // IO frames below this are addressable with these levels.
    u64 frame_limit() const { return u64{1} << (9 * levels_); }

    // Maps [io_frame, io_frame + count) to [machine_frame, ...) with `access`. Ranges out
    // of bounds are -BATON_EINVAL; -BATON_ENOMEM leaves what was mapped so far.
    [[nodiscard]] int map(u64 io_frame, u64 machine_frame, u64 count, Access access);
    // Clears the leaves of [io_frame, io_frame + count); tables stay (they map nothing).
    void unmap(u64 io_frame, u64 count);
    // Makes every table a later map() of [io_frame, io_frame + count) needs (the part below
    // frame_limit()), so that map() cannot fail there. -BATON_ENOMEM keeps what was made.
    [[nodiscard]] int prepare(u64 io_frame, u64 count);
    Translation translate(u64 io_address) const;
    // Leaves that map something.
    u64 mapped_frames() const;

    void destroy();

private:
    u64 *leaf_slot(u64 io_frame, bool create);
    u64 count_leaves(u64 table_phys, unsigned level) const;
    void free_table(u64 table_phys, unsigned level);

    TableFrames frames_;
    u64 root_ = 0;
    unsigned levels_ = 0;
    TableFormat format_ = TableFormat::vtd;
};

} // namespace vtd
