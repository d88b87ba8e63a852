// SPDX-License-Identifier: MIT
// AMD-Vi formats: registers, device table entries, commands, event-log entries, the table.
#pragma once
#include "arch/x86_64/iommu/io_pte.hpp"
#include "mm/frames.hpp"

// Pure logic like vtd_format.hpp: the device table lives in frames reached through the
// direct map and nothing here touches a register, so host tests build and read it. The
// driver (iommu_amdvi.cpp) owns the registers and the rings. Layouts: AMD I/O
// Virtualization Technology (IOMMU) Specification, sections 2.2 (device table), 2.4
// (commands), 2.5 (event log) and 3.4 (registers). The IO page tables are io_pte.hpp's.
namespace amdvi {

// Register offsets from the unit's base.
enum Register : u32 {
    REG_DEVICE_TABLE = 0x0000, // base [51:12], size [8:0] in 4 KiB pages minus one
    REG_COMMAND_BASE = 0x0008, // base [51:12], ComLen [59:56]
    REG_EVENT_BASE = 0x0010, // base [51:12], EventLen [59:56]
    REG_CONTROL = 0x0018,
    REG_EXCLUSION_BASE = 0x0020, // ExEn (bit 0) lets a range bypass translation: kept off
    REG_EXTENDED_FEATURES = 0x0030,
    REG_COMMAND_HEAD = 0x2000, // byte offsets into the ring, [18:4]
    REG_COMMAND_TAIL = 0x2008,
    REG_EVENT_HEAD = 0x2010,
    REG_EVENT_TAIL = 0x2018,
    REG_STATUS = 0x2020,
};
// Control register bits.
enum Control : u64 {
    CONTROL_IOMMU_ENABLE = u64{1} << 0,
    CONTROL_EVENT_LOG_ENABLE = u64{1} << 2,
    CONTROL_EVENT_INTERRUPT = u64{1} << 3,
    CONTROL_COMPLETION_INTERRUPT = u64{1} << 4,
    CONTROL_COMMAND_BUFFER_ENABLE = u64{1} << 12,
};
// Status register bits (the first three are write-1-to-clear).
enum Status : u64 {
    STATUS_EVENT_OVERFLOW = u64{1} << 0,
    STATUS_EVENT_INTERRUPT = u64{1} << 1,
    STATUS_COMPLETION_INTERRUPT = u64{1} << 2,
    STATUS_EVENT_LOG_RUNNING = u64{1} << 3,
    STATUS_COMMAND_BUFFER_RUNNING = u64{1} << 4,
};
inline constexpr u64 STATUS_CLEAR = STATUS_EVENT_OVERFLOW | STATUS_EVENT_INTERRUPT | STATUS_COMPLETION_INTERRUPT;
// Extended feature register: INVALIDATE_IOMMU_ALL is supported (IASup).
inline constexpr u64 FEATURE_INVALIDATE_ALL = u64{1} << 6;
inline constexpr u64 BASE_ADDRESS_MASK = 0x000ffffffffff000;

// One page rings: 256 commands or events of 16 bytes; the length field is log2(entries).
inline constexpr unsigned RING_ENTRY_BYTES = 16;
inline constexpr unsigned RING_ENTRIES = PAGE_SIZE / RING_ENTRY_BYTES;
inline constexpr u64 RING_LENGTH_FIELD = u64{8} << 56; // 2^8 = 256 entries
inline constexpr u64 RING_OFFSET_MASK = 0x7fff0; // head/tail registers: byte offset [18:4]
constexpr u64 ring_base(u64 phys) { return (phys & BASE_ADDRESS_MASK) | RING_LENGTH_FIELD; }
constexpr u64 next_offset(u64 offset) { return (offset + RING_ENTRY_BYTES) % PAGE_SIZE; }

// The device table: one 32-byte entry per device id; two pages hold bus 0's 256.
inline constexpr unsigned DEVICE_ENTRY_BYTES = 32;
inline constexpr unsigned DEVICE_TABLE_PAGES = 2;
inline constexpr unsigned DEVICE_TABLE_ENTRIES = DEVICE_TABLE_PAGES * PAGE_SIZE / DEVICE_ENTRY_BYTES;
constexpr u64 device_table_register(u64 phys) { return (phys & BASE_ADDRESS_MASK) | (DEVICE_TABLE_PAGES - 1); }

// Device table entry bits (first quadword carries every bit that decides translation,
// so one 64-bit store switches an entry between blocked and translated).
enum DeviceEntryBit : u64 {
    DTE_VALID = u64{1} << 0, // V: the entry is read at all (V=0 lets DMA through untranslated)
    DTE_TRANSLATION_VALID = u64{1} << 1, // TV: the translation fields below are valid
    DTE_READ = u64{1} << 61, // IR
    DTE_WRITE = u64{1} << 62, // IW
};
inline constexpr unsigned DTE_MODE_SHIFT = 9; // Mode [11:9]: 0 none, 1..6 table levels
inline constexpr u64 DTE_MODE_MASK = u64{7} << DTE_MODE_SHIFT;
inline constexpr u64 DTE_DOMAIN_MASK = 0xffff; // second quadword [15:0]

struct DeviceEntry {
    u64 words[4] = {};
    constexpr bool operator==(const DeviceEntry &) const = default;
};
// Blocked: V=1 and TV=1 with Mode 0 (no page table) and neither IR nor IW, so the unit
// neither translates nor passes a request: every DMA of the device is refused. (V=0 would
// pass DMA through untranslated.)
constexpr DeviceEntry blocked_entry() { return {{DTE_VALID | DTE_TRANSLATION_VALID, 0, 0, 0}}; }
// Translates through the `levels`-level IO page table at `table_phys`, tagged `domain`.
constexpr DeviceEntry translated_entry(u64 table_phys, unsigned levels, u16 domain)
{
    return {{(table_phys & BASE_ADDRESS_MASK) | u64{levels} << DTE_MODE_SHIFT | DTE_READ | DTE_WRITE | DTE_VALID |
                 DTE_TRANSLATION_VALID,
             domain, 0, 0}};
}
constexpr unsigned entry_mode(const DeviceEntry &entry) { return (entry.words[0] & DTE_MODE_MASK) >> DTE_MODE_SHIFT; }
constexpr bool entry_blocks(const DeviceEntry &entry)
{
    return (entry.words[0] & DTE_VALID) != 0 && (entry.words[0] & (DTE_READ | DTE_WRITE)) == 0 &&
           ((entry.words[0] & DTE_TRANSLATION_VALID) == 0 || entry_mode(entry) == 0);
}
constexpr bool entry_translates(const DeviceEntry &entry)
{
    const unsigned mode = entry_mode(entry);
    return (entry.words[0] & (DTE_VALID | DTE_TRANSLATION_VALID)) == (DTE_VALID | DTE_TRANSLATION_VALID) && mode >= 1 &&
           mode <= 6;
}
constexpr u64 entry_table(const DeviceEntry &entry) { return entry.words[0] & BASE_ADDRESS_MASK; }
constexpr u16 entry_domain(const DeviceEntry &entry) { return static_cast<u16>(entry.words[1] & DTE_DOMAIN_MASK); }

// Commands: 128 bits, opcode in [63:60] of the first quadword.
struct Command {
    u64 low = 0;
    u64 high = 0;
    constexpr bool operator==(const Command &) const = default;
};
enum Opcode : u64 {
    OP_COMPLETION_WAIT = 1,
    OP_INVALIDATE_DEVTAB_ENTRY = 2,
    OP_INVALIDATE_IOMMU_PAGES = 3,
    OP_INVALIDATE_IOMMU_ALL = 8,
};
inline constexpr unsigned OPCODE_SHIFT = 60;
constexpr unsigned command_opcode(const Command &command) { return static_cast<unsigned>(command.low >> 60); }
// Stores `data` to the 8-byte aligned `store_phys` once every earlier command finished.
constexpr Command completion_wait(u64 store_phys, u64 data)
{
    constexpr u64 STORE = 1; // S
    return {(store_phys & 0x000ffffffffffff8) | STORE | OP_COMPLETION_WAIT << OPCODE_SHIFT, data};
}
constexpr Command invalidate_devtab_entry(u16 device)
{
    return {device | OP_INVALIDATE_DEVTAB_ENTRY << OPCODE_SHIFT, 0};
}
// Every cached translation of `domain`: S=1 with an address of all ones (the largest range).
constexpr Command invalidate_domain(u16 domain)
{
    constexpr u64 SIZE = 1, EVERY_PAGE = 0x7ffffffffffff000;
    return {u64{domain} << 32 | OP_INVALIDATE_IOMMU_PAGES << OPCODE_SHIFT, EVERY_PAGE | SIZE};
}
// The cached translation of one IO page of `domain` (S=0).
constexpr Command invalidate_page(u16 domain, u64 io_frame)
{
    return {u64{domain} << 32 | OP_INVALIDATE_IOMMU_PAGES << OPCODE_SHIFT,
            (io_frame << PAGE_SHIFT) & BASE_ADDRESS_MASK};
}
constexpr Command invalidate_all() { return {OP_INVALIDATE_IOMMU_ALL << OPCODE_SHIFT, 0}; }

// One event-log entry, decoded. Event codes: [63:60] of the first quadword.
enum EventCode : u8 {
    EVENT_ILLEGAL_DEVICE_ENTRY = 1,
    EVENT_IO_PAGE_FAULT = 2,
    EVENT_DEVICE_TABLE_ERROR = 3,
    EVENT_PAGE_TABLE_ERROR = 4,
    EVENT_ILLEGAL_COMMAND = 5,
    EVENT_COMMAND_ERROR = 6,
    EVENT_IOTLB_TIMEOUT = 7,
    EVENT_INVALID_DEVICE_REQUEST = 8,
};
struct Event {
    u8 code = 0;
    u16 device = 0; // requester id
    u16 flags = 0; // [27:16] of the second dword
    u64 address = 0;
    bool write = false; // RW flag of page faults and device-table errors
};
constexpr Event decode_event(u64 low, u64 high)
{
    Event event;
    event.code = static_cast<u8>(low >> 60);
    event.device = static_cast<u16>(low & 0xffff);
    event.flags = static_cast<u16>((low >> 48) & 0xfff);
    event.write = (low >> 53) & 1;
    event.address = high;
    return event;
}
// Whether the event names a device's DMA (reported as a fault) rather than a command.
constexpr bool event_is_dma(u8 code)
{
    return code == EVENT_ILLEGAL_DEVICE_ENTRY || code == EVENT_IO_PAGE_FAULT || code == EVENT_DEVICE_TABLE_ERROR ||
           code == EVENT_PAGE_TABLE_ERROR || code == EVENT_INVALID_DEVICE_REQUEST;
}
const char *event_text(u8 code);

// The device table of one unit: DEVICE_TABLE_PAGES contiguous preserved page_table frames
// of the hypervisor, every entry blocked until a device is attached.
class DeviceTable final {
public:
    constexpr DeviceTable() = default;
    DeviceTable(const DeviceTable &) = delete;
    DeviceTable &operator=(const DeviceTable &) = delete;

    // Allocates the table with every entry blocked_entry(). -BATON_EBUSY / -BATON_ENOMEM.
    [[nodiscard]] int init(FrameAllocator *frames);
    // Takes over the table an earlier image left at `phys` (checked by the caller).
    [[nodiscard]] int adopt(u64 phys);
    bool ready() const { return phys_ != 0; }
    u64 phys() const { return phys_; }
    static constexpr bool holds(u16 device) { return device < DEVICE_TABLE_ENTRIES; }

    // Writes one entry so that the unit never reads a half-written one: the words that
    // do not decide translation first, then the first quadword in one store.
    [[nodiscard]] int set(u16 device, const DeviceEntry &entry);
    DeviceEntry get(u16 device) const;

private:
    u64 phys_ = 0;
};

} // namespace amdvi
