// SPDX-License-Identifier: MIT
// Device-access functions compiled by GCC, whose machine code the decoder tests read.
#pragma once
#include "lib/types.hpp"

// Each function makes one access to device-style (volatile) memory, the way a kernel's
// readl/writel accessors do. Arguments follow the SysV ABI (rdi rsi rdx rcx r8 r9), so
// the register operand of the access is known in advance.
// The tests' expectations are what GCC 12 emits at -O1 (HOST_CXXFLAGS) and -O2; at -O0 the
// arguments go through the stack first and the tests fail.
namespace insn_samples {

void store8(volatile u8 *p, u8 v);
void store16(volatile u16 *p, u16 v);
void store32(volatile u32 *p, u32 v);
void store64(volatile u64 *p, u64 v);
void store32_off(volatile u32 *p, u32 v); // p[0x300 / 4]: disp32
void store32_r8(volatile u32 *p, u64 a, u64 b, u64 c, u32 v); // v in r8d: REX.R
void store32_via_r9(u64 a, u64 b, u64 c, u64 d, u64 e, volatile u32 *p, u32 v); // p in r9: REX.B
void store8_r9(volatile u8 *p, u64 a, u64 b, u64 c, u64 d, u8 v); // r9b
void store16_r9(volatile u16 *p, u64 a, u64 b, u64 c, u64 d, u16 v); // 66 and REX.R
void store_high_byte(volatile u8 *p, u32 v); // MOV [rdi], AH
void store_imm8(volatile u8 *p);
void store_imm16(volatile u16 *p);
void store_imm32(volatile u32 *p);
void store_imm64(volatile u64 *p); // a negative imm32, sign-extended
u8 load8_off(volatile u8 *p); // p[0x320]
u16 load16(volatile u16 *p);
u32 load32(volatile u32 *p);
u64 load64(volatile u64 *p);
// At -O1 GCC computes a volatile element's address with LEA first; plain loads get SIB.
u32 load32_index(const u32 *p, u64 i); // SIB
u32 load32_index_off(const u32 *p, u64 i); // SIB and disp32
u64 load8_zero_extend(volatile u8 *p);
u64 load16_zero_extend(volatile u16 *p);
// At -O1 GCC loads a volatile byte with MOVZX and extends in a register; plain loads get
// the MOVSX forms.
i64 load8_sign_extend(const i8 *p);
i64 load16_sign_extend(const i16 *p);
i32 load8_sign_extend32(const i8 *p);
u16 load8_sign_extend16(const i8 *p); // 66 prefix: a 16-bit destination
u32 load_global(); // a global: RIP-relative in PIE code
u32 load32_into_r10(volatile u32 *p); // the loaded value is pinned to r10
u32 exchange32(volatile u32 *p, u32 v);
u64 exchange64(volatile u64 *p, u64 v);
u8 exchange8(volatile u8 *p, u8 v);

} // namespace insn_samples

// 32-bit and 16-bit code (tests/unit/insn_samples.cpp says which instructions), each
// sample one access followed by RET.
extern "C" {
extern const u8 insn_sample32_store_moffs[];
extern const u8 insn_sample32_store_disp32[];
extern const u8 insn_sample32_store_imm16[];
extern const u8 insn_sample32_store_high_byte[];
extern const u8 insn_sample32_movzx_sib[];
extern const u8 insn_sample32_load_addr16[];
extern const u8 insn_sample32_xchg_absolute[];
extern const u8 insn_sample16_store[];
extern const u8 insn_sample16_store32[];
extern const u8 insn_sample16_load_moffs[];
extern const u8 insn_sample16_store_addr32[];
extern const u8 insn_sample16_store_imm8[];
}
