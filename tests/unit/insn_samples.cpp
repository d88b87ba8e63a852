// SPDX-License-Identifier: MIT
// Device-access functions compiled by GCC, whose machine code the decoder tests read.
#include "insn_samples.hpp"

// Sanitizers would put their checks before the access; the tests want the access itself.
#define SAMPLE __attribute__((noinline, no_sanitize("address", "undefined")))

namespace insn_samples {

namespace {
constexpr usize BYTE_OFFSET = 0x320; // the LAPIC's LVT timer register
constexpr usize DWORD_OFFSET = 0x300 / sizeof(u32); // the LAPIC's ICR low
constexpr u8 IMM8 = 0x5a;
constexpr u16 IMM16 = 0x1234;
constexpr u32 IMM32 = 0x12345678;
constexpr u64 IMM64 = ~u64{0} - 0x10; // fits a sign-extended imm32
volatile u32 global_register;
} // namespace

SAMPLE void store8(volatile u8 *p, u8 v) { *p = v; }
SAMPLE void store16(volatile u16 *p, u16 v) { *p = v; }
SAMPLE void store32(volatile u32 *p, u32 v) { *p = v; }
SAMPLE void store64(volatile u64 *p, u64 v) { *p = v; }
SAMPLE void store32_off(volatile u32 *p, u32 v) { p[DWORD_OFFSET] = v; }
SAMPLE void store32_r8(volatile u32 *p, u64, u64, u64, u32 v) { *p = v; }
SAMPLE void store32_via_r9(u64, u64, u64, u64, u64, volatile u32 *p, u32) { *p = IMM32; }
SAMPLE void store8_r9(volatile u8 *p, u64, u64, u64, u64, u8 v) { *p = v; }
SAMPLE void store16_r9(volatile u16 *p, u64, u64, u64, u64, u16 v) { *p = v; }
// GCC never picks AH for a store on its own; the assembler encodes the %h operand.
SAMPLE void store_high_byte(volatile u8 *p, u32 v) { asm volatile("movb %h1, %0" : "=m"(*p) : "a"(v)); }
SAMPLE void store_imm8(volatile u8 *p) { *p = IMM8; }
SAMPLE void store_imm16(volatile u16 *p) { *p = IMM16; }
SAMPLE void store_imm32(volatile u32 *p) { *p = IMM32; }
SAMPLE void store_imm64(volatile u64 *p) { *p = IMM64; }
SAMPLE u8 load8_off(volatile u8 *p) { return p[BYTE_OFFSET]; }
SAMPLE u16 load16(volatile u16 *p) { return *p; }
SAMPLE u32 load32(volatile u32 *p) { return *p; }
SAMPLE u64 load64(volatile u64 *p) { return *p; }
SAMPLE u32 load32_index(const u32 *p, u64 i) { return p[i]; }
SAMPLE u32 load32_index_off(const u32 *p, u64 i) { return p[i + DWORD_OFFSET]; }
SAMPLE u64 load8_zero_extend(volatile u8 *p) { return *p; }
SAMPLE u64 load16_zero_extend(volatile u16 *p) { return *p; }
SAMPLE i64 load8_sign_extend(const i8 *p) { return *p; }
SAMPLE i64 load16_sign_extend(const i16 *p) { return *p; }
SAMPLE i32 load8_sign_extend32(const i8 *p) { return *p; }
SAMPLE u16 load8_sign_extend16(const i8 *p) { return static_cast<u16>(*p); }
SAMPLE u32 load_global() { return global_register; }
SAMPLE u32 load32_into_r10(volatile u32 *p)
{
    register u32 value asm("r10") = *p;
    asm volatile("" : "+r"(value));
    return value;
}
SAMPLE u32 exchange32(volatile u32 *p, u32 v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
SAMPLE u64 exchange64(volatile u64 *p, u64 v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
SAMPLE u8 exchange8(volatile u8 *p, u8 v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }

} // namespace insn_samples

// Code for the 32-bit and 16-bit protected modes, as the assembler encodes it. Each
// sample is one access followed by RET; the padding keeps 15-byte reads inside the block.
asm(R"(
    .pushsection .rodata.insn_samples, "a"
    .code32
    .globl insn_sample32_store_moffs, insn_sample32_store_disp32, insn_sample32_store_imm16
    .globl insn_sample32_store_high_byte, insn_sample32_movzx_sib, insn_sample32_load_addr16
    .globl insn_sample32_xchg_absolute
insn_sample32_store_moffs:      movl %eax, 0xfee000b0
                                ret
insn_sample32_store_disp32:     movl %ebx, 0x300(%esi)
                                ret
insn_sample32_store_imm16:      movw $0x1234, (%eax)
                                ret
insn_sample32_store_high_byte:  movb %dh, 0x20(%edx)
                                ret
insn_sample32_movzx_sib:        movzbl 0x10(%ecx,%edx,4), %edi
                                ret
insn_sample32_load_addr16:      movl 8(%bx,%si), %eax
                                ret
insn_sample32_xchg_absolute:    xchgl %ecx, 0xfec00010
                                ret
    .code16
    .globl insn_sample16_store, insn_sample16_store32, insn_sample16_load_moffs
    .globl insn_sample16_store_addr32, insn_sample16_store_imm8
insn_sample16_store:            movw %ax, (%bx)
                                ret
insn_sample16_store32:          movl %eax, (%bx)
                                ret
insn_sample16_load_moffs:       movw 0x1234, %ax
                                ret
insn_sample16_store_addr32:     movl %edx, 0xfee00300(%esi)
                                ret
insn_sample16_store_imm8:       movb $5, 8(%bp,%di)
                                ret
    .fill 16, 1, 0xcc
    .code64
    .popsection
)");
