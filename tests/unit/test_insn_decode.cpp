// SPDX-License-Identifier: MIT
// Unit tests for the MMIO instruction decoder: hand-written encodings, GCC's output, registers.
#include "abi/errno.h"
#include "arch/x86_64/platform/insn_decode.hpp"
#include "insn_samples.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<u8>;

constexpr u8 RET = 0xc3;

// What a decoded instruction should be; compared as a whole so a failure shows every field.
struct Expected {
    MmioOp op;
    u8 access_bytes;
    u8 dest_bytes;
    u8 reg;
    bool high_byte;
    u64 imm;
};

std::string describe(const MmioInsn &insn)
{
    return std::string(mmio_op_name(insn.op)) + " access " + std::to_string(insn.access_bytes) + " dest " +
           std::to_string(insn.dest_bytes) + " reg " + std::to_string(insn.reg) + (insn.high_byte ? " (high)" : "") +
           " imm " + std::to_string(insn.imm) + " length " + std::to_string(insn.length);
}

std::string describe(const Expected &e, usize length)
{
    MmioInsn insn;
    insn.op = e.op;
    insn.access_bytes = e.access_bytes;
    insn.dest_bytes = e.dest_bytes;
    insn.reg = e.reg;
    insn.high_byte = e.high_byte;
    insn.imm = e.imm;
    insn.length = static_cast<u8>(length);
    return describe(insn);
}

constexpr Expected load(u8 bytes, u8 reg, bool high = false) { return {MmioOp::load, bytes, bytes, reg, high, 0}; }
constexpr Expected store(u8 bytes, u8 reg, bool high = false) { return {MmioOp::store, bytes, 0, reg, high, 0}; }
constexpr Expected store_imm(u8 bytes, u64 imm) { return {MmioOp::store_imm, bytes, 0, GPR_RAX, false, imm}; }
constexpr Expected zero_extend(u8 access, u8 dest, u8 reg)
{
    return {MmioOp::load_zero_extend, access, dest, reg, false, 0};
}
constexpr Expected sign_extend(u8 access, u8 dest, u8 reg)
{
    return {MmioOp::load_sign_extend, access, dest, reg, false, 0};
}
constexpr Expected exchange(u8 bytes, u8 reg, bool high = false)
{
    return {MmioOp::exchange, bytes, bytes, reg, high, 0};
}

struct Case {
    const char *name;
    CpuMode mode;
    Bytes bytes; // exactly one instruction
    Expected expected;
};

const std::vector<Case> &valid_cases()
{
    static const std::vector<Case> cases = {
        // MOV r/m8, r8 and the byte-register names.
        {"mov [rdi], al", CpuMode::long64, {0x88, 0x07}, store(1, GPR_RAX)},
        {"mov [rdi], ah", CpuMode::long64, {0x88, 0x27}, store(1, GPR_RAX, true)},
        {"mov [rdi], bh", CpuMode::long64, {0x88, 0x3f}, store(1, GPR_RBX, true)},
        {"mov [rdi], spl", CpuMode::long64, {0x40, 0x88, 0x27}, store(1, GPR_RSP)},
        {"mov [rdi], dil", CpuMode::long64, {0x40, 0x88, 0x3f}, store(1, GPR_RDI)},
        {"mov [rdi], r8b", CpuMode::long64, {0x44, 0x88, 0x07}, store(1, GPR_R8)},
        {"mov [rdi], r12b", CpuMode::long64, {0x44, 0x88, 0x27}, store(1, GPR_R12)},
        {"mov ch, [rdi]", CpuMode::long64, {0x8a, 0x2f}, load(1, GPR_RCX, true)},
        {"mov bpl, [rdi]", CpuMode::long64, {0x40, 0x8a, 0x2f}, load(1, GPR_RBP)},
        {"mov dl, [rdi]", CpuMode::long64, {0x8a, 0x17}, load(1, GPR_RDX)},
        // MOV r/m, r and MOV r, r/m at every operand size.
        {"mov [rdi], esi", CpuMode::long64, {0x89, 0x37}, store(4, GPR_RSI)},
        {"mov [rdi], si", CpuMode::long64, {0x66, 0x89, 0x37}, store(2, GPR_RSI)},
        {"mov [rdi], rsi", CpuMode::long64, {0x48, 0x89, 0x37}, store(8, GPR_RSI)},
        {"rex.w wins over 66", CpuMode::long64, {0x66, 0x48, 0x89, 0x37}, store(8, GPR_RSI)},
        {"mov [rdi], r8", CpuMode::long64, {0x4c, 0x89, 0x07}, store(8, GPR_R8)},
        {"mov eax, [rdi]", CpuMode::long64, {0x8b, 0x07}, load(4, GPR_RAX)},
        {"mov ax, [rdi]", CpuMode::long64, {0x66, 0x8b, 0x07}, load(2, GPR_RAX)},
        {"mov rax, [rdi]", CpuMode::long64, {0x48, 0x8b, 0x07}, load(8, GPR_RAX)},
        {"mov r15d, [r11]", CpuMode::long64, {0x45, 0x8b, 0x3b}, load(4, GPR_R15)},
        // Addressing forms: only the length matters.
        {"rip-relative", CpuMode::long64, {0x8b, 0x05, 0x10, 0x20, 0x30, 0x40}, load(4, GPR_RAX)},
        {"sib without base", CpuMode::long64, {0x8b, 0x04, 0x25, 0x00, 0x03, 0xe0, 0xfe}, load(4, GPR_RAX)},
        {"sib without base, rex.x", CpuMode::long64, {0x42, 0x8b, 0x04, 0x25, 0, 0, 0, 0}, load(4, GPR_RAX)},
        {"[rsp+8]", CpuMode::long64, {0x8b, 0x44, 0x24, 0x08}, load(4, GPR_RAX)},
        {"[rsp+disp32]", CpuMode::long64, {0x8b, 0x84, 0x24, 0x00, 0x03, 0, 0}, load(4, GPR_RAX)},
        {"[rdi+rsi*4]", CpuMode::long64, {0x8b, 0x04, 0xb7}, load(4, GPR_RAX)},
        {"[rbp+8]", CpuMode::long64, {0x8b, 0x45, 0x08}, load(4, GPR_RAX)},
        {"[rbp+disp32]", CpuMode::long64, {0x8b, 0x85, 0x00, 0x03, 0, 0}, load(4, GPR_RAX)},
        {"[r13+0]", CpuMode::long64, {0x41, 0x8b, 0x45, 0x00}, load(4, GPR_RAX)},
        {"[r12]", CpuMode::long64, {0x41, 0x8b, 0x04, 0x24}, load(4, GPR_RAX)},
        {"[rbp+rax*2+8]", CpuMode::long64, {0x8b, 0x54, 0x45, 0x08}, load(4, GPR_RDX)},
        {"[edi] (67)", CpuMode::long64, {0x67, 0x8b, 0x07}, load(4, GPR_RAX)},
        {"66 67 together", CpuMode::long64, {0x66, 0x67, 0x89, 0x07}, store(2, GPR_RAX)},
        // Segment overrides are ignored.
        {"cs", CpuMode::long64, {0x2e, 0x8b, 0x07}, load(4, GPR_RAX)},
        {"fs", CpuMode::long64, {0x64, 0x8b, 0x07}, load(4, GPR_RAX)},
        {"gs absolute", CpuMode::long64, {0x65, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0}, load(8, GPR_RAX)},
        {"four legacy prefixes", CpuMode::long64, {0x2e, 0x3e, 0x26, 0x66, 0x89, 0x07}, store(2, GPR_RAX)},
        // MOV r/m, imm: the immediate is sign-extended only for a 64-bit store.
        {"mov byte [rdi], imm", CpuMode::long64, {0xc6, 0x07, 0xab}, store_imm(1, 0xab)},
        {"mov byte [rdi+disp32], imm", CpuMode::long64, {0xc6, 0x87, 0x20, 0x03, 0, 0, 0xff}, store_imm(1, 0xff)},
        {"mov word [rdi], imm", CpuMode::long64, {0x66, 0xc7, 0x07, 0x34, 0x82}, store_imm(2, 0x8234)},
        {"mov dword [rdi], imm", CpuMode::long64, {0xc7, 0x07, 0x78, 0x56, 0x34, 0x92}, store_imm(4, 0x92345678)},
        {"mov qword, -1", CpuMode::long64, {0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff}, store_imm(8, ~u64{0})},
        {"mov qword, min imm32", CpuMode::long64, {0x48, 0xc7, 0x07, 0, 0, 0, 0x80}, store_imm(8, 0xffffffff80000000)},
        {"mov qword, max imm32", CpuMode::long64, {0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0x7f}, store_imm(8, 0x7fffffff)},
        {"rip-relative with imm", CpuMode::long64, {0xc7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8}, store_imm(4, 0x08070605)},
        {"sib, disp32, imm32", CpuMode::long64, {0xc7, 0x84, 0x24, 1, 2, 3, 4, 5, 6, 7, 8}, store_imm(4, 0x08070605)},
        // MOVZX and MOVSX.
        {"movzx eax, byte", CpuMode::long64, {0x0f, 0xb6, 0x07}, zero_extend(1, 4, GPR_RAX)},
        {"movzx rax, byte", CpuMode::long64, {0x48, 0x0f, 0xb6, 0x07}, zero_extend(1, 8, GPR_RAX)},
        {"movzx ax, byte", CpuMode::long64, {0x66, 0x0f, 0xb6, 0x07}, zero_extend(1, 2, GPR_RAX)},
        {"movzx eax, word", CpuMode::long64, {0x0f, 0xb7, 0x07}, zero_extend(2, 4, GPR_RAX)},
        {"movzx r9, word", CpuMode::long64, {0x4c, 0x0f, 0xb7, 0x0f}, zero_extend(2, 8, GPR_R9)},
        {"movzx esi: not a byte register", CpuMode::long64, {0x0f, 0xb6, 0x37}, zero_extend(1, 4, GPR_RSI)},
        {"movsx eax, byte", CpuMode::long64, {0x0f, 0xbe, 0x07}, sign_extend(1, 4, GPR_RAX)},
        {"movsx rax, word", CpuMode::long64, {0x48, 0x0f, 0xbf, 0x07}, sign_extend(2, 8, GPR_RAX)},
        {"movsx r8, byte", CpuMode::long64, {0x4c, 0x0f, 0xbe, 0x07}, sign_extend(1, 8, GPR_R8)},
        // moffs: the address is 8 bytes in 64-bit mode, 4 with 67.
        {"mov al, moffs64", CpuMode::long64, {0xa0, 1, 2, 3, 4, 5, 6, 7, 8}, load(1, GPR_RAX)},
        {"mov eax, moffs64", CpuMode::long64, {0xa1, 1, 2, 3, 4, 5, 6, 7, 8}, load(4, GPR_RAX)},
        {"mov rax, moffs64", CpuMode::long64, {0x48, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8}, load(8, GPR_RAX)},
        {"mov rax, moffs64 (rex.b ignored)", CpuMode::long64, {0x49, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8}, load(8, GPR_RAX)},
        {"mov eax, moffs32", CpuMode::long64, {0x67, 0xa1, 1, 2, 3, 4}, load(4, GPR_RAX)},
        {"mov moffs64, al", CpuMode::long64, {0xa2, 1, 2, 3, 4, 5, 6, 7, 8}, store(1, GPR_RAX)},
        {"mov moffs64, ax", CpuMode::long64, {0x66, 0xa3, 1, 2, 3, 4, 5, 6, 7, 8}, store(2, GPR_RAX)},
        // XCHG.
        {"xchg [rdi], al", CpuMode::long64, {0x86, 0x07}, exchange(1, GPR_RAX)},
        {"xchg [rdi], ah", CpuMode::long64, {0x86, 0x27}, exchange(1, GPR_RAX, true)},
        {"xchg [rdi], spl", CpuMode::long64, {0x40, 0x86, 0x27}, exchange(1, GPR_RSP)},
        {"xchg [rdi], eax", CpuMode::long64, {0x87, 0x07}, exchange(4, GPR_RAX)},
        {"xchg [rdi], r10", CpuMode::long64, {0x4c, 0x87, 0x17}, exchange(8, GPR_R10)},
        // The longest accepted: 15 bytes.
        {"15 bytes",
         CpuMode::long64,
         {0x3e, 0x26, 0x64, 0x48, 0xc7, 0x84, 0x24, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff},
         store_imm(8, ~u64{0})},
        // 32-bit protected mode: no REX, disp32 is absolute, 67 selects 16-bit addressing.
        {"p32 mov [edi], eax", CpuMode::protected32, {0x89, 0x07}, store(4, GPR_RAX)},
        {"p32 mov [edi], ax", CpuMode::protected32, {0x66, 0x89, 0x07}, store(2, GPR_RAX)},
        {"p32 mov [edi], ah", CpuMode::protected32, {0x88, 0x27}, store(1, GPR_RAX, true)},
        {"p32 mov [edi], edi", CpuMode::protected32, {0x89, 0x3f}, store(4, GPR_RDI)},
        {"p32 absolute", CpuMode::protected32, {0x8b, 0x05, 0x00, 0x03, 0xe0, 0xfe}, load(4, GPR_RAX)},
        {"p32 moffs32", CpuMode::protected32, {0xa1, 0x00, 0x03, 0xe0, 0xfe}, load(4, GPR_RAX)},
        {"p32 moffs16", CpuMode::protected32, {0x67, 0xa1, 0x00, 0x03}, load(4, GPR_RAX)},
        {"p32 [bx]", CpuMode::protected32, {0x67, 0x8b, 0x07}, load(4, GPR_RAX)},
        {"p32 disp16", CpuMode::protected32, {0x67, 0x8b, 0x06, 0x00, 0x03}, load(4, GPR_RAX)},
        {"p32 [bx+disp8]", CpuMode::protected32, {0x67, 0x8b, 0x47, 0x08}, load(4, GPR_RAX)},
        {"p32 [bx+disp16]", CpuMode::protected32, {0x67, 0x8b, 0x87, 0x00, 0x03}, load(4, GPR_RAX)},
        {"p32 [bp+0] (rm 6, mod 1)", CpuMode::protected32, {0x67, 0x8b, 0x46, 0x00}, load(4, GPR_RAX)},
        {"p32 [si] (rm 4: no sib)", CpuMode::protected32, {0x67, 0x8b, 0x04}, load(4, GPR_RAX)},
        {"p32 store imm", CpuMode::protected32, {0xc7, 0x05, 0xb0, 0, 0xe0, 0xfe, 0, 0, 0, 0}, store_imm(4, 0)},
        {"p32 movzx", CpuMode::protected32, {0x0f, 0xb7, 0x0b}, zero_extend(2, 4, GPR_RCX)},
        // 16-bit protected mode: 66 and 67 swap the defaults.
        {"p16 mov [bx], ax", CpuMode::protected16, {0x89, 0x07}, store(2, GPR_RAX)},
        {"p16 mov [bx], eax", CpuMode::protected16, {0x66, 0x89, 0x07}, store(4, GPR_RAX)},
        {"p16 moffs16", CpuMode::protected16, {0xa1, 0x34, 0x12}, load(2, GPR_RAX)},
        {"p16 32-bit address", CpuMode::protected16, {0x67, 0x89, 0x07}, store(2, GPR_RAX)},
        {"p16 imm", CpuMode::protected16, {0x66, 0x67, 0xc7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8}, store_imm(4, 0x08070605)},
        {"p16 word imm", CpuMode::protected16, {0xc7, 0x06, 0x00, 0x03, 0x34, 0x12}, store_imm(2, 0x1234)},
    };
    return cases;
}

void expect_decodes(const u8 *bytes, usize available, CpuMode mode, const Expected &expected, usize length)
{
    MmioInsn insn;
    ASSERT_EQ(decode_mmio(bytes, available, mode, &insn), 0);
    EXPECT_EQ(describe(insn), describe(expected, length));
}

} // namespace

TEST(InsnDecode, AcceptedFormsDecodeToTheirOperands)
{
    for (const Case &c : valid_cases()) {
        SCOPED_TRACE(c.name);
        expect_decodes(c.bytes.data(), c.bytes.size(), c.mode, c.expected, c.bytes.size());
    }
}

TEST(InsnDecode, BytesAfterTheInstructionAreNotPartOfIt)
{
    for (const Case &c : valid_cases()) {
        SCOPED_TRACE(c.name);
        Bytes longer = c.bytes;
        longer.resize(INSN_MAX_BYTES + 5, RET);
        expect_decodes(longer.data(), longer.size(), c.mode, c.expected, c.bytes.size());
    }
}

// Every cut-off prefix of a valid instruction asks for more bytes, never for fewer than
// it has and never for more than the instruction needs, so a caller that fetches what
// was asked for makes progress and ends with the instruction.
TEST(InsnDecode, TruncatedInstructionsAskForMoreBytes)
{
    for (const Case &c : valid_cases()) {
        SCOPED_TRACE(c.name);
        usize available = 0;
        int rounds = 0;
        MmioInsn insn;
        int status = 0;
        while ((status = decode_mmio(c.bytes.data(), available, c.mode, &insn)) == -BATON_ERANGE) {
            ASSERT_GT(insn.length, available);
            ASSERT_LE(insn.length, c.bytes.size());
            available = insn.length;
            ASSERT_LT(++rounds, 16);
        }
        ASSERT_EQ(status, 0);
        EXPECT_EQ(insn.length, c.bytes.size());
        for (usize cut = 0; cut < c.bytes.size(); cut++)
            EXPECT_EQ(decode_mmio(c.bytes.data(), cut, c.mode, &insn), -BATON_ERANGE) << "cut at " << cut;
    }
}

TEST(InsnDecode, TruncationReportsWhatIsNeeded)
{
    struct Truncated {
        Bytes bytes;
        u8 needed;
    };
    const Truncated cases[] = {
        {{}, 1},
        {{0x48}, 2},
        {{0x89}, 2},
        {{0x0f}, 2},
        {{0x8b, 0x04}, 3},
        {{0x8b, 0x05, 0, 0}, 6},
        {{0xc7, 0x07, 0x78, 0x56}, 6},
        {{0xa1, 1, 2, 3}, 9},
        {{0x67, 0xa1, 1}, 6},
    };
    for (const Truncated &t : cases) {
        MmioInsn insn;
        EXPECT_EQ(decode_mmio(t.bytes.data(), t.bytes.size(), CpuMode::long64, &insn), -BATON_ERANGE);
        EXPECT_EQ(insn.length, t.needed) << t.bytes.size() << " bytes";
    }
}

TEST(InsnDecode, RefusesWhatIsNotAnMmioMove)
{
    struct Refused {
        const char *name;
        CpuMode mode;
        Bytes bytes;
    };
    const Refused cases[] = {
        {"mov edi, esi (mod 3)", CpuMode::long64, {0x89, 0xf7}},
        {"mov eax, eax (mod 3)", CpuMode::long64, {0x8b, 0xc0}},
        {"mov al, imm (mod 3)", CpuMode::long64, {0xc6, 0xc0, 0x01}},
        {"movzx eax, al (mod 3)", CpuMode::long64, {0x0f, 0xb6, 0xc0}},
        {"xchg eax, esi (mod 3)", CpuMode::long64, {0x87, 0xf0}},
        {"lock xchg", CpuMode::long64, {0xf0, 0x87, 0x07}},
        {"rep mov", CpuMode::long64, {0xf3, 0x89, 0x07}},
        {"repne mov", CpuMode::long64, {0xf2, 0x89, 0x07}},
        {"rep after rex", CpuMode::long64, {0x48, 0xf3, 0x89, 0x07}},
        {"c6 /1", CpuMode::long64, {0xc6, 0x0f, 0x00}},
        {"c7 /7", CpuMode::long64, {0xc7, 0x3f, 0, 0, 0, 0}},
        {"movaps store", CpuMode::long64, {0x0f, 0x29, 0x07}},
        {"movaps load", CpuMode::long64, {0x0f, 0x28, 0x07}},
        {"movnti", CpuMode::long64, {0x0f, 0xc3, 0x07}},
        {"add [rdi], eax", CpuMode::long64, {0x01, 0x07}},
        {"or [rdi], eax", CpuMode::long64, {0x09, 0x07}},
        {"inc dword [rdi]", CpuMode::long64, {0xff, 0x07}},
        {"movs", CpuMode::long64, {0xa5}},
        {"nop", CpuMode::long64, {0x90}},
        {"ud2", CpuMode::long64, {0x0f, 0x0b}},
        {"vex", CpuMode::long64, {0xc5, 0xf8, 0x29, 0x07}},
        {"three-byte map", CpuMode::long64, {0x0f, 0x38, 0xf0, 0x07}},
        {"rex not last", CpuMode::long64, {0x48, 0x66, 0x89, 0x07}},
        {"two rex", CpuMode::long64, {0x40, 0x48, 0x89, 0x07}},
        {"five legacy prefixes", CpuMode::long64, {0x2e, 0x3e, 0x26, 0x64, 0x65, 0x89, 0x07}},
        {"16 bytes",
         CpuMode::long64,
         {0x2e, 0x3e, 0x26, 0x64, 0x48, 0xc7, 0x84, 0x24, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff}},
        {"rex is dec in 32-bit mode", CpuMode::protected32, {0x48, 0x89, 0x07}},
        {"rex is inc in 16-bit mode", CpuMode::protected16, {0x40, 0x89, 0x07}},
        {"real mode", CpuMode::real, {0x89, 0x07}},
    };
    for (const Refused &r : cases) {
        SCOPED_TRACE(r.name);
        MmioInsn insn;
        EXPECT_EQ(decode_mmio(r.bytes.data(), r.bytes.size(), r.mode, &insn), -BATON_EINVAL);
        EXPECT_EQ(insn.length, 0);
        // More bytes do not change the answer: refusal is not truncation.
        Bytes padded = r.bytes;
        padded.resize(INSN_MAX_BYTES + 1, 0);
        EXPECT_EQ(decode_mmio(padded.data(), padded.size(), r.mode, &insn), -BATON_EINVAL);
    }
}

TEST(InsnDecode, TooLongIsRefusedEvenWhenBytesRunOut)
{
    // A 16-byte instruction cut at 15 bytes: needing a 16th byte is the #GP case.
    const u8 bytes[] = {0x2e, 0x3e, 0x26, 0x64, 0x48, 0xc7, 0x84, 0x24, 1, 2, 3, 4, 0xff, 0xff, 0xff};
    MmioInsn insn;
    EXPECT_EQ(decode_mmio(bytes, sizeof(bytes), CpuMode::long64, &insn), -BATON_EINVAL);
}

TEST(InsnDecode, OpNamesAreDistinct)
{
    const MmioOp ops[] = {
        MmioOp::load,    MmioOp::store, MmioOp::store_imm, MmioOp::load_zero_extend, MmioOp::load_sign_extend,
        MmioOp::exchange};
    for (usize i = 0; i < std::size(ops); i++) {
        ASSERT_NE(mmio_op_name(ops[i]), nullptr);
        for (usize j = 0; j < i; j++)
            EXPECT_STRNE(mmio_op_name(ops[i]), mmio_op_name(ops[j]));
    }
    EXPECT_TRUE(mmio_reads(MmioOp::exchange) && mmio_writes(MmioOp::exchange));
    EXPECT_TRUE(mmio_reads(MmioOp::load_sign_extend) && !mmio_writes(MmioOp::load_sign_extend));
    EXPECT_TRUE(!mmio_reads(MmioOp::store_imm) && mmio_writes(MmioOp::store_imm));
}

// ---- the bytes GCC and the assembler emit (tests/unit/insn_samples.cpp) ----------------

namespace {

constexpr u8 REX_FIRST = 0x40;
constexpr u8 REX_LAST = 0x4f;
constexpr u8 MOV_STORE = 0x89;
constexpr u8 MOV_LOAD = 0x8b;
constexpr u8 MOD_REGISTER = 0xc0;
constexpr u8 MOV_IMM32_FIRST = 0xb8; // B8+r: MOV r32, imm32
constexpr u8 MOV_IMM32_LAST = 0xbf;
constexpr usize IMM32_BYTES = 4;

template <typename Function>
const u8 *code_of(Function *function)
{
    return reinterpret_cast<const u8 *>(function);
}

// GCC sometimes moves a value into place before the access (`mov eax, esi` before an
// XCHG; at -O2 `mov eax, imm` before a 16-bit store): skip register MOVs from a register
// or an immediate, which the decoder itself refuses.
const u8 *skip_register_moves(const u8 *code)
{
    for (;;) {
        const usize rex = code[0] >= REX_FIRST && code[0] <= REX_LAST ? 1 : 0;
        const u8 opcode = code[rex];
        usize length = 0;
        if ((opcode == MOV_STORE || opcode == MOV_LOAD) && (code[rex + 1] & MOD_REGISTER) == MOD_REGISTER)
            length = rex + 2;
        else if (opcode >= MOV_IMM32_FIRST && opcode <= MOV_IMM32_LAST && rex == 0)
            length = 1 + IMM32_BYTES;
        else
            return code;
        MmioInsn insn;
        EXPECT_EQ(decode_mmio(code, INSN_MAX_BYTES, CpuMode::long64, &insn), -BATON_EINVAL);
        code += length;
    }
}

// Decodes the first access of a sample, checks it against what GCC may emit for it at -O1
// or -O2, and that it ends where the next instruction starts (RET, or what GCC does after
// the access). Returns the decoded access.
MmioInsn decode_sample(const u8 *code, CpuMode mode, const std::vector<Expected> &acceptable,
                       const std::vector<Bytes> &follows)
{
    if (mode == CpuMode::long64)
        code = skip_register_moves(code);
    MmioInsn insn;
    EXPECT_EQ(decode_mmio(code, INSN_MAX_BYTES, mode, &insn), 0);
    std::string wanted;
    bool matched = false;
    for (const Expected &expected : acceptable) {
        matched = matched || describe(insn) == describe(expected, insn.length);
        wanted += "\n  " + describe(expected, insn.length);
    }
    EXPECT_TRUE(matched) << describe(insn) << ", expected one of" << wanted;
    bool ends = false;
    for (const Bytes &next : follows)
        ends = ends || Bytes(code + insn.length, code + insn.length + next.size()) == next;
    EXPECT_TRUE(ends) << describe(insn) << ": not followed by the expected bytes";
    return insn;
}

MmioInsn decode_sample(const u8 *code, CpuMode mode, const Expected &expected)
{
    return decode_sample(code, mode, std::vector<Expected>{expected}, {{RET}});
}

} // namespace

TEST(InsnDecodeGcc, Stores)
{
    using namespace insn_samples;
    decode_sample(code_of(store8), CpuMode::long64, store(1, GPR_RSI)); // SIL needs REX
    decode_sample(code_of(store16), CpuMode::long64, store(2, GPR_RSI));
    decode_sample(code_of(store32), CpuMode::long64, store(4, GPR_RSI));
    decode_sample(code_of(store64), CpuMode::long64, store(8, GPR_RSI));
    decode_sample(code_of(store32_off), CpuMode::long64, store(4, GPR_RSI));
    decode_sample(code_of(store32_r8), CpuMode::long64, store(4, GPR_R8));
    decode_sample(code_of(store8_r9), CpuMode::long64, store(1, GPR_R9));
    decode_sample(code_of(store16_r9), CpuMode::long64, store(2, GPR_R9));
    decode_sample(code_of(store_high_byte), CpuMode::long64, store(1, GPR_RAX, true));
}

TEST(InsnDecodeGcc, ImmediateStores)
{
    using namespace insn_samples;
    decode_sample(code_of(store_imm8), CpuMode::long64, store_imm(1, 0x5a));
    // At -O2 GCC avoids the 16-bit immediate (a length-changing prefix) with MOV EAX first.
    decode_sample(code_of(store_imm16), CpuMode::long64, {store_imm(2, 0x1234), store(2, GPR_RAX)}, {{RET}});
    decode_sample(code_of(store_imm32), CpuMode::long64, store_imm(4, 0x12345678));
    decode_sample(code_of(store_imm64), CpuMode::long64, store_imm(8, ~u64{0} - 0x10));
    decode_sample(code_of(store32_via_r9), CpuMode::long64, store_imm(4, 0x12345678)); // REX.B base
}

TEST(InsnDecodeGcc, Loads)
{
    using namespace insn_samples;
    // GCC loads bytes and words with MOVZX into a 32-bit register.
    decode_sample(code_of(load8_off), CpuMode::long64, zero_extend(1, 4, GPR_RAX));
    decode_sample(code_of(load16), CpuMode::long64, zero_extend(2, 4, GPR_RAX));
    decode_sample(code_of(load32), CpuMode::long64, load(4, GPR_RAX));
    decode_sample(code_of(load64), CpuMode::long64, load(8, GPR_RAX));
    decode_sample(code_of(load32_index), CpuMode::long64, load(4, GPR_RAX));
    decode_sample(code_of(load32_index_off), CpuMode::long64, load(4, GPR_RAX));
    decode_sample(code_of(load_global), CpuMode::long64, load(4, GPR_RAX)); // RIP-relative
    // The value stays in r10 and is copied to eax after the access.
    decode_sample(code_of(load32_into_r10), CpuMode::long64, {load(4, GPR_R10)}, {{0x44, 0x89, 0xd0, RET}});
}

TEST(InsnDecodeGcc, ExtendingLoads)
{
    using namespace insn_samples;
    // A volatile byte: MOVZX from memory; at -O1 GCC extends once more in a register.
    const MmioInsn insn = decode_sample(code_of(load8_zero_extend), CpuMode::long64, {zero_extend(1, 4, GPR_RAX)},
                                        {{RET}, {0x0f, 0xb6, 0xc0, RET}});
    EXPECT_EQ(insn.length, 3);
    decode_sample(code_of(load16_zero_extend), CpuMode::long64, {zero_extend(2, 4, GPR_RAX)},
                  {{RET}, {0x0f, 0xb7, 0xc0, RET}});
    decode_sample(code_of(load8_sign_extend), CpuMode::long64, sign_extend(1, 8, GPR_RAX));
    decode_sample(code_of(load16_sign_extend), CpuMode::long64, sign_extend(2, 8, GPR_RAX));
    decode_sample(code_of(load8_sign_extend32), CpuMode::long64, sign_extend(1, 4, GPR_RAX));
    decode_sample(code_of(load8_sign_extend16), CpuMode::long64, sign_extend(1, 2, GPR_RAX));
}

TEST(InsnDecodeGcc, Exchanges)
{
    using namespace insn_samples;
    decode_sample(code_of(exchange8), CpuMode::long64, exchange(1, GPR_RAX));
    decode_sample(code_of(exchange32), CpuMode::long64, exchange(4, GPR_RAX));
    decode_sample(code_of(exchange64), CpuMode::long64, exchange(8, GPR_RAX));
}

// The samples are real code: running them on ordinary memory shows the decoded operands
// and the register-file helpers agree with what the CPU does.
TEST(InsnDecodeGcc, SamplesDoWhatTheDecoderSays)
{
    using namespace insn_samples;
    volatile u32 word = 0;
    store32(&word, 0xdeadbeef);
    EXPECT_EQ(word, 0xdeadbeefu);
    volatile u8 byte = 0;
    store_high_byte(&byte, 0xabcd);
    u64 gpr[GPR_COUNT] = {};
    gpr[GPR_RAX] = 0xabcd;
    const MmioInsn insn = decode_sample(code_of(store_high_byte), CpuMode::long64, store(1, GPR_RAX, true));
    EXPECT_EQ(byte, mmio_store_value(insn, gpr));
    const i8 negative = -3;
    EXPECT_EQ(load8_sign_extend(&negative), -3);
}

TEST(InsnDecodeAssembler, ProtectedMode32)
{
    decode_sample(insn_sample32_store_moffs, CpuMode::protected32, store(4, GPR_RAX));
    decode_sample(insn_sample32_store_disp32, CpuMode::protected32, store(4, GPR_RBX));
    decode_sample(insn_sample32_store_imm16, CpuMode::protected32, store_imm(2, 0x1234));
    decode_sample(insn_sample32_store_high_byte, CpuMode::protected32, store(1, GPR_RDX, true));
    decode_sample(insn_sample32_movzx_sib, CpuMode::protected32, zero_extend(1, 4, GPR_RDI));
    decode_sample(insn_sample32_load_addr16, CpuMode::protected32, load(4, GPR_RAX));
    decode_sample(insn_sample32_xchg_absolute, CpuMode::protected32, exchange(4, GPR_RCX));
}

TEST(InsnDecodeAssembler, ProtectedMode16)
{
    decode_sample(insn_sample16_store, CpuMode::protected16, store(2, GPR_RAX));
    decode_sample(insn_sample16_store32, CpuMode::protected16, store(4, GPR_RAX));
    decode_sample(insn_sample16_load_moffs, CpuMode::protected16, load(2, GPR_RAX));
    decode_sample(insn_sample16_store_addr32, CpuMode::protected16, store(4, GPR_RDX));
    decode_sample(insn_sample16_store_imm8, CpuMode::protected16, store_imm(1, 5));
}
