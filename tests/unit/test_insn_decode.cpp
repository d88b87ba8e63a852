// SPDX-License-Identifier: MIT
// The MMIO instruction decoder: hand-written encodings, the bytes GCC emits, completion.
#include "abi/errno.h"
#include "arch/x86_64/platform/insn_decode.hpp"
#include "insn_samples.hpp"
#include <gtest/gtest.h>
#include <vector>

namespace {

constexpr u8 RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RSI = 6, RDI = 7, R8 = 8, R9 = 9, R12 = 12;

MmioInsn decode(std::vector<u8> bytes, CpuMode mode = CpuMode::long64)
{
    MmioInsn insn;
    const int error = decode_mmio(bytes.data(), bytes.size(), mode, &insn);
    EXPECT_EQ(error, 0);
    return insn;
}

int refusal(std::vector<u8> bytes, CpuMode mode = CpuMode::long64)
{
    MmioInsn insn;
    return decode_mmio(bytes.data(), bytes.size(), mode, &insn);
}

// The first bytes of a function that are not its access: ENDBR64, push rbp, mov rbp,rsp.
const u8 *skip_prologue(const void *function)
{
    const u8 *code = static_cast<const u8 *>(function);
    for (;;) {
        if (code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa)
            code += 4;
        else if (code[0] == 0x55)
            code += 1;
        else if (code[0] == 0x48 && code[1] == 0x89 && code[2] == 0xe5)
            code += 3;
        else
            return code;
    }
}

struct Compiled {
    MmioInsn insn;
    const u8 *after = nullptr; // the byte after the instruction
};

Compiled compiled_at(const u8 *code)
{
    Compiled out;
    const int error = decode_mmio(code, INSN_MAX_LENGTH, CpuMode::long64, &out.insn);
    EXPECT_EQ(error, 0) << std::hex << int{code[0]} << " " << int{code[1]} << " " << int{code[2]};
    out.after = code + out.insn.length;
    return out;
}

Compiled compiled(const void *function) { return compiled_at(skip_prologue(function)); }

// After the access GCC's sample returns (pop rbp, ret, or leave), at most after an
// extension of the loaded register into itself (MOVZX/MOVSX with a register operand).
bool returns(const u8 *code)
{
    if (code[0] == 0x0f && (code[1] == 0xb6 || code[1] == 0xb7 || code[1] == 0xbe || code[1] == 0xbf) &&
        (code[2] >> 6) == 3)
        code += 3;
    return code[0] == 0x5d || code[0] == 0xc3 || code[0] == 0xc9;
}

} // namespace

TEST(InsnDecode, MovesBetweenRegisterAndMemory)
{
    MmioInsn i = decode({0x89, 0x07}); // mov [rdi], eax
    EXPECT_EQ(i.op, MmioOp::store);
    EXPECT_EQ(i.access_bytes, 4);
    EXPECT_EQ(i.reg, RAX);
    EXPECT_EQ(i.length, 2);
    i = decode({0x48, 0x89, 0x37}); // mov [rdi], rsi
    EXPECT_EQ(i.access_bytes, 8);
    EXPECT_EQ(i.reg, RSI);
    i = decode({0x66, 0x89, 0x0a}); // mov [rdx], cx
    EXPECT_EQ(i.access_bytes, 2);
    EXPECT_EQ(i.reg, RCX);
    i = decode({0x44, 0x8b, 0x67, 0x20}); // mov r12d, [rdi+0x20]
    EXPECT_EQ(i.op, MmioOp::load);
    EXPECT_EQ(i.reg, R12);
    EXPECT_EQ(i.dest_bytes, 4);
    EXPECT_EQ(i.length, 4);
    i = decode({0x8b, 0x80, 0x20, 0x03, 0x00, 0x00}); // mov eax, [rax+0x320]
    EXPECT_EQ(i.length, 6);
}

TEST(InsnDecode, ByteRegistersWithAndWithoutRex)
{
    MmioInsn i = decode({0x88, 0x27}); // mov [rdi], ah
    EXPECT_EQ(i.reg, RAX);
    EXPECT_TRUE(i.high_byte);
    i = decode({0x40, 0x88, 0x27}); // mov [rdi], spl
    EXPECT_EQ(i.reg, RSP);
    EXPECT_FALSE(i.high_byte);
    i = decode({0x8a, 0x3e}); // mov bh, [rsi]
    EXPECT_EQ(i.reg, RBX);
    EXPECT_TRUE(i.high_byte);
    EXPECT_EQ(i.access_bytes, 1);
}

TEST(InsnDecode, AddressingFormsHaveTheirLengths)
{
    EXPECT_EQ(decode({0x8b, 0x05, 1, 2, 3, 4}).length, 6) << "RIP-relative disp32";
    EXPECT_EQ(decode({0x8b, 0x04, 0x24}).length, 3) << "SIB, base rsp";
    EXPECT_EQ(decode({0x8b, 0x04, 0x25, 0, 0, 0xe0, 0xfe}).length, 7) << "SIB without base: disp32";
    EXPECT_EQ(decode({0x8b, 0x44, 0x24, 0x10}).length, 4) << "SIB + disp8";
    EXPECT_EQ(decode({0x8b, 0x84, 0x88, 0, 1, 0, 0}).length, 7) << "SIB + disp32";
    EXPECT_EQ(decode({0x3e, 0x8b, 0x07}).length, 3) << "segment override";
    EXPECT_EQ(decode({0x8b, 0x05, 0, 0, 0xe0, 0xfe}, CpuMode::protected32).length, 6) << "absolute disp32";
    EXPECT_EQ(decode({0x67, 0x8b, 0x06, 0x00, 0xb0}, CpuMode::protected32).length, 5) << "16-bit addressing, disp16";
    EXPECT_EQ(decode({0xa1, 1, 2, 3, 4, 5, 6, 7, 8}).length, 9) << "moffs64";
    EXPECT_EQ(decode({0x67, 0xa1, 1, 2, 3, 4}).length, 6) << "moffs32 with 67";
    EXPECT_EQ(decode({0xa3, 0, 0, 0xe0, 0xfe}, CpuMode::protected32).length, 5);
}

TEST(InsnDecode, ImmediatesAndExtensions)
{
    MmioInsn i = decode({0xc7, 0x47, 0x10, 0x78, 0x56, 0x34, 0x12}); // mov dword [rdi+16], 0x12345678
    EXPECT_EQ(i.op, MmioOp::store_imm);
    EXPECT_EQ(i.imm, 0x12345678u);
    EXPECT_EQ(i.length, 7);
    i = decode({0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff}); // mov qword [rdi], -1
    EXPECT_EQ(i.access_bytes, 8);
    EXPECT_EQ(i.imm, ~u64{0}) << "imm32 sign-extended";
    i = decode({0x66, 0xc7, 0x07, 0x34, 0x12}); // mov word [rdi], 0x1234
    EXPECT_EQ(i.imm, 0x1234u);
    EXPECT_EQ(i.length, 5);
    i = decode({0x0f, 0xb6, 0x07}); // movzx eax, byte [rdi]
    EXPECT_EQ(i.op, MmioOp::load_zero_extend);
    EXPECT_EQ(i.access_bytes, 1);
    EXPECT_EQ(i.dest_bytes, 4);
    i = decode({0x48, 0x0f, 0xbf, 0x07}); // movsx rax, word [rdi]
    EXPECT_EQ(i.op, MmioOp::load_sign_extend);
    EXPECT_EQ(i.access_bytes, 2);
    EXPECT_EQ(i.dest_bytes, 8);
    i = decode({0x87, 0x07}); // xchg [rdi], eax
    EXPECT_EQ(i.op, MmioOp::exchange);
}

TEST(InsnDecode, RefusesWhatItDoesNotEmulate)
{
    EXPECT_EQ(refusal({0x89, 0xc0}), -BATON_EINVAL) << "register to register";
    EXPECT_EQ(refusal({0xf0, 0x87, 0x07}), -BATON_EINVAL) << "LOCK";
    EXPECT_EQ(refusal({0xf3, 0xa5}), -BATON_EINVAL) << "REP MOVS";
    EXPECT_EQ(refusal({0x01, 0x07}), -BATON_ENOSYS) << "ADD";
    EXPECT_EQ(refusal({0x0f, 0x29, 0x07}), -BATON_ENOSYS) << "MOVAPS";
    EXPECT_EQ(refusal({0xc7, 0x4f, 0x10, 0, 0, 0, 0}), -BATON_ENOSYS) << "C7 /1";
    EXPECT_EQ(refusal({0x48, 0x89}), -BATON_EFAULT) << "truncated before ModRM";
    EXPECT_EQ(refusal({0xc7, 0x07, 0x78, 0x56}), -BATON_EFAULT) << "truncated immediate";
    EXPECT_EQ(refusal({}), -BATON_EFAULT);
    EXPECT_EQ(refusal(std::vector<u8>(15, 0x66)), -BATON_EINVAL) << "prefixes only, past 15 bytes";
    EXPECT_EQ(refusal({0x48, 0x89, 0x07}, CpuMode::protected32), -BATON_ENOSYS) << "0x48 is DEC in 32-bit mode";
}

TEST(InsnDecode, DecodesTheMovesGccEmitsForVolatileAccesses)
{
    struct Case {
        const void *function;
        MmioOp op;
        u8 access_bytes;
        u8 reg; // the register that holds the value (stores) or receives it (loads)
    };
    using namespace insn_samples;
    const Case cases[] = {
        {reinterpret_cast<const void *>(&store8), MmioOp::store, 1, RSI},
        {reinterpret_cast<const void *>(&store16), MmioOp::store, 2, RSI},
        {reinterpret_cast<const void *>(&store32), MmioOp::store, 4, RSI},
        {reinterpret_cast<const void *>(&store64), MmioOp::store, 8, RSI},
        {reinterpret_cast<const void *>(&store32_offset), MmioOp::store, 4, RSI},
        {reinterpret_cast<const void *>(&store32_r9), MmioOp::store, 4, R9},
        {reinterpret_cast<const void *>(&load32), MmioOp::load, 4, RAX},
        {reinterpret_cast<const void *>(&load64), MmioOp::load, 8, RAX},
        {reinterpret_cast<const void *>(&load32_offset), MmioOp::load, 4, RAX},
        {reinterpret_cast<const void *>(&load8_zero), MmioOp::load_zero_extend, 1, RAX},
        {reinterpret_cast<const void *>(&load16_zero), MmioOp::load_zero_extend, 2, RAX},
    };
    // GCC reads a volatile signed byte or word with MOVZX and extends it in a register
    // afterwards (MOVSX is covered by the hand-written encodings above).
    const Case signed_cases[] = {
        {reinterpret_cast<const void *>(&load8_sign), MmioOp::load_zero_extend, 1, RAX},
        {reinterpret_cast<const void *>(&load16_sign), MmioOp::load_zero_extend, 2, RAX},
    };
    for (const Case &c : signed_cases) {
        const Compiled got = compiled(c.function);
        EXPECT_EQ(got.insn.op, c.op);
        EXPECT_EQ(got.insn.access_bytes, c.access_bytes);
        EXPECT_EQ(got.insn.reg, c.reg);
    }
    for (const Case &c : cases) {
        const Compiled got = compiled(c.function);
        EXPECT_EQ(got.insn.op, c.op) << mmio_op_name(c.op);
        EXPECT_EQ(got.insn.access_bytes, c.access_bytes) << mmio_op_name(c.op);
        EXPECT_EQ(got.insn.reg, c.reg) << mmio_op_name(c.op) << " of " << int{c.access_bytes};
        EXPECT_FALSE(got.insn.high_byte);
        EXPECT_TRUE(returns(got.after)) << "length " << int{got.insn.length} << " lands on 0x" << std::hex
                                        << int{got.after[0]};
    }
    Compiled imm = compiled(reinterpret_cast<const void *>(&store32_imm));
    EXPECT_EQ(imm.insn.op, MmioOp::store_imm);
    EXPECT_EQ(imm.insn.imm, 0x12345678u);
    EXPECT_TRUE(returns(imm.after));
    imm = compiled(reinterpret_cast<const void *>(&store8_imm));
    EXPECT_EQ(imm.insn.imm, 0x5au);
    EXPECT_EQ(imm.insn.access_bytes, 1);
}

TEST(InsnDecode, TheSamplesDoWhatTheDecoderSays)
{
    // The same functions run on real memory: what the decoder reports is what they did.
    volatile u32 word = 0;
    insn_samples::store32(&word, 0xdeadbeef);
    EXPECT_EQ(word, 0xdeadbeefu);
    volatile u32 apic[0x400 / 4] = {};
    apic[0x320 / 4] = 0x10000;
    EXPECT_EQ(insn_samples::load32_offset(apic), 0x10000u);
    // GCC moves the value into eax first (mov eax, esi: 89 f0), then exchanges.
    const u8 *code = skip_prologue(reinterpret_cast<const void *>(&insn_samples::exchange32));
    ASSERT_EQ(code[0], 0x89);
    ASSERT_EQ(code[1], 0xf0);
    const Compiled exchange = compiled_at(code + 2);
    EXPECT_EQ(exchange.insn.op, MmioOp::exchange);
    EXPECT_EQ(exchange.insn.access_bytes, 4);
}

TEST(InsnDecode, CompletingLoadsFollowsX86RegisterRules)
{
    u64 gpr[GPR_COUNT] = {};
    gpr[RAX] = 0x1111222233334444;
    mmio_complete_load(decode({0x8b, 0x07}), 0xaabbccdd, gpr); // mov eax, [rdi]
    EXPECT_EQ(gpr[RAX], 0xaabbccddu) << "32-bit writes clear the upper half";
    gpr[RAX] = 0x1111222233334444;
    mmio_complete_load(decode({0x66, 0x8b, 0x07}), 0xbeef, gpr);
    EXPECT_EQ(gpr[RAX], 0x111122223333beefu) << "16-bit writes merge";
    mmio_complete_load(decode({0x8a, 0x27}), 0x7f, gpr); // mov ah, [rdi]
    EXPECT_EQ(gpr[RAX], 0x1111222233337fefu);
    gpr[RDX] = ~u64{0};
    mmio_complete_load(decode({0x0f, 0xb6, 0x17}), 0x80, gpr); // movzx edx, byte [rdi]
    EXPECT_EQ(gpr[RDX], 0x80u);
    mmio_complete_load(decode({0x48, 0x0f, 0xbe, 0x17}), 0x80, gpr); // movsx rdx, byte [rdi]
    EXPECT_EQ(gpr[RDX], 0xffffffffffffff80u);
    mmio_complete_load(decode({0x0f, 0xbf, 0x17}), 0x8000, gpr); // movsx edx, word [rdi]
    EXPECT_EQ(gpr[RDX], 0xffff8000u);

    gpr[RCX] = 0x1234;
    EXPECT_EQ(mmio_store_value(decode({0x88, 0x2f}), gpr), 0x12u) << "mov [rdi], ch";
    gpr[RDI] = 0xffffffff00000001;
    EXPECT_EQ(mmio_store_value(decode({0x89, 0x3e}), gpr), 1u) << "mov [rsi], edi stores 32 bits";
}
