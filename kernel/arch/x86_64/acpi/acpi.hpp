// SPDX-License-Identifier: MIT
// ACPI table discovery: RSDP -> XSDT (or RSDT) -> a table by signature, all checked.
#pragma once
#include "lib/types.hpp"

// Pure logic: tables are read through the direct map (host tests point it at a buffer),
// and nothing outside [0, readable_end) is touched, so a corrupt pointer in a firmware
// table is refused instead of faulting.
namespace acpi {

// Every system description table starts with this 36-byte header.
inline constexpr usize HEADER_SIZE = 36;
inline constexpr usize RSDP_V1_SIZE = 20;
inline constexpr usize RSDP_V2_SIZE = 36;
// A root table with more entries than this is refused (firmware has a few dozen).
inline constexpr u32 MAX_ROOT_ENTRIES = 256;

// Little-endian reads from byte arrays: firmware tables are packed and unaligned.
constexpr u16 read16(const u8 *at) { return static_cast<u16>(at[0] | at[1] << 8); }
constexpr u32 read32(const u8 *at) { return u32{at[0]} | u32{at[1]} << 8 | u32{at[2]} << 16 | u32{at[3]} << 24; }
constexpr u64 read64(const u8 *at) { return u64{read32(at)} | u64{read32(at + 4)} << 32; }

// The bytes of a table must sum to zero (mod 256).
[[nodiscard]] bool checksum_ok(const u8 *bytes, usize length);

// A table found in memory: its physical address, total length and bytes.
struct Table {
    u64 phys = 0;
    u32 length = 0;
    const u8 *bytes = nullptr;
    u8 revision = 0;
};

// Which root table the search used, for the log.
struct RootInfo {
    bool extended = false; // XSDT (64-bit entries); false: RSDT
    u64 phys = 0;
    u32 entries = 0;
    char oem_id[7] = {};
};

// Finds the first table with `signature` (4 characters) reachable from the RSDP copy
// `rsdp` (`rsdp_size` bytes: 20 for ACPI 1.0, 36 for 2.0+). Every table on the way is
// bounds- and checksum-checked. Returns 0, -BATON_ENOENT when no table has the signature,
// or -BATON_EINVAL for a malformed RSDP or root table; `why` gets a one-line reason.
[[nodiscard]] int find_table(const u8 *rsdp, usize rsdp_size, const char *signature, u64 readable_end, Table &out,
                             RootInfo *root, char *why, usize why_capacity);

} // namespace acpi
