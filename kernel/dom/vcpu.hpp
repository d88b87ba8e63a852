// SPDX-License-Identifier: MIT
// A virtual CPU in arch-neutral terms; the architecture keeps its own part (ArchVcpu).
#pragma once
#include "lib/types.hpp"

class Domain;
struct ArchVcpu; // kernel/arch/x86_64/arch_vcpu.hpp

// vCPUs per domain (docs/vcpus.md). Ids 0..count-1; vCPU 0 starts at the image's entry,
// the others when vCPU 0 (or any running one) asks with BATON_HC_VCPU_UP.
inline constexpr u16 MAX_VCPUS = 8;

// Everything here is per vCPU: nothing assumes one vCPU per domain, nor that every vCPU
// runs on the same physical CPU (last_cpu says where it ran, the record carries it).
struct Vcpu {
    Domain *domain = nullptr;
    ArchVcpu *arch = nullptr; // made when the domain is made, for every vCPU, up or not
    u16 id = 0;
    bool up = false; // started (vCPU 0 at creation, the others by BATON_HC_VCPU_UP); never down again
    bool blocked = false; // waiting in BATON_HC_BLOCK or HLT
    u64 wake_deadline_ns = 0; // 0: no deadline
    u16 view = 0; // the p2m view it runs in: 0 the host p2m, else an alternate view
    u32 last_cpu = 0; // the physical CPU (its index, 0: the bootstrap CPU) it last ran on
    u64 info_mfn = 0; // its info page (dom/vcpu_info.hpp), 0: none yet
    u64 info_gfn = ~u64{0}; // where the guest mapped it (NO_GFN: nowhere)
    // Scheduling (dom/scheduler.hpp), read and written atomically: the CPU whose run queue
    // it is on, and the CPU running it now (~0: none; one CPU at a time).
    u32 home_cpu = 0;
    u32 running_on = ~u32{0};
    u64 exits = 0;
    u64 hypercalls = 0;
};

// The state `batonctl list` shows: "down", "blocked" or "running" (runnable or running).
const char *vcpu_state_name(const Vcpu &vcpu);

// Provided by the architecture (host tests provide fakes).
// Creates the vCPU's hardware state for a PVH-style start at `entry` with EBX = `ebx`.
[[nodiscard]] int arch_vcpu_create(Vcpu &vcpu, u64 nested_root, u32 entry, u32 ebx);
// Resets a vCPU made by arch_vcpu_create (and not run since) to the same 32-bit start
// state with EIP = entry, ESP = stack, EBX = ebx, ESI = esi (BATON_HC_VCPU_UP).
void arch_vcpu_start(Vcpu &vcpu, u32 entry, u32 stack, u32 ebx, u32 esi);
void arch_vcpu_destroy(Vcpu &vcpu);
// Points the vCPU at a new nested root and/or flushes its guest TLB before it next runs.
void arch_vcpu_flush_guest_tlb(Vcpu &vcpu, u64 nested_root);
// Asks for the upcall vector to be delivered when the guest can take it.
void arch_vcpu_request_upcall(Vcpu &vcpu, u8 vector);
