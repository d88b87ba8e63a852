// SPDX-License-Identifier: MIT
// The ACPI IVRS table: AMD-Vi units (IVHD blocks), the device ids each covers, IVMDs.
#pragma once
#include "lib/types.hpp"

// Pure logic over a table already found and checksummed (acpi::find_table), like dmar.hpp:
// host tests feed it hand-built tables, malformed ones included. Layout: AMD I/O
// Virtualization Technology (IOMMU) Specification, section 5 (ACPI tables).
namespace ivrs {

inline constexpr usize MAX_UNITS = 8;
inline constexpr usize MAX_RANGES = 32; // device-id ranges per unit; more are counted, not kept
inline constexpr usize MAX_SPECIAL = 8; // IOAPIC/HPET entries per unit
inline constexpr usize MAX_MEMORY = 8; // IVMD blocks

// Block types (the byte at the start of each block).
enum class BlockType : u8 {
    ivhd_legacy = 0x10, // fixed IVHD, 24-byte header
    ivhd_efr = 0x11, // IVHD with the EFR image, 40-byte header
    ivhd_acpi = 0x40, // as 0x11, plus ACPI HID device entries
    ivmd_all = 0x20,
    ivmd_select = 0x21,
    ivmd_range = 0x22,
};
// IVHD device entry types. Types below 0x40 are 4 bytes, 0x40-0x7f are 8 bytes, the
// rest carry their own length (only 0xf0 is defined).
enum class EntryType : u8 {
    pad = 0x00,
    all = 0x01,
    select = 0x02,
    range_start = 0x03,
    range_end = 0x04,
    alias_select = 0x42,
    alias_range_start = 0x43,
    extended_select = 0x46,
    extended_range_start = 0x47,
    special = 0x48,
    acpi_hid = 0xf0,
};
// Special devices (IVHD entry 0x48, byte 7).
enum class SpecialVariety : u8 { ioapic = 1, hpet = 2 };

// Device ids first..last (bus << 8 | devfn, within the unit's segment) whose requests
// the unit translates; `alias` is the id they arrive as when `aliased` (a bridge).
struct DeviceRange {
    u16 first = 0;
    u16 last = 0;
    bool aliased = false;
    u16 alias = 0;
    constexpr bool contains(u16 id) const { return first <= id && id <= last; }
};

struct Special {
    SpecialVariety variety = SpecialVariety::ioapic;
    u8 handle = 0; // IOAPIC id or HPET number
    u16 source = 0; // the device id its interrupts come from
};

// One IOMMU (IVHD block of the type chosen, see parse()).
struct Unit {
    BlockType type = BlockType::ivhd_legacy;
    u8 flags = 0;
    u16 device_id = 0; // the IOMMU's own PCI function (bus << 8 | devfn)
    u16 capability_offset = 0; // of its IOMMU capability block in configuration space
    u64 register_base = 0;
    u16 segment = 0;
    u16 info = 0; // MSI number, unit id
    u32 attributes = 0; // type 0x10: feature reporting; 0x11/0x40: attributes
    u64 efr = 0; // extended feature register image (0x11/0x40 only)
    DeviceRange ranges[MAX_RANGES];
    usize range_count = 0;
    usize ranges_dropped = 0;
    Special specials[MAX_SPECIAL];
    usize special_count = 0;
    usize hid_entries = 0; // ACPI HID devices: counted, not matched
    bool covers(u16 device) const;
};

// A memory definition (IVMD): memory some devices must reach (like a VT-d RMRR).
struct MemoryBlock {
    BlockType type = BlockType::ivmd_all;
    u8 flags = 0;
    u16 first = 0; // device ids it applies to (all for type 0x20)
    u16 last = 0;
    u64 start = 0;
    u64 length = 0;
};

struct Info {
    u32 iv_info = 0; // virtualization info: address sizes, EFR support
    Unit units[MAX_UNITS];
    usize unit_count = 0;
    MemoryBlock memory[MAX_MEMORY];
    usize memory_count = 0;
    usize superseded = 0; // IVHD blocks of a lower type than the one used
    usize other_blocks = 0; // unknown block types: skipped
};

// Parses the IVRS table `table` of `length` bytes (header included). Every block and
// device entry is checked against its container; a register base must be nonzero and
// 16 KiB aligned; a range start must be followed by its end (first <= last). Of the IVHD
// types 0x10/0x11/0x40 describing the same IOMMUs, only the highest present is used (the
// firmware lists each unit once per type it supports). 0, or -BATON_EINVAL (malformed) /
// -BATON_E2BIG (more units or IVMDs than Info holds) with a one-line reason in `why`.
[[nodiscard]] int parse(const u8 *table, usize length, Info &out, char *why, usize why_capacity);

// The unit whose device entries cover `device` in `segment`, or nullptr.
const Unit *unit_for(const Info &info, u16 segment, u16 device);

const char *block_type_name(BlockType type);

} // namespace ivrs
