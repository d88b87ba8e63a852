// SPDX-License-Identifier: MIT
// Translating a guest-virtual address through the guest's own page tables.
#include "arch/x86_64/platform/guest_walk.hpp"
#include "abi/errno.h"

namespace {

constexpr u64 CR0_PG = u64{1} << 31;
constexpr u64 CR4_PSE = u64{1} << 4, CR4_PAE = u64{1} << 5, CR4_LA57 = u64{1} << 12;
constexpr u64 EFER_LMA = u64{1} << 10;
constexpr u64 PTE_PRESENT = 1, PTE_LARGE = u64{1} << 7;
constexpr u64 ADDRESS_MASK = 0x000ffffffffff000; // bits 51:12 of a 64-bit entry
constexpr u64 PAE_CR3_MASK = 0xffffffe0;
constexpr u64 PSE36_HIGH_MASK = 0x1fe000; // 4 MiB page: physical bits 39:32 in PDE bits 20:13

bool canonical(u64 linear) { return static_cast<u64>(static_cast<i64>(linear << 16) >> 16) == linear; }

int read_entry(GuestPhysReader &reader, u64 gpa, u64 *entry) { return reader.read_u64(gpa, entry) ? 0 : -BATON_EFAULT; }

// 32-bit tables hold 4-byte entries: the reader reads 8 aligned bytes and this picks half.
int read_entry32(GuestPhysReader &reader, u64 gpa, u64 *entry)
{
    u64 pair = 0;
    if (!reader.read_u64(gpa & ~u64{7}, &pair))
        return -BATON_EFAULT;
    *entry = (gpa & 4) != 0 ? pair >> 32 : pair & 0xffffffff;
    return 0;
}

int walk_32bit(const GuestPaging &paging, u64 linear, GuestPhysReader &reader, u64 *gpa)
{
    u64 pde = 0;
    if (int error = read_entry32(reader, (paging.cr3 & 0xfffff000) + ((linear >> 22) & 0x3ff) * 4, &pde))
        return error;
    if ((pde & PTE_PRESENT) == 0)
        return -BATON_ENOENT;
    if ((pde & PTE_LARGE) != 0 && (paging.cr4 & CR4_PSE) != 0) {
        const u64 base = (pde & 0xffc00000) | ((pde & PSE36_HIGH_MASK) << 19);
        *gpa = base | (linear & 0x3fffff);
        return 0;
    }
    u64 pte = 0;
    if (int error = read_entry32(reader, (pde & 0xfffff000) + ((linear >> 12) & 0x3ff) * 4, &pte))
        return error;
    if ((pte & PTE_PRESENT) == 0)
        return -BATON_ENOENT;
    *gpa = (pte & 0xfffff000) | (linear & 0xfff);
    return 0;
}

// PAE and long mode: 9 index bits per level below the top, 8-byte entries.
int walk_levels(u64 table, unsigned levels, u64 linear, GuestPhysReader &reader, u64 *gpa)
{
    for (unsigned level = levels; level >= 1; level--) {
        const unsigned shift = 12 + 9 * (level - 1);
        u64 entry = 0;
        if (int error = read_entry(reader, table + ((linear >> shift) & 0x1ff) * 8, &entry))
            return error;
        if ((entry & PTE_PRESENT) == 0)
            return -BATON_ENOENT;
        const bool large = (entry & PTE_LARGE) != 0 && (level == 2 || level == 3);
        if (large || level == 1) {
            const u64 page_mask = (u64{1} << shift) - 1;
            *gpa = ((entry & ADDRESS_MASK) & ~page_mask) | (linear & page_mask);
            return 0;
        }
        table = entry & ADDRESS_MASK;
    }
    return -BATON_EINVAL;
}

} // namespace

int guest_translate(const GuestPaging &paging, u64 linear, GuestAccess access, GuestPhysReader &reader, u64 *gpa)
{
    (void)access; // read only: the guest's own rights were checked when it ran
    if ((paging.cr0 & CR0_PG) == 0) {
        *gpa = (paging.efer & EFER_LMA) != 0 ? linear : linear & 0xffffffff;
        return 0;
    }
    if ((paging.efer & EFER_LMA) != 0) {
        if ((paging.cr4 & CR4_LA57) != 0 || !canonical(linear))
            return -BATON_EINVAL;
        return walk_levels(paging.cr3 & ADDRESS_MASK, 4, linear, reader, gpa);
    }
    linear &= 0xffffffff;
    if ((paging.cr4 & CR4_PAE) != 0) {
        u64 pdpte = 0;
        if (int error = read_entry(reader, (paging.cr3 & PAE_CR3_MASK) + ((linear >> 30) & 3) * 8, &pdpte))
            return error;
        if ((pdpte & PTE_PRESENT) == 0)
            return -BATON_ENOENT;
        return walk_levels(pdpte & ADDRESS_MASK, 2, linear, reader, gpa);
    }
    return walk_32bit(paging, linear, reader, gpa);
}
