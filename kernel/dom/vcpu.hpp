// SPDX-License-Identifier: MIT
// A virtual CPU in arch-neutral terms; the architecture keeps its own part (ArchVcpu).
#pragma once
#include "lib/types.hpp"

class Domain;
struct ArchVcpu; // kernel/arch/x86_64/arch_vcpu.hpp

struct Vcpu {
    Domain *domain = nullptr;
    ArchVcpu *arch = nullptr;
    bool blocked = false; // waiting in BATON_HC_BLOCK or HLT
    u64 wake_deadline_ns = 0; // 0: no deadline
    u16 view = 0; // the p2m view it runs in: 0 the host p2m, else an alternate view
    u64 exits = 0;
    u64 hypercalls = 0;
};

// Provided by the architecture (host tests provide fakes).
// Creates the vCPU's hardware state for a PVH-style start at `entry` with EBX = `ebx`.
[[nodiscard]] int arch_vcpu_create(Vcpu &vcpu, u64 nested_root, u32 entry, u32 ebx);
void arch_vcpu_destroy(Vcpu &vcpu);
// Points the vCPU at a new nested root and/or flushes its guest TLB before it next runs.
void arch_vcpu_flush_guest_tlb(Vcpu &vcpu, u64 nested_root);
// Asks for the upcall vector to be delivered when the guest can take it.
void arch_vcpu_request_upcall(Vcpu &vcpu, u8 vector);
