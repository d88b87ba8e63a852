// SPDX-License-Identifier: MIT
// IO page-table entry formats: VT-d second-level and AMD-Vi, one policy for both trees.
#pragma once
#include "lib/types.hpp"

// Both units walk a radix tree of 512-entry, 4 KiB tables indexed by 9 bits of the IO
// frame per level; they differ only in how an entry says "present", "rights" and "next".
// IoPageTable (vtd_format.hpp) and the handover walks build and read either through these
// functions, so one table builder serves both backends. Pure logic, host-tested.
namespace io_pte {

enum class Format : u8 { vtd, amd_vi };

struct Access {
    bool read = false;
    bool write = false;
    constexpr bool any() const { return read || write; }
    constexpr bool operator==(const Access &) const = default;
};

inline constexpr unsigned ENTRIES = 512;
inline constexpr u64 ADDRESS_MASK = 0x000ffffffffff000;

// VT-d second-level entries (VT-d spec 9.8): a table or leaf is present when it grants a
// right; bit 7 marks a large leaf above level 1.
inline constexpr u64 VTD_READ = u64{1} << 0, VTD_WRITE = u64{1} << 1, VTD_LARGE = u64{1} << 7;

// AMD-Vi entries (AMD IOMMU spec 2.2.3): PR (bit 0) is presence; NextLevel (bits 11:9)
// is the level of the table the entry points at, 0 for a 4 KiB leaf and 7 for a large
// leaf; IR/IW (bits 61/62) are the rights, and a table entry must grant them too, since
// the unit ANDs the rights of every level.
inline constexpr u64 AMD_PRESENT = u64{1} << 0, AMD_READ = u64{1} << 61, AMD_WRITE = u64{1} << 62;
inline constexpr unsigned AMD_NEXT_LEVEL_SHIFT = 9;
inline constexpr u64 AMD_NEXT_LEVEL_MASK = u64{7} << AMD_NEXT_LEVEL_SHIFT;
inline constexpr unsigned AMD_NEXT_LEVEL_LARGE = 7;

constexpr unsigned amd_next_level(u64 entry) { return (entry & AMD_NEXT_LEVEL_MASK) >> AMD_NEXT_LEVEL_SHIFT; }

// The entry at `level` (2 and up) that links the table at `table_phys` (one level down).
constexpr u64 table_entry(Format format, u64 table_phys, unsigned level)
{
    if (format == Format::vtd)
        return (table_phys & ADDRESS_MASK) | VTD_READ | VTD_WRITE;
    return (table_phys & ADDRESS_MASK) | AMD_PRESENT | u64{level - 1} << AMD_NEXT_LEVEL_SHIFT | AMD_READ | AMD_WRITE;
}
// A 4 KiB leaf (level 1) mapping `phys` with `access`; 0 (nothing mapped) without a right.
constexpr u64 leaf_entry(Format format, u64 phys, Access access)
{
    if (!access.any())
        return 0;
    if (format == Format::vtd)
        return (phys & ADDRESS_MASK) | (access.read ? VTD_READ : 0) | (access.write ? VTD_WRITE : 0);
    return (phys & ADDRESS_MASK) | AMD_PRESENT | (access.read ? AMD_READ : 0) | (access.write ? AMD_WRITE : 0);
}
// Whether the entry links a table or maps a page.
constexpr bool present(Format format, u64 entry)
{
    return format == Format::vtd ? (entry & (VTD_READ | VTD_WRITE)) != 0 : (entry & AMD_PRESENT) != 0;
}
// Whether a present entry at `level` (2 and up) is a leaf rather than a link to a table.
constexpr bool large_leaf(Format format, u64 entry, unsigned level)
{
    if (format == Format::vtd)
        return (entry & VTD_LARGE) != 0;
    const unsigned next = amd_next_level(entry);
    return next == 0 || next == AMD_NEXT_LEVEL_LARGE || next != level - 1;
}
constexpr u64 address(u64 entry) { return entry & ADDRESS_MASK; }
constexpr Access rights(Format format, u64 entry)
{
    if (format == Format::vtd)
        return {(entry & VTD_READ) != 0, (entry & VTD_WRITE) != 0};
    if ((entry & AMD_PRESENT) == 0)
        return {};
    return {(entry & AMD_READ) != 0, (entry & AMD_WRITE) != 0};
}
// Index of the IO frame number `frame` in the table at `level` (1: leaf table).
constexpr unsigned index(u64 frame, unsigned level) { return (frame >> (9 * (level - 1))) & (ENTRIES - 1); }

} // namespace io_pte
