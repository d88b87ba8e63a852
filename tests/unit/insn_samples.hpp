// SPDX-License-Identifier: MIT
// MMIO accessors compiled by GCC, whose machine code the decoder tests read.
#pragma once
#include "lib/types.hpp"

// Each does one access through a volatile pointer, the way kernel MMIO helpers do; the
// arguments arrive in SysV registers (rdi, rsi, rdx, rcx, r8, r9), so the test knows
// which register each instruction must name.
namespace insn_samples {
void store8(volatile u8 *p, u8 v);
void store16(volatile u16 *p, u16 v);
void store32(volatile u32 *p, u32 v);
void store64(volatile u64 *p, u64 v);
void store32_offset(volatile u32 *p, u32 v); // p[0xb0 / 4]: an APIC register write
void store32_imm(volatile u32 *p); // writes 0x12345678
void store8_imm(volatile u8 *p); // writes 0x5a
u32 load32(volatile u32 *p);
u64 load64(volatile u64 *p);
u32 load32_offset(volatile u32 *p); // p[0x320 / 4]
u32 load8_zero(volatile u8 *p);
u32 load16_zero(volatile u16 *p);
i32 load8_sign(volatile i8 *p);
i32 load16_sign(volatile i16 *p);
void store32_r9(u64, u64, u64, u64, volatile u32 *p, u32 v); // pointer in r8, value in r9
u32 exchange32(volatile u32 *p, u32 v); // XCHG, as some kernels write the APIC
} // namespace insn_samples
