// SPDX-License-Identifier: MIT
// The AMD SVM virtual machine control block: control area and state save area.
#pragma once
#include "lib/types.hpp"

struct [[gnu::packed]] VmcbSegment {
    u16 selector;
    u16 attributes; // packed form: type, S, DPL, P in bits 0-7; AVL, L, D/B, G in bits 8-11
    u32 limit;
    u64 base;
};
static_assert(sizeof(VmcbSegment) == 16);

struct [[gnu::packed]] VmcbControl {
    u32 intercept_cr; // 0x000: reads in bits 0-15, writes in bits 16-31
    u32 intercept_dr; // 0x004
    u32 intercept_exceptions; // 0x008
    u32 intercept_misc1; // 0x00c
    u32 intercept_misc2; // 0x010
    u32 intercept_misc3; // 0x014
    u8 reserved_018[0x03c - 0x018];
    u16 pause_filter_threshold; // 0x03c
    u16 pause_filter_count; // 0x03e
    u64 iopm_base_pa; // 0x040
    u64 msrpm_base_pa; // 0x048
    u64 tsc_offset; // 0x050
    u32 guest_asid; // 0x058
    u8 tlb_control; // 0x05c
    u8 reserved_05d[3];
    u64 virtual_interrupt; // 0x060: V_TPR, V_IRQ (bit 8), V_INTR_PRIO, V_INTR_MASKING (24), vector (32-39)
    u64 interrupt_shadow; // 0x068
    u64 exit_code; // 0x070
    u64 exit_info1; // 0x078
    u64 exit_info2; // 0x080
    u64 exit_interrupt_info; // 0x088
    u64 nested_control; // 0x090: bit 0 enables nested paging
    u64 avic_apic_bar; // 0x098
    u64 ghcb_pa; // 0x0a0
    u64 event_injection; // 0x0a8
    u64 nested_cr3; // 0x0b0
    u64 virtualization_ext; // 0x0b8
    u32 clean_bits; // 0x0c0
    u32 reserved_0c4;
    u64 next_rip; // 0x0c8 (not filled in by QEMU TCG)
    u8 instruction_length; // 0x0d0
    u8 instruction_bytes[15]; // 0x0d1
    u8 reserved_0e0[0x400 - 0x0e0];
};
static_assert(sizeof(VmcbControl) == 0x400);

struct [[gnu::packed]] VmcbState {
    VmcbSegment es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; // 0x400-0x49f
    u8 reserved_4a0[0x4cb - 0x4a0];
    u8 cpl; // 0x4cb
    u32 reserved_4cc;
    u64 efer; // 0x4d0
    u8 reserved_4d8[0x548 - 0x4d8];
    u64 cr4; // 0x548
    u64 cr3; // 0x550
    u64 cr0; // 0x558
    u64 dr7; // 0x560
    u64 dr6; // 0x568
    u64 rflags; // 0x570
    u64 rip; // 0x578
    u8 reserved_580[0x5d8 - 0x580];
    u64 rsp; // 0x5d8
    u64 s_cet, ssp, isst_addr; // 0x5e0
    u64 rax; // 0x5f8
    u64 star, lstar, cstar, sfmask, kernel_gs_base; // 0x600
    u64 sysenter_cs, sysenter_esp, sysenter_eip; // 0x628
    u64 cr2; // 0x640
    u8 reserved_648[0x668 - 0x648];
    u64 g_pat; // 0x668
    u64 dbgctl; // 0x670
    u64 br_from, br_to, last_excp_from, last_excp_to; // 0x678
    u8 reserved_698[0x1000 - 0x698];
};
static_assert(sizeof(VmcbState) == 0x1000 - 0x400);

struct Vmcb {
    VmcbControl control;
    VmcbState state;
};
static_assert(sizeof(Vmcb) == 4096);
static_assert(__builtin_offsetof(Vmcb, state.efer) == 0x4d0);
static_assert(__builtin_offsetof(Vmcb, state.rip) == 0x578);
static_assert(__builtin_offsetof(Vmcb, state.rax) == 0x5f8);
static_assert(__builtin_offsetof(Vmcb, state.g_pat) == 0x668);
static_assert(__builtin_offsetof(Vmcb, control.nested_cr3) == 0x0b0);

namespace vmcb {
// intercept_misc1 bits
inline constexpr u32 INTERCEPT_INTR = 1u << 0, INTERCEPT_NMI = 1u << 1, INTERCEPT_VINTR = 1u << 4,
                     INTERCEPT_CPUID = 1u << 18, INTERCEPT_HLT = 1u << 24, INTERCEPT_IOIO = 1u << 27,
                     INTERCEPT_MSR = 1u << 28, INTERCEPT_SHUTDOWN = 1u << 31;
// intercept_misc2 bits
inline constexpr u32 INTERCEPT_VMRUN = 1u << 0, INTERCEPT_VMMCALL = 1u << 1, INTERCEPT_VMLOAD = 1u << 2,
                     INTERCEPT_VMSAVE = 1u << 3, INTERCEPT_STGI = 1u << 4, INTERCEPT_CLGI = 1u << 5,
                     INTERCEPT_SKINIT = 1u << 6, INTERCEPT_XSETBV = 1u << 13;

// Exit codes (low 32 bits; QEMU reports VMEXIT_INVALID as 0xffffffff in 64 bits).
inline constexpr u32 EXIT_EXCEPTION_BASE = 0x40, EXIT_INTR = 0x60, EXIT_NMI = 0x61, EXIT_VINTR = 0x64,
                     EXIT_CPUID = 0x72, EXIT_HLT = 0x78, EXIT_IOIO = 0x7b, EXIT_MSR = 0x7c, EXIT_SHUTDOWN = 0x7f,
                     EXIT_VMRUN = 0x80, EXIT_VMMCALL = 0x81, EXIT_NPF = 0x400, EXIT_INVALID = 0xffffffff;

// intercept_exceptions: one bit per vector.
constexpr u32 intercept_exception(u8 vector) { return 1u << vector; }

// tlb_control and nested_control.
inline constexpr u8 TLB_FLUSH_ALL = 1;
inline constexpr u64 NESTED_PAGING_ENABLE = 1;

// virtual_interrupt: V_IRQ pending, its priority, ignore V_TPR, V_INTR_MASKING, vector.
inline constexpr u64 V_TPR_MASK = 0xf, V_IRQ = 1ul << 8, V_IGN_TPR = 1ul << 20, V_INTR_MASKING = 1ul << 24;
inline constexpr unsigned V_INTR_PRIO_SHIFT = 16, V_INTR_VECTOR_SHIFT = 32;
inline constexpr u64 V_INTR_PRIO_MASK = 0xful << V_INTR_PRIO_SHIFT, V_INTR_VECTOR_MASK = 0xfful << V_INTR_VECTOR_SHIFT;

// event_injection and exit_interrupt_info: vector, type, error code valid, valid, error code.
enum EventType : u64 { EVENT_EXTERNAL = 0, EVENT_NMI = 2, EVENT_EXCEPTION = 3, EVENT_SOFTWARE = 4 };
inline constexpr unsigned EVENT_TYPE_SHIFT = 8, EVENT_ERROR_CODE_SHIFT = 32;
inline constexpr u64 EVENT_VECTOR_MASK = 0xff, EVENT_TYPE_MASK = 7ul << EVENT_TYPE_SHIFT,
                     EVENT_ERROR_CODE_VALID = 1ul << 11, EVENT_VALID = 1ul << 31;
constexpr u64 event(u8 vector, EventType type) { return EVENT_VALID | (u64{type} << EVENT_TYPE_SHIFT) | vector; }
constexpr u64 event_with_error_code(u8 vector, EventType type, u32 error_code)
{
    return event(vector, type) | EVENT_ERROR_CODE_VALID | (u64{error_code} << EVENT_ERROR_CODE_SHIFT);
}

// exit_info1 of an IOIO exit: direction, string/REP, operand size, port.
inline constexpr u64 IOIO_IN = 1ul << 0, IOIO_STRING = 1ul << 2, IOIO_REP = 1ul << 3, IOIO_SIZE8 = 1ul << 4,
                     IOIO_SIZE16 = 1ul << 5;
inline constexpr unsigned IOIO_PORT_SHIFT = 16;
// exit_info1 of an MSR exit: 1 for WRMSR.
inline constexpr u64 MSR_EXIT_WRITE = 1;
// exit_info1 of a nested page fault: the #PF error-code bits.
inline constexpr u64 NPF_PRESENT = 1ul << 0, NPF_WRITE = 1ul << 1, NPF_FETCH = 1ul << 4;

// Segment attributes in the VMCB's packed form (type, S, DPL, P; AVL, L, D/B, G).
inline constexpr u16 SEGMENT_CODE32 = 0xc9b, SEGMENT_CODE64 = 0xa9b, SEGMENT_DATA = 0xc93, SEGMENT_TSS_BUSY = 0x8b,
                     SEGMENT_LDT = 0x82;
} // namespace vmcb
