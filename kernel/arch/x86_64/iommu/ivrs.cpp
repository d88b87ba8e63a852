// SPDX-License-Identifier: MIT
// The ACPI IVRS table parser: IVHD blocks with their device entries, IVMDs, all checked.
#include "arch/x86_64/iommu/ivrs.hpp"
#include "abi/errno.h"
#include "arch/x86_64/acpi/acpi.hpp"
#include "lib/format.hpp"

namespace ivrs {

namespace {

constexpr usize IVRS_INFO = 36, IVRS_BLOCKS = 48;
constexpr usize BLOCK_HEADER = 4;
constexpr usize IVHD_LEGACY_FIXED = 24, IVHD_EFR_FIXED = 40, IVMD_FIXED = 32;
constexpr usize HID_FIXED = 22; // type, id, setting, HID, CID, UID format, UID length
constexpr u64 REGISTER_ALIGN = u64{16} * 1024;

using acpi::read16;
using acpi::read32;
using acpi::read64;

constexpr bool is_ivhd(u8 type)
{
    return type == static_cast<u8>(BlockType::ivhd_legacy) || type == static_cast<u8>(BlockType::ivhd_efr) ||
           type == static_cast<u8>(BlockType::ivhd_acpi);
}
constexpr bool is_ivmd(u8 type)
{
    return type == static_cast<u8>(BlockType::ivmd_all) || type == static_cast<u8>(BlockType::ivmd_select) ||
           type == static_cast<u8>(BlockType::ivmd_range);
}

// The length of the device entry at `at` (`left` bytes remain), 0 if it cannot be told.
usize entry_length(const u8 *at, usize left)
{
    const u8 type = at[0];
    if (type < 0x40)
        return 4;
    if (type < 0x80)
        return 8;
    if (type == static_cast<u8>(EntryType::acpi_hid) && left >= HID_FIXED)
        return HID_FIXED + at[21];
    return 0;
}

void add_range(Unit &unit, DeviceRange range)
{
    if (unit.range_count == MAX_RANGES) {
        unit.ranges_dropped++;
        return;
    }
    unit.ranges[unit.range_count++] = range;
}

// The device entries of one IVHD in [at, end).
int parse_entries(const u8 *at, const u8 *end, Unit &unit, usize index, char *why, usize why_capacity)
{
    bool open = false; // a range start waits for its end
    DeviceRange pending;
    for (usize n = 0; at < end; n++) {
        const usize left = static_cast<usize>(end - at);
        const usize length = entry_length(at, left);
        if (length == 0 || length > left)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "ivrs: IVHD %zu entry %zu (type 0x%x) has a bad length %zu (%zu bytes left)", index,
                                  n, at[0], length, left);
        const auto type = static_cast<EntryType>(at[0]);
        const u16 id = read16(at + 1);
        if (open && type != EntryType::range_end)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "ivrs: IVHD %zu entry %zu: a range start is followed by type 0x%x, not its end",
                                  index, n, at[0]);
        switch (type) {
        case EntryType::all: add_range(unit, {0, 0xffff, false, 0}); break;
        case EntryType::select:
        case EntryType::extended_select: add_range(unit, {id, id, false, 0}); break;
        case EntryType::alias_select: add_range(unit, {id, id, true, read16(at + 5)}); break;
        case EntryType::range_start:
        case EntryType::extended_range_start:
        case EntryType::alias_range_start:
            open = true;
            pending = {id, id, type == EntryType::alias_range_start, 0};
            if (pending.aliased)
                pending.alias = read16(at + 5);
            break;
        case EntryType::range_end:
            if (!open || id < pending.first)
                return format_refusal(why, why_capacity, BATON_EINVAL,
                                      "ivrs: IVHD %zu entry %zu: range end 0x%x without a start at or below it", index,
                                      n, id);
            pending.last = id;
            add_range(unit, pending);
            open = false;
            break;
        case EntryType::special:
            if (unit.special_count < MAX_SPECIAL)
                unit.specials[unit.special_count++] = {static_cast<SpecialVariety>(at[7]), at[4], read16(at + 5)};
            break;
        case EntryType::acpi_hid: unit.hid_entries++; break;
        default: break; // padding and reserved types carry nothing we use
        }
        at += length;
    }
    if (open)
        return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: IVHD %zu ends inside a device range", index);
    return 0;
}

int parse_ivhd(const u8 *at, usize length, Info &out, char *why, usize why_capacity)
{
    const auto type = static_cast<BlockType>(at[0]);
    const usize fixed = type == BlockType::ivhd_legacy ? IVHD_LEGACY_FIXED : IVHD_EFR_FIXED;
    if (length < fixed)
        return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: IVHD type 0x%x of %zu bytes (at least %zu)",
                              at[0], length, fixed);
    if (out.unit_count == MAX_UNITS)
        return format_refusal(why, why_capacity, BATON_E2BIG, "ivrs: more than %zu IOMMUs", MAX_UNITS);
    Unit &unit = out.units[out.unit_count];
    unit = {};
    unit.type = type;
    unit.flags = at[1];
    unit.device_id = read16(at + 4);
    unit.capability_offset = read16(at + 6);
    unit.register_base = read64(at + 8);
    unit.segment = read16(at + 16);
    unit.info = read16(at + 18);
    unit.attributes = read32(at + 20);
    if (fixed == IVHD_EFR_FIXED)
        unit.efr = read64(at + 24);
    if (unit.register_base == 0 || !is_aligned(unit.register_base, REGISTER_ALIGN))
        return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: IOMMU %zu has register base 0x%lx",
                              out.unit_count, unit.register_base);
    for (usize i = 0; i < out.unit_count; i++)
        if (out.units[i].register_base == unit.register_base)
            return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: two IVHDs of type 0x%x at 0x%lx", at[0],
                                  unit.register_base);
    if (int error = parse_entries(at + fixed, at + length, unit, out.unit_count, why, why_capacity))
        return error;
    out.unit_count++;
    return 0;
}

int parse_ivmd(const u8 *at, usize length, Info &out, char *why, usize why_capacity)
{
    if (length < IVMD_FIXED)
        return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: IVMD of %zu bytes (at least %zu)", length,
                              IVMD_FIXED);
    if (out.memory_count == MAX_MEMORY)
        return format_refusal(why, why_capacity, BATON_E2BIG, "ivrs: more than %zu memory definitions", MAX_MEMORY);
    MemoryBlock block;
    block.type = static_cast<BlockType>(at[0]);
    block.flags = at[1];
    block.first = read16(at + 4);
    block.last = block.type == BlockType::ivmd_range ? read16(at + 6) : block.first;
    if (block.type == BlockType::ivmd_all) {
        block.first = 0;
        block.last = 0xffff;
    }
    block.start = read64(at + 16);
    block.length = read64(at + 24);
    u64 end;
    if (block.last < block.first || block.length == 0 || add_overflows(block.start, block.length, &end))
        return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: IVMD 0x%lx+0x%lx for 0x%x-0x%x is not a range",
                              block.start, block.length, block.first, block.last);
    out.memory[out.memory_count++] = block;
    return 0;
}

// Walks the blocks: checks every length, and with `chosen` 0 only finds the highest IVHD
// type; otherwise parses the IVHDs of type `chosen` and the IVMDs.
int walk(const u8 *table, usize length, u8 &chosen, Info &out, char *why, usize why_capacity)
{
    const bool parsing = chosen != 0;
    usize offset = IVRS_BLOCKS;
    while (offset < length) {
        const usize left = length - offset;
        const u8 *at = table + offset;
        const usize block_length = left >= BLOCK_HEADER ? read16(at + 2) : 0;
        if (block_length < BLOCK_HEADER || block_length > left)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "ivrs: block at offset %zu has a bad length %zu (%zu bytes left)", offset,
                                  block_length, left);
        int error = 0;
        if (!parsing) {
            if (is_ivhd(at[0]) && at[0] > chosen)
                chosen = at[0];
        } else if (is_ivhd(at[0])) {
            if (at[0] == chosen)
                error = parse_ivhd(at, block_length, out, why, why_capacity);
            else
                out.superseded++;
        } else if (is_ivmd(at[0])) {
            error = parse_ivmd(at, block_length, out, why, why_capacity);
        } else {
            out.other_blocks++;
        }
        if (error != 0)
            return error;
        offset += block_length;
    }
    return 0;
}

} // namespace

bool Unit::covers(u16 device) const
{
    for (usize i = 0; i < range_count; i++)
        if (ranges[i].contains(device))
            return true;
    return false;
}

const char *block_type_name(BlockType type)
{
    switch (type) {
    case BlockType::ivhd_legacy: return "IVHD 0x10";
    case BlockType::ivhd_efr: return "IVHD 0x11";
    case BlockType::ivhd_acpi: return "IVHD 0x40";
    case BlockType::ivmd_all: return "IVMD 0x20";
    case BlockType::ivmd_select: return "IVMD 0x21";
    case BlockType::ivmd_range: return "IVMD 0x22";
    }
    return "unknown";
}

int parse(const u8 *table, usize length, Info &out, char *why, usize why_capacity)
{
    out = {};
    if (table == nullptr || length < IVRS_BLOCKS)
        return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: table of %zu bytes (at least %zu)", length,
                              IVRS_BLOCKS);
    out.iv_info = read32(table + IVRS_INFO);
    u8 chosen = 0;
    if (int error = walk(table, length, chosen, out, why, why_capacity))
        return error;
    if (chosen == 0)
        return format_refusal(why, why_capacity, BATON_EINVAL, "ivrs: no IVHD block describes an IOMMU");
    return walk(table, length, chosen, out, why, why_capacity);
}

const Unit *unit_for(const Info &info, u16 segment, u16 device)
{
    for (usize i = 0; i < info.unit_count; i++)
        if (info.units[i].segment == segment && info.units[i].covers(device))
            return &info.units[i];
    return nullptr;
}

} // namespace ivrs
