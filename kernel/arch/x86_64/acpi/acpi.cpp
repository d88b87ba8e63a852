// SPDX-License-Identifier: MIT
// ACPI table discovery: RSDP checks, the root table walk, per-table checks.
#include "arch/x86_64/acpi/acpi.hpp"
#include "abi/errno.h"
#include "lib/format.hpp"
#include "mm/phys.hpp"

namespace acpi {

namespace {

constexpr usize LENGTH_OFFSET = 4;
constexpr usize REVISION_OFFSET = 8;
constexpr usize RSDP_REVISION = 15, RSDP_RSDT = 16, RSDP_LENGTH = 20, RSDP_XSDT = 24;

bool same_signature(const u8 *bytes, const char *signature, usize length)
{
    for (usize i = 0; i < length; i++)
        if (bytes[i] != static_cast<u8>(signature[i]))
            return false;
    return true;
}

// [phys, phys + length) lies inside what may be read.
bool readable(u64 phys, u64 length, u64 readable_end)
{
    u64 end;
    return !add_overflows(phys, length, &end) && end <= readable_end;
}

// The table at `phys` if its header and its whole length are readable and it sums to
// zero; `name` says which table for the reason.
int load_table(u64 phys, u64 readable_end, Table &out, char *why, usize why_capacity)
{
    if (phys == 0 || !readable(phys, HEADER_SIZE, readable_end))
        return format_refusal(why, why_capacity, BATON_EINVAL, "acpi: table pointer 0x%lx is outside memory", phys);
    const u8 *header = phys_to<const u8>(phys);
    const u32 length = read32(header + LENGTH_OFFSET);
    if (length < HEADER_SIZE || !readable(phys, length, readable_end))
        return format_refusal(why, why_capacity, BATON_EINVAL, "acpi: table %.4s at 0x%lx has a bad length %u",
                              reinterpret_cast<const char *>(header), phys, length);
    if (!checksum_ok(header, length))
        return format_refusal(why, why_capacity, BATON_EINVAL, "acpi: table %.4s at 0x%lx has a bad checksum",
                              reinterpret_cast<const char *>(header), phys);
    out = {phys, length, header, header[REVISION_OFFSET]};
    return 0;
}

} // namespace

bool checksum_ok(const u8 *bytes, usize length)
{
    u8 sum = 0;
    for (usize i = 0; i < length; i++)
        sum = static_cast<u8>(sum + bytes[i]);
    return sum == 0;
}

int find_table(const u8 *rsdp, usize rsdp_size, const char *signature, u64 readable_end, Table &out, RootInfo *root,
               char *why, usize why_capacity)
{
    if (rsdp == nullptr || rsdp_size < RSDP_V1_SIZE || !same_signature(rsdp, "RSD PTR ", 8) ||
        !checksum_ok(rsdp, RSDP_V1_SIZE))
        return format_refusal(why, why_capacity, BATON_EINVAL, "acpi: the RSDP is missing or has a bad checksum");
    // ACPI 2.0+ adds the XSDT; its own checksum covers the 36-byte structure.
    bool extended = false;
    u64 root_phys = read32(rsdp + RSDP_RSDT);
    if (rsdp[RSDP_REVISION] >= 2 && rsdp_size >= RSDP_V2_SIZE) {
        if (read32(rsdp + RSDP_LENGTH) < RSDP_V2_SIZE || !checksum_ok(rsdp, RSDP_V2_SIZE))
            return format_refusal(why, why_capacity, BATON_EINVAL, "acpi: the ACPI 2.0 RSDP has a bad checksum");
        if (read64(rsdp + RSDP_XSDT) != 0) {
            root_phys = read64(rsdp + RSDP_XSDT);
            extended = true;
        }
    }

    Table root_table;
    if (int error = load_table(root_phys, readable_end, root_table, why, why_capacity); error != 0)
        return error;
    if (!same_signature(root_table.bytes, extended ? "XSDT" : "RSDT", 4))
        return format_refusal(why, why_capacity, BATON_EINVAL, "acpi: the root table at 0x%lx is not an %s", root_phys,
                              extended ? "XSDT" : "RSDT");
    const usize entry_size = extended ? 8 : 4;
    const u32 entries = static_cast<u32>((root_table.length - HEADER_SIZE) / entry_size);
    if (entries > MAX_ROOT_ENTRIES)
        return format_refusal(why, why_capacity, BATON_EINVAL, "acpi: the root table lists %u tables (at most %u)",
                              entries, MAX_ROOT_ENTRIES);
    if (root != nullptr) {
        root->extended = extended;
        root->phys = root_phys;
        root->entries = entries;
        for (usize i = 0; i < 6; i++)
            root->oem_id[i] = static_cast<char>(root_table.bytes[10 + i]);
        root->oem_id[6] = '\0';
        for (usize i = 6; i > 1 && root->oem_id[i - 1] == ' '; i--)
            root->oem_id[i - 1] = '\0'; // space-padded ("BOCHS ")
    }

    for (u32 i = 0; i < entries; i++) {
        const u8 *entry = root_table.bytes + HEADER_SIZE + i * entry_size;
        const u64 phys = extended ? read64(entry) : read32(entry);
        if (phys == 0 || !readable(phys, HEADER_SIZE, readable_end))
            continue; // a bad entry hides only its own table
        if (!same_signature(phys_to<const u8>(phys), signature, 4))
            continue;
        return load_table(phys, readable_end, out, why, why_capacity);
    }
    return format_refusal(why, why_capacity, BATON_ENOENT, "acpi: no %.4s table", signature);
}

} // namespace acpi
