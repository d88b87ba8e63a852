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

void init();
} // namespace gdt
