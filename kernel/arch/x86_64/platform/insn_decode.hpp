// SPDX-License-Identifier: MIT
// Decoder for the x86 instruction that touched an emulated device's MMIO page.
#pragma once
#include "lib/types.hpp"

// A nested page fault on an emulated MMIO page (LAPIC, IO-APIC) gives the guest-physical
// address but not the access: without decode assists the hypervisor decodes the
// instruction at guest RIP itself. Only the moves kernels use on device memory are
// accepted: MOV (88 89 8A 8B C6 C7 A0-A3), MOVZX/MOVSX (0F B6 B7 BE BF) and XCHG (86 87).
// Anything else, a register operand, LOCK or REP is refused: the caller stops the
// domain and names the bytes instead of guessing.
//
// The effective address is not computed: the fault already says which address was
// touched. The decoder only needs the instruction's length, so every addressing form
// (SIB, RIP-relative, 16-bit) is accepted.

// How the guest CPU interprets code at RIP. Compatibility mode (EFER.LMA=1, CS.L=0)
// maps to the protected mode of the same CS.D.
enum class CpuMode : u8 {
    real, // refused: firmware and early boot do not touch the emulated MMIO pages
    protected16, // CS.D=0: operand and address size 16
    protected32, // CS.D=1: operand and address size 32
    long64, // CS.L=1: operand size 32 (REX.W: 64), address size 64
};

// General-purpose register numbers as x86 encodes them (ModRM.reg plus REX.R).
enum Gpr : u8 {
    GPR_RAX,
    GPR_RCX,
    GPR_RDX,
    GPR_RBX,
    GPR_RSP,
    GPR_RBP,
    GPR_RSI,
    GPR_RDI,
    GPR_R8,
    GPR_R9,
    GPR_R10,
    GPR_R11,
    GPR_R12,
    GPR_R13,
    GPR_R14,
    GPR_R15,
    GPR_COUNT,
};

enum class MmioOp : u8 {
    load, // MOV reg, mem: the register takes the value at its own width
    store, // MOV mem, reg
    store_imm, // MOV mem, imm
    load_zero_extend, // MOVZX
    load_sign_extend, // MOVSX
    exchange, // XCHG mem, reg: a load and a store of the same location
};

struct MmioInsn {
    MmioOp op = MmioOp::load;
    u8 access_bytes = 0; // width of the memory access: 1, 2, 4 or 8
    u8 dest_bytes = 0; // loads: width of the register write (movzx/movsx: wider)
    u8 reg = GPR_RAX; // the register operand (Gpr); GPR_RAX for store_imm
    bool high_byte = false; // reg names AH, CH, DH or BH (bits 15:8 of reg)
    u64 imm = 0; // store_imm: the value, sign-extended to access_bytes
    u8 length = 0; // bytes of the whole instruction, prefixes included
};

// The longest instruction x86 executes; longer ones raise #GP.
inline constexpr unsigned INSN_MAX_BYTES = 15;

// Decodes the instruction at `bytes` (`available` of them readable; more than
// INSN_MAX_BYTES are never read). Returns 0 and fills `out`, or
//   -BATON_EINVAL  not one of the accepted forms (also: real mode, mod=3, LOCK, REP,
//                  too many prefixes, longer than INSN_MAX_BYTES);
//   -BATON_ERANGE  the bytes ran out first (the fetch stopped at a page end): then
//                  out->length is the number of bytes needed to get further (more than
//                  `available`); fetch at least that many and call again.
[[nodiscard]] int decode_mmio(const u8 *bytes, usize available, CpuMode mode, MmioInsn *out);

// Whether the instruction reads and/or writes the device (exchange does both: read
// first, then write the register's old value).
constexpr bool mmio_reads(MmioOp op) { return op != MmioOp::store && op != MmioOp::store_imm; }
constexpr bool mmio_writes(MmioOp op)
{
    return op == MmioOp::store || op == MmioOp::store_imm || op == MmioOp::exchange;
}

// The value a store or exchange writes to memory (access_bytes wide, zero above); 0 for
// the loads. `gpr` is indexed by Gpr. Read it before mmio_complete_load for an exchange.
u64 mmio_store_value(const MmioInsn &insn, const u64 gpr[GPR_COUNT]);

// Writes `value` (what the device returned, access_bytes wide; higher bits are ignored)
// into the register as the CPU would: 8/16-bit writes merge into the old value (AH-style
// into bits 15:8), 32-bit writes clear bits 63:32, MOVZX/MOVSX extend first. Does nothing
// for stores.
void mmio_complete_load(const MmioInsn &insn, u64 value, u64 gpr[GPR_COUNT]);

// A short name for log and crash messages ("load", "store", ...).
const char *mmio_op_name(MmioOp op);
