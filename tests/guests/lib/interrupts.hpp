// SPDX-License-Identifier: MIT
// Interrupts and exceptions: IDT, TSS, the dispatcher and the crash report.
#pragma once
#include <stdint.h>

namespace guest {

// What interrupt_entry.S pushes, lowest address first.
struct Interrupt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss; // pushed by the CPU
};

using Interrupt_handler = void (*)(Interrupt_frame &frame);

// Loads the IDT (every exception reports itself and crashes the domain, as does any
// vector without a handler) and the TSS (IST stack for #DF, NMI and #MC; the CPL 0
// stack for the CPL 3 excursion).
void interrupts_init();
// On another vCPU, after interrupts_init() ran on vCPU 0: the same IDT, no TSS of its own
// (its exceptions report themselves on its own stack, but NMI, #DF and #MC, which want
// the IST stack, would fault again: no other vCPU takes them).
void interrupts_init_secondary();

// Routes a vector (32..255) to a handler; nullptr makes it unexpected again.
void set_interrupt_handler(uint8_t vector, Interrupt_handler handler);

} // namespace guest

// A hypercall made at CPL 3 (lib/user_mode.S); returns RAX as the hypervisor left it.
extern "C" long hypercall_at_cpl3(uint64_t number, uint64_t arg0);
