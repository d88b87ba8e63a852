// SPDX-License-Identifier: MIT
// Kernel GDT and TSS: flat 64-bit segments and IST stacks for faults that must not
// run on a possibly broken stack.
#pragma once
#include "lib/types.hpp"

namespace gdt {
inline constexpr u16 KERNEL_CODE = 0x08;
inline constexpr u16 KERNEL_DATA = 0x10;
inline constexpr u16 TSS = 0x18;

// IST slots (1-based as the IDT encodes them).
inline constexpr u8 IST_DOUBLE_FAULT = 1;
inline constexpr u8 IST_NMI = 2;
inline constexpr u8 IST_MACHINE_CHECK = 3;

inline constexpr usize IST_COUNT = 3;
inline constexpr usize IST_STACK_SIZE = 16 * 1024;

struct [[gnu::packed]] Tss {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
};
static_assert(sizeof(Tss) == 104);

// One CPU's GDT and TSS: each CPU needs its own TSS (loading one marks it busy).
struct CpuTables {
    Tss tss;
    alignas(8) u64 descriptors[5];
};

// The bootstrap CPU's tables and IST stacks (static).
void init();
// Another CPU's: `ist_tops[i]` is the top of the stack for IST slot i + 1.
void load(CpuTables &tables, const u64 (&ist_tops)[IST_COUNT]);
} // namespace gdt
