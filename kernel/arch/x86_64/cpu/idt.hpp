// SPDX-License-Identifier: MIT
// Interrupt descriptor table and the register frame every interrupt stub saves.
#pragma once
#include "lib/types.hpp"

// Pushed by kernel/arch/x86_64/isr.S, in this order from low to high addresses.
struct InterruptFrame {
    u64 r15, r14, r13, r12, r11, r10, r9, r8;
    u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error_code;
    // pushed by the CPU
    u64 rip, cs, rflags, rsp, ss;
};

namespace idt {
// Builds the gates and loads them on the bootstrap CPU.
void init();
// Loads the same table on another CPU.
void load();
} // namespace idt

// Called from the assembly stubs for every vector.
extern "C" void interrupt_dispatch(InterruptFrame *frame);
