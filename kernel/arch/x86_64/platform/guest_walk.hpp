// SPDX-License-Identifier: MIT
// Translating a guest-virtual address through the guest's own page tables.
#pragma once
#include "lib/types.hpp"

// The hypervisor reads the instruction a guest faulted on (MMIO emulation), so it walks
// the guest's tables as the CPU would: paging off, 32-bit (4 KiB and, with CR4.PSE,
// 4 MiB pages), PAE (2 MiB pages) and 4-level long mode (2 MiB and 1 GiB pages). It only
// reads: no accessed or dirty bits are set, and rights are not checked (the guest just
// executed from there). Five-level paging is refused.

// Reads guest-physical memory; false if the address is not readable RAM.
class GuestPhysReader {
public:
    virtual bool read_u64(u64 gpa, u64 *value) = 0;

protected:
    ~GuestPhysReader() = default;
};

struct GuestPaging {
    u64 cr0 = 0;
    u64 cr3 = 0;
    u64 cr4 = 0;
    u64 efer = 0;
};

enum class GuestAccess : u8 { read, write, fetch };

// 0 with the guest-physical address, -BATON_ENOENT (not present), -BATON_EINVAL (a
// non-canonical address, reserved bits, five-level paging) or -BATON_EFAULT (a table the
// reader cannot read).
[[nodiscard]] int guest_translate(const GuestPaging &paging, u64 linear, GuestAccess access, GuestPhysReader &reader,
                                  u64 *gpa);
