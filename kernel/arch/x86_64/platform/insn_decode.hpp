// SPDX-License-Identifier: MIT
// Decoding the instruction that touched an emulated device's MMIO page, and completing it.
#pragma once
#include "lib/types.hpp"

// A guest's access to the local APIC or IO-APIC page arrives as a nested page fault that
// names the address but not the access: without decode assists (and QEMU's SVM has none,
// nor nRIP) the hypervisor reads the instruction at RIP itself. Kernels reach MMIO with
// plain moves (readl/writel and friends), so this decodes exactly those and refuses the
// rest; the caller then crashes only that domain, naming the bytes.
//
// Decoded: MOV 88/89/8A/8B (r/m <-> register), C6/C7 /0 (immediate store), A0-A3 (moffs),
// 86/87 (XCHG, a load and a store of the same place), 0F B6/B7/BE/BF (MOVZX, MOVSX), with
// prefixes 66 (operand size), 67 (address size), segment overrides (ignored: the fault
// gives the address) and REX. Refused: LOCK, REP, a register operand (mod = 3, not a
// memory access), anything else.

enum class CpuMode : u8 {
    protected16, // CS.D = 0
    protected32, // CS.D = 1
    long64, // EFER.LMA and CS.L
};

enum class MmioOp : u8 {
    load, // register <- memory
    store, // memory <- register
    store_imm, // memory <- immediate
    load_zero_extend, // MOVZX
    load_sign_extend, // MOVSX
    exchange, // XCHG: register <- memory and memory <- register
};
const char *mmio_op_name(MmioOp op);

struct MmioInsn {
    MmioOp op = MmioOp::load;
    u8 access_bytes = 0; // width of the memory access: 1, 2, 4 or 8
    u8 dest_bytes = 0; // width of the register written by a load: 1, 2, 4 or 8
    u8 reg = 0; // general register, x86 numbering: rax rcx rdx rbx rsp rbp rsi rdi r8..r15
    bool high_byte = false; // reg names AH, CH, DH or BH (8-bit operand without REX)
    u64 imm = 0; // store_imm: the value, at access_bytes
    u8 length = 0; // of the whole instruction: RIP advances by this much
};

inline constexpr usize INSN_MAX_LENGTH = 15;
inline constexpr usize GPR_COUNT = 16;

// Decodes the instruction in `bytes` (`available` of them could be read at RIP).
// 0, -BATON_ENOSYS (an instruction this decoder does not know), -BATON_EINVAL (known but
// not a memory access Baton emulates: LOCK, REP, a register operand, real mode), or
// -BATON_EFAULT (the bytes ran out before the instruction did).
[[nodiscard]] int decode_mmio(const u8 *bytes, usize available, CpuMode mode, MmioInsn *out);

// The value a store writes to memory (access_bytes wide).
u64 mmio_store_value(const MmioInsn &insn, const u64 (&gpr)[GPR_COUNT]);
// Writes what a load read into its register with x86's rules: 32-bit results zero the
// upper half, 8- and 16-bit ones merge, AH-style names the second byte, MOVZX and MOVSX
// extend first.
void mmio_complete_load(const MmioInsn &insn, u64 value, u64 (&gpr)[GPR_COUNT]);
