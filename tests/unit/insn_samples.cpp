// SPDX-License-Identifier: MIT
// MMIO accessors compiled by GCC, whose machine code the decoder tests read.
#include "insn_samples.hpp"

// Sanitizers would put their checks before the access; the tests want the access first.
#define SAMPLE __attribute__((noinline, no_sanitize("address", "undefined")))

namespace insn_samples {
SAMPLE void store8(volatile u8 *p, u8 v) { *p = v; }
SAMPLE void store16(volatile u16 *p, u16 v) { *p = v; }
SAMPLE void store32(volatile u32 *p, u32 v) { *p = v; }
SAMPLE void store64(volatile u64 *p, u64 v) { *p = v; }
SAMPLE void store32_offset(volatile u32 *p, u32 v) { p[0xb0 / 4] = v; }
SAMPLE void store32_imm(volatile u32 *p) { *p = 0x12345678; }
SAMPLE void store8_imm(volatile u8 *p) { *p = 0x5a; }
SAMPLE u32 load32(volatile u32 *p) { return *p; }
SAMPLE u64 load64(volatile u64 *p) { return *p; }
SAMPLE u32 load32_offset(volatile u32 *p) { return p[0x320 / 4]; }
SAMPLE u32 load8_zero(volatile u8 *p) { return *p; }
SAMPLE u32 load16_zero(volatile u16 *p) { return *p; }
SAMPLE i32 load8_sign(volatile i8 *p) { return *p; }
SAMPLE i32 load16_sign(volatile i16 *p) { return *p; }
SAMPLE void store32_r9(u64, u64, u64, u64, volatile u32 *p, u32 v) { *p = v; }
SAMPLE u32 exchange32(volatile u32 *p, u32 v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
} // namespace insn_samples
