// SPDX-License-Identifier: MIT
// Per-vCPU info pages: an extra page per vCPU with its own upcall flags (BATON_HC_VCPU_INFO_MAP).
#pragma once
#include "abi/hypercall.h"
#include "dom/vcpu.hpp"

// Each page is made on the vCPU's first map, like the shared-info page: preserved, flagged
// as an extra page of the domain, never guest RAM. It lives until the domain is destroyed
// and travels in the record (ExtraPageRole.vcpuInfo). Calls run under the domain's
// serialization (the caller's hypercall or the restore), like domain_map_shared_info.

// Maps vCPU `vcpu`'s info page at `gfn` (a RAM frame of the guest, which it covers),
// making the page first if need be, and moves its upcall flags there. Mapping at another
// gfn moves the page. -BATON_ENOENT: no such vCPU; -BATON_EINVAL: not the guest's RAM;
// -BATON_ENOMEM. On an error nothing changed.
[[nodiscard]] int domain_map_vcpu_info(Domain &domain, u64 vcpu, u64 gfn);
// After a live update: takes back the page the record names (`mfn`, a preserved extra
// frame of the domain the restore has checked) and maps it at `gfn` unless it is NO_GFN.
[[nodiscard]] int vcpu_info_adopt(Domain &domain, u16 vcpu, u64 mfn, u64 gfn);
// The page, or nullptr if the vCPU has none.
baton_vcpu_info *vcpu_info(const Vcpu &vcpu);
// The vCPU is scheduled on physical CPU `cpu`: the page says so.
void vcpu_info_note_entry(Vcpu &vcpu, u32 cpu);
// Unmaps and frees the page (domain destruction).
void vcpu_info_release(Vcpu &vcpu);
