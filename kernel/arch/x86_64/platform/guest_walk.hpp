// SPDX-License-Identifier: MIT
// Guest page-table walk: a guest linear address to a guest-physical one.
#pragma once
#include "lib/types.hpp"

// To decode the instruction behind an MMIO exit the hypervisor reads it at guest RIP,
// which is a linear address in the guest's own paging mode. This walk translates it as
// the guest's CPU would (Intel SDM vol. 3, chapter 4; AMD APM vol. 2, chapter 5):
//   CR0.PG=0                    no paging: the address is the physical address
//   CR4.PAE=0                   32-bit paging, 4 KiB pages and with CR4.PSE 4 MiB (PSE-36)
//   CR4.PAE=1, EFER.LMA=0       PAE paging, 4 KiB and 2 MiB pages
//   EFER.LMA=1                  4-level paging, 4 KiB, 2 MiB and 1 GiB pages
// 5-level paging (CR4.LA57) is refused.
//
// Read-only: accessed and dirty bits are not set, because the hypervisor only reads an
// instruction the guest already fetched; a guest that relies on A/D bits sees them set
// by its own execution. No TLB either: each call walks from CR3. PAE's PDPTEs are read
// from memory rather than from the copies the CPU loaded at the last CR3 write.

// Reads guest-physical memory for the walk. Called only with 8-byte aligned addresses;
// answers false when `gpa` is not guest RAM.
class GuestPhysReader {
public:
    virtual bool read_u64(u64 gpa, u64 *value) = 0;

protected:
    ~GuestPhysReader() = default;
};

// The guest's paging state, as the VMCB save area holds it.
struct GuestPaging {
    u64 cr0 = 0;
    u64 cr3 = 0;
    u64 cr4 = 0;
    u64 efer = 0;
    // The guest's MAXPHYADDR (CPUID 0x80000008 EAX[7:0]): entry bits at and above it,
    // up to bit 51, are reserved.
    u8 phys_addr_bits = 52;
};

// The control-register and EFER bits the walk reads.
namespace guest_paging_bits {
inline constexpr u64 CR0_WP = u64{1} << 16;
inline constexpr u64 CR0_PG = u64{1} << 31;
inline constexpr u64 CR4_PSE = u64{1} << 4;
inline constexpr u64 CR4_PAE = u64{1} << 5;
inline constexpr u64 CR4_LA57 = u64{1} << 12;
inline constexpr u64 CR4_SMEP = u64{1} << 20;
inline constexpr u64 EFER_LMA = u64{1} << 10;
inline constexpr u64 EFER_NXE = u64{1} << 11;
} // namespace guest_paging_bits

enum class GuestAccessType : u8 { read, write, fetch };

struct GuestAccess {
    GuestAccessType type = GuestAccessType::read;
    bool user = false; // CPL 3
};

// Translates `linear` for `access` and stores the guest-physical address in `*gpa`.
// Rights are checked as the CPU would: R/W (with CR0.WP for supervisor writes), U/S,
// XD (with EFER.NXE) and SMEP; SMAP is not (it depends on RFLAGS.AC and on the kind of
// access, which the caller knows better). Returns 0 or
//   -BATON_ENOENT  an entry on the way is not present (the guest would take #PF);
//   -BATON_EPERM   present, but the rights forbid the access (#PF with P=1);
//   -BATON_EINVAL  a reserved bit is set in an entry, the address is not canonical or
//                  wider than the mode's 32 bits, or the control registers contradict
//                  each other (EFER.LMA without CR4.PAE or CR0.PG);
//   -BATON_ENOSYS  5-level paging;
//   -BATON_EFAULT  `reader` could not read a table (not guest RAM).
[[nodiscard]] int guest_translate(const GuestPaging &paging, u64 linear, GuestAccess access, GuestPhysReader &reader,
                                  u64 *gpa);
