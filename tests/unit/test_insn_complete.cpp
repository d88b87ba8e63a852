// SPDX-License-Identifier: MIT
// Unit tests for the MMIO decoder's register-file side: what a store writes, how a load lands.
#include "arch/x86_64/platform/insn_decode.hpp"
#include <gtest/gtest.h>

namespace {

constexpr u64 OLD = 0x1122334455667788;

MmioInsn make(MmioOp op, u8 access, u8 dest, u8 reg, bool high = false)
{
    MmioInsn insn;
    insn.op = op;
    insn.access_bytes = access;
    insn.dest_bytes = dest;
    insn.reg = reg;
    insn.high_byte = high;
    return insn;
}

// The register after a load of `value` into a register that held OLD.
u64 after_load(const MmioInsn &insn, u64 value)
{
    u64 gpr[GPR_COUNT];
    for (u64 &r : gpr)
        r = OLD;
    mmio_complete_load(insn, value, gpr);
    for (u8 i = 0; i < GPR_COUNT; i++) {
        if (i != insn.reg) {
            EXPECT_EQ(gpr[i], OLD) << "register " << int{i} << " changed";
        }
    }
    return gpr[insn.reg];
}

} // namespace

TEST(InsnComplete, PlainLoadsFollowTheWidthRules)
{
    EXPECT_EQ(after_load(make(MmioOp::load, 1, 1, GPR_RCX), 0xab), 0x11223344556677abu);
    EXPECT_EQ(after_load(make(MmioOp::load, 1, 1, GPR_RCX), 0xffab), 0x11223344556677abu); // only the access
    EXPECT_EQ(after_load(make(MmioOp::load, 1, 1, GPR_RCX, true), 0xab), 0x112233445566ab88u); // CH
    EXPECT_EQ(after_load(make(MmioOp::load, 1, 1, GPR_RSP), 0xab), 0x11223344556677abu); // SPL
    EXPECT_EQ(after_load(make(MmioOp::load, 2, 2, GPR_R9), 0xabcd), 0x112233445566abcdu);
    EXPECT_EQ(after_load(make(MmioOp::load, 4, 4, GPR_R15), 0x89abcdef), 0x0000000089abcdefu); // clears 63:32
    EXPECT_EQ(after_load(make(MmioOp::load, 8, 8, GPR_RAX), 0x0123456789abcdef), 0x0123456789abcdefu);
}

TEST(InsnComplete, ExtendingLoads)
{
    EXPECT_EQ(after_load(make(MmioOp::load_zero_extend, 1, 4, GPR_RAX), 0xf0), 0xf0u);
    EXPECT_EQ(after_load(make(MmioOp::load_zero_extend, 1, 2, GPR_RAX), 0xf0), 0x11223344556600f0u);
    EXPECT_EQ(after_load(make(MmioOp::load_zero_extend, 2, 8, GPR_RAX), 0xfff0), 0xfff0u);
    EXPECT_EQ(after_load(make(MmioOp::load_sign_extend, 1, 8, GPR_RAX), 0x80), 0xffffffffffffff80u);
    EXPECT_EQ(after_load(make(MmioOp::load_sign_extend, 1, 8, GPR_RAX), 0x7f), 0x7fu);
    EXPECT_EQ(after_load(make(MmioOp::load_sign_extend, 1, 4, GPR_RAX), 0x80), 0x00000000ffffff80u);
    EXPECT_EQ(after_load(make(MmioOp::load_sign_extend, 1, 2, GPR_RAX), 0x80), 0x112233445566ff80u);
    EXPECT_EQ(after_load(make(MmioOp::load_sign_extend, 2, 8, GPR_RAX), 0x8000), 0xffffffffffff8000u);
    EXPECT_EQ(after_load(make(MmioOp::load_sign_extend, 2, 4, GPR_RAX), 0x8000), 0x00000000ffff8000u);
    // Bits above the access are not the device's: they do not count as the sign.
    EXPECT_EQ(after_load(make(MmioOp::load_sign_extend, 1, 8, GPR_RAX), 0xff7f), 0x7fu);
}

TEST(InsnComplete, StoresLeaveRegistersAlone)
{
    EXPECT_EQ(after_load(make(MmioOp::store, 4, 0, GPR_RAX), 0x1234), OLD);
    EXPECT_EQ(after_load(make(MmioOp::store_imm, 4, 0, GPR_RAX), 0x1234), OLD);
}

TEST(InsnComplete, StoreValues)
{
    u64 gpr[GPR_COUNT];
    for (u8 i = 0; i < GPR_COUNT; i++)
        gpr[i] = OLD + i;
    EXPECT_EQ(mmio_store_value(make(MmioOp::store, 1, 0, GPR_RAX), gpr), 0x88u);
    EXPECT_EQ(mmio_store_value(make(MmioOp::store, 1, 0, GPR_RAX, true), gpr), 0x77u); // AH
    EXPECT_EQ(mmio_store_value(make(MmioOp::store, 1, 0, GPR_RSP), gpr), 0x8cu); // SPL
    EXPECT_EQ(mmio_store_value(make(MmioOp::store, 1, 0, GPR_RSP, true), gpr), 0x77u); // AH again, not SPL
    EXPECT_EQ(mmio_store_value(make(MmioOp::store, 2, 0, GPR_R8), gpr), 0x7790u);
    EXPECT_EQ(mmio_store_value(make(MmioOp::store, 4, 0, GPR_R15), gpr), 0x55667797u);
    EXPECT_EQ(mmio_store_value(make(MmioOp::store, 8, 0, GPR_RDX), gpr), OLD + 2);
    EXPECT_EQ(mmio_store_value(make(MmioOp::exchange, 4, 4, GPR_RBX), gpr), 0x5566778bu);
    EXPECT_EQ(mmio_store_value(make(MmioOp::load, 4, 4, GPR_RBX), gpr), 0u);
    MmioInsn imm = make(MmioOp::store_imm, 2, 0, GPR_RAX);
    imm.imm = 0xbeef;
    EXPECT_EQ(mmio_store_value(imm, gpr), 0xbeefu);
}

// What the NPF handler does with an XCHG: read the device, write the old register value,
// put the device's value into the register.
TEST(InsnComplete, ExchangeEndToEnd)
{
    const u8 bytes[] = {0x4c, 0x87, 0x17}; // xchg [rdi], r10
    MmioInsn insn;
    ASSERT_EQ(decode_mmio(bytes, sizeof(bytes), CpuMode::long64, &insn), 0);
    u64 gpr[GPR_COUNT] = {};
    gpr[GPR_R10] = 0xaaaa;
    u64 device = 0x5555;
    const u64 old_device = device;
    ASSERT_TRUE(mmio_reads(insn.op) && mmio_writes(insn.op));
    device = mmio_store_value(insn, gpr);
    mmio_complete_load(insn, old_device, gpr);
    EXPECT_EQ(device, 0xaaaau);
    EXPECT_EQ(gpr[GPR_R10], 0x5555u);
}
