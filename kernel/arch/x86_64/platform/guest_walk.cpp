// SPDX-License-Identifier: MIT
// Guest page-table walk: a guest linear address to a guest-physical one.
#include "arch/x86_64/platform/guest_walk.hpp"
#include "abi/errno.h"

namespace {

using namespace guest_paging_bits;

// Entry bits shared by every format.
constexpr u64 ENTRY_PRESENT = u64{1} << 0;
constexpr u64 ENTRY_WRITABLE = u64{1} << 1;
constexpr u64 ENTRY_USER = u64{1} << 2;
constexpr u64 ENTRY_LARGE = u64{1} << 7; // PS: a large page instead of a table
constexpr u64 ENTRY_NO_EXECUTE = u64{1} << 63; // XD, 64-bit entries only
// A large page's PAT bit is bit 12; the bits from 13 up to the page's own size are
// reserved (2 MiB: 20:13, 1 GiB: 29:13).
constexpr unsigned LARGE_RESERVED_FIRST_BIT = 13;

constexpr u64 ADDRESS_LIMIT_32 = u64{1} << 32;
constexpr unsigned PHYS_BITS_MIN = 32;
constexpr unsigned PHYS_BITS_MAX = 52;
constexpr unsigned BITS_PER_BYTE = 8;

// 64-bit entries (PAE and 4-level): 512 per table, 9 index bits per level.
constexpr u64 ENTRY_BYTES_64 = 8;
constexpr unsigned INDEX_BITS_64 = 9;
constexpr u64 INDEX_MASK_64 = (u64{1} << INDEX_BITS_64) - 1;
constexpr unsigned LONG_MODE_LEVELS = 4; // PML4, PDPT, PD, PT
constexpr unsigned LONG_MODE_LARGE_LEVEL = 3; // 1 GiB pages from the PDPT down
constexpr unsigned CANONICAL_BITS = 48;
constexpr unsigned PAE_TABLE_LEVELS = 2; // PD and PT below the PDPT
constexpr unsigned PAE_LARGE_LEVEL = 2; // 2 MiB pages in the PD
constexpr unsigned PAE_PDPT_SHIFT = 30;
constexpr u64 PAE_PDPT_INDEX_MASK = 3; // four PDPTEs
constexpr u64 PAE_CR3_ADDRESS = 0xffffffe0; // the PDPT is 32-byte aligned below 4 GiB
// PDPTEs carry no rights: bits 2:1 and 8:5 are reserved, and so is XD.
constexpr u64 PAE_PDPTE_RESERVED = 0x1e6 | ENTRY_NO_EXECUTE;
constexpr unsigned PAE_ENTRY_HIGH_BIT = 62; // PAE: 62:MAXPHYADDR reserved (4-level: 51:M)

// 32-bit paging: 4-byte entries, 1024 per table, 4 KiB and 4 MiB pages.
constexpr u64 ENTRY_BYTES_32 = 4;
constexpr unsigned INDEX_BITS_32 = 10;
constexpr u64 INDEX_MASK_32 = (u64{1} << INDEX_BITS_32) - 1;
constexpr unsigned DIRECTORY_SHIFT_32 = PAGE_SHIFT + INDEX_BITS_32;
constexpr u64 TABLE_ADDRESS_32 = 0xfffff000;
constexpr u64 LARGE_PAGE_32 = u64{1} << DIRECTORY_SHIFT_32;
// PSE-36: a 4 MiB page's physical bits 39:32 sit in PDE bits 20:13; bit 21 is reserved.
constexpr unsigned PSE36_FIELD_SHIFT = 13;
constexpr u64 PSE36_FIELD_MASK = 0xff;
constexpr unsigned PSE36_ADDRESS_SHIFT = 32;
constexpr unsigned PSE36_MAX_PHYS_BITS = 40;
constexpr u64 PSE36_RESERVED = u64{1} << 21;

constexpr u64 bits_from(unsigned low, unsigned high) // bits high:low, inclusive
{
    return ((u64{1} << high) - (u64{1} << low)) | (u64{1} << high);
}

// The rights of a translation: the AND of every level's R/W and U/S, the OR of XD.
struct Rights {
    bool writable = true;
    bool user = true;
    bool executable = true;

    void add(u64 entry, bool no_execute_enabled)
    {
        writable = writable && (entry & ENTRY_WRITABLE) != 0;
        user = user && (entry & ENTRY_USER) != 0;
        executable = executable && !(no_execute_enabled && (entry & ENTRY_NO_EXECUTE) != 0);
    }
};

[[nodiscard]] int check_rights(const GuestPaging &paging, const Rights &rights, GuestAccess access)
{
    if (access.user && !rights.user)
        return -BATON_EPERM;
    // Supervisor writes to read-only pages fault only with CR0.WP.
    if (access.type == GuestAccessType::write && !rights.writable && (access.user || (paging.cr0 & CR0_WP) != 0))
        return -BATON_EPERM;
    if (access.type == GuestAccessType::fetch) {
        if (!rights.executable)
            return -BATON_EPERM;
        if (!access.user && rights.user && (paging.cr4 & CR4_SMEP) != 0)
            return -BATON_EPERM;
    }
    return 0;
}

unsigned phys_bits(const GuestPaging &paging)
{
    const unsigned bits = paging.phys_addr_bits;
    return bits < PHYS_BITS_MIN ? PHYS_BITS_MIN : bits > PHYS_BITS_MAX ? PHYS_BITS_MAX : bits;
}

// A walk over 64-bit entries (PAE below the PDPT, and 4-level paging).
struct Walk64 {
    GuestPhysReader &reader;
    u64 reserved = 0; // bits no present entry of this mode may set
    u64 address_mask = 0; // table and page address bits: MAXPHYADDR-1:12
    unsigned large_level = 0; // highest level whose PS bit maps a page
    bool no_execute = false; // EFER.NXE
    Rights rights;
};

// Walks `levels` levels down from the table at `table` (level 1 holds the PTEs).
[[nodiscard]] int walk_tables(Walk64 &walk, u64 table, unsigned levels, u64 linear, u64 *gpa)
{
    for (unsigned level = levels; level >= 1; level--) {
        const unsigned shift = PAGE_SHIFT + INDEX_BITS_64 * (level - 1);
        u64 entry = 0;
        if (!walk.reader.read_u64(table + ((linear >> shift) & INDEX_MASK_64) * ENTRY_BYTES_64, &entry))
            return -BATON_EFAULT;
        if ((entry & ENTRY_PRESENT) == 0)
            return -BATON_ENOENT;
        if ((entry & walk.reserved) != 0)
            return -BATON_EINVAL;
        walk.rights.add(entry, walk.no_execute);
        const bool large = level > 1 && (entry & ENTRY_LARGE) != 0;
        if (!large && level > 1) {
            table = entry & walk.address_mask;
            continue;
        }
        const u64 page_bytes = u64{1} << shift;
        if (large && (level > walk.large_level || (entry & bits_from(LARGE_RESERVED_FIRST_BIT, shift - 1)) != 0))
            return -BATON_EINVAL; // PS in a PML4E, or a misaligned large page
        *gpa = (entry & walk.address_mask & ~(page_bytes - 1)) | (linear & (page_bytes - 1));
        return 0;
    }
    return -BATON_EINVAL; // not reached: level 1 always ends the walk
}

[[nodiscard]] int read_u32(GuestPhysReader &reader, u64 gpa, u64 *value)
{
    u64 both = 0;
    if (!reader.read_u64(gpa & ~(ENTRY_BYTES_64 - 1), &both))
        return -BATON_EFAULT;
    const u64 shift = (gpa & ENTRY_BYTES_32) * BITS_PER_BYTE; // x86 is little-endian
    *value = (both >> shift) & (ADDRESS_LIMIT_32 - 1);
    return 0;
}

[[nodiscard]] int translate_32bit(const GuestPaging &paging, u64 linear, GuestAccess access, GuestPhysReader &reader,
                                  u64 *gpa)
{
    Rights rights;
    u64 pde = 0;
    const u64 pde_gpa =
        (paging.cr3 & TABLE_ADDRESS_32) + ((linear >> DIRECTORY_SHIFT_32) & INDEX_MASK_32) * ENTRY_BYTES_32;
    if (const int status = read_u32(reader, pde_gpa, &pde); status != 0)
        return status;
    if ((pde & ENTRY_PRESENT) == 0)
        return -BATON_ENOENT;
    rights.add(pde, false);
    u64 result = 0;
    if ((paging.cr4 & CR4_PSE) != 0 && (pde & ENTRY_LARGE) != 0) {
        const u64 high = (pde >> PSE36_FIELD_SHIFT) & PSE36_FIELD_MASK;
        const unsigned bits = phys_bits(paging) < PSE36_MAX_PHYS_BITS ? phys_bits(paging) : PSE36_MAX_PHYS_BITS;
        if ((pde & PSE36_RESERVED) != 0 || (high >> (bits - PSE36_ADDRESS_SHIFT)) != 0)
            return -BATON_EINVAL;
        result = (pde & ~(LARGE_PAGE_32 - 1) & TABLE_ADDRESS_32) | (high << PSE36_ADDRESS_SHIFT) |
                 (linear & (LARGE_PAGE_32 - 1));
    } else {
        u64 pte = 0;
        const u64 pte_gpa = (pde & TABLE_ADDRESS_32) + ((linear >> PAGE_SHIFT) & INDEX_MASK_32) * ENTRY_BYTES_32;
        if (const int status = read_u32(reader, pte_gpa, &pte); status != 0)
            return status;
        if ((pte & ENTRY_PRESENT) == 0)
            return -BATON_ENOENT;
        rights.add(pte, false);
        result = (pte & TABLE_ADDRESS_32) | (linear & (PAGE_SIZE - 1));
    }
    if (const int status = check_rights(paging, rights, access); status != 0)
        return status;
    *gpa = result;
    return 0;
}

[[nodiscard]] int translate_pae(const GuestPaging &paging, u64 linear, GuestAccess access, GuestPhysReader &reader,
                                u64 *gpa)
{
    const unsigned bits = phys_bits(paging);
    const bool no_execute = (paging.efer & EFER_NXE) != 0;
    u64 pdpte = 0;
    const u64 pdpte_gpa =
        (paging.cr3 & PAE_CR3_ADDRESS) + ((linear >> PAE_PDPT_SHIFT) & PAE_PDPT_INDEX_MASK) * ENTRY_BYTES_64;
    if (!reader.read_u64(pdpte_gpa, &pdpte))
        return -BATON_EFAULT;
    if ((pdpte & ENTRY_PRESENT) == 0)
        return -BATON_ENOENT;
    const u64 high_reserved = bits_from(bits, PAE_ENTRY_HIGH_BIT);
    if ((pdpte & (PAE_PDPTE_RESERVED | high_reserved)) != 0)
        return -BATON_EINVAL;
    const u64 address_mask = bits_from(PAGE_SHIFT, bits - 1);
    Walk64 walk{reader, high_reserved | (no_execute ? 0 : ENTRY_NO_EXECUTE), address_mask, PAE_LARGE_LEVEL, no_execute,
                {}};
    u64 result = 0;
    if (const int status = walk_tables(walk, pdpte & address_mask, PAE_TABLE_LEVELS, linear, &result); status != 0)
        return status;
    if (const int status = check_rights(paging, walk.rights, access); status != 0)
        return status;
    *gpa = result;
    return 0;
}

[[nodiscard]] int translate_long(const GuestPaging &paging, u64 linear, GuestAccess access, GuestPhysReader &reader,
                                 u64 *gpa)
{
    if ((paging.cr4 & CR4_LA57) != 0)
        return -BATON_ENOSYS;
    if ((paging.cr4 & CR4_PAE) == 0)
        return -BATON_EINVAL;
    // Canonical: bits 63:47 all equal.
    constexpr unsigned unused = 64 - CANONICAL_BITS;
    if (static_cast<u64>(static_cast<i64>(linear << unused) >> unused) != linear)
        return -BATON_EINVAL;
    const unsigned bits = phys_bits(paging);
    const bool no_execute = (paging.efer & EFER_NXE) != 0;
    const u64 address_mask = bits_from(PAGE_SHIFT, bits - 1);
    // Bits 51:MAXPHYADDR are reserved (62:52 are ignored or protection keys).
    const u64 reserved =
        (bits < PHYS_BITS_MAX ? bits_from(bits, PHYS_BITS_MAX - 1) : 0) | (no_execute ? 0 : ENTRY_NO_EXECUTE);
    Walk64 walk{reader, reserved, address_mask, LONG_MODE_LARGE_LEVEL, no_execute, {}};
    u64 result = 0;
    if (const int status = walk_tables(walk, paging.cr3 & address_mask, LONG_MODE_LEVELS, linear, &result); status != 0)
        return status;
    if (const int status = check_rights(paging, walk.rights, access); status != 0)
        return status;
    *gpa = result;
    return 0;
}

} // namespace

int guest_translate(const GuestPaging &paging, u64 linear, GuestAccess access, GuestPhysReader &reader, u64 *gpa)
{
    if ((paging.efer & EFER_LMA) != 0) {
        if ((paging.cr0 & CR0_PG) == 0)
            return -BATON_EINVAL; // LMA is PG and LME together
        return translate_long(paging, linear, access, reader, gpa);
    }
    if (linear >= ADDRESS_LIMIT_32)
        return -BATON_EINVAL; // outside long mode, linear addresses have 32 bits
    if ((paging.cr0 & CR0_PG) == 0) {
        *gpa = linear;
        return 0;
    }
    if ((paging.cr4 & CR4_PAE) != 0)
        return translate_pae(paging, linear, access, reader, gpa);
    return translate_32bit(paging, linear, access, reader, gpa);
}
