// SPDX-License-Identifier: MIT
// The x86-64 part of a vCPU: its SVM state and what is waiting to be delivered.
#pragma once
#include "arch/x86_64/cpu/fpu.hpp"
#include "arch/x86_64/svm/svm.hpp"

struct ArchVcpu {
    SvmVcpu svm;
    u64 vmcb_pa = 0;
    u64 tlb_generation_seen = 0;
    bool shared_asid = false; // its ASID is shared with other vCPUs: flush when switching between them
    bool upcall_requested = false;
    u8 upcall_vector = 0;
    u32 fpu_cpu = fpu::FPU_IN_MEMORY; // the CPU whose registers hold its x87/SSE image (fpu.hpp)
    u8 fpu_state[fpu::STATE_SIZE]; // x87/SSE registers while another vCPU (or none) runs
};
