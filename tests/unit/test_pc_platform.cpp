// SPDX-License-Identifier: MIT
// The emulated PC's wiring: PIT to PIC (virtual wire) and to the IO-APIC, EOIs, console, MSRs.
#include "arch/x86_64/cpu/msr.hpp"
#include "arch/x86_64/guest/pc_platform.hpp"
#include "arch/x86_64/platform/pc_layout.hpp"
#include "dom/domain.hpp"
#include "host_platform.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <string>

namespace {

constexpr u64 TSC_HZ = 1'000'000'000; // 1 GHz: one tick a nanosecond
constexpr u64 PIT_HZ = 1'193'182;
constexpr u8 PIC_BASE = 0x20, TIMER_VECTOR = 0x30;

class PcPlatformTest : public ::testing::Test {
protected:
    PcPlatformTest() : domain_(1), pc_(domain_, TSC_HZ, 0) { copy("t"); }

    void copy(const char *name) { std::snprintf(domain_.name, sizeof(domain_.name), "%s", name); }
    void out(u16 port, u8 value) { pc_.port_write(port, 1, value, now_); }
    void pic_init()
    {
        // What Linux's init_8259A writes: ICW1 (edge, cascade, ICW4), ICW2 vectors,
        // ICW3 wiring, ICW4 8086 mode; then everything masked but IRQ 0.
        out(0x20, 0x11), out(0x21, PIC_BASE), out(0x21, 0x04), out(0x21, 0x01);
        out(0xa0, 0x11), out(0xa1, PIC_BASE + 8), out(0xa1, 0x02), out(0xa1, 0x01);
        out(0x21, 0xfe), out(0xa1, 0xff);
    }
    // PIT channel 0, mode 2 (rate generator), lobyte/hibyte count.
    void pit_periodic(u16 count)
    {
        out(0x43, 0x34);
        out(0x40, static_cast<u8>(count)), out(0x40, static_cast<u8>(count >> 8));
    }
    void ioapic_route(u32 pin, u8 vector, bool masked)
    {
        auto reg = [&](u32 index, u32 value) {
            ASSERT_TRUE(pc_.mmio_write(pc_layout::IOAPIC_BASE + IoApic::MMIO_SELECT, 4, index, now_));
            ASSERT_TRUE(pc_.mmio_write(pc_layout::IOAPIC_BASE + IoApic::MMIO_WINDOW, 4, value, now_));
        };
        reg(IoApic::REG_REDIRECTION + 2 * pin + 1, 0); // destination APIC 0
        reg(IoApic::REG_REDIRECTION + 2 * pin, vector | (masked ? 1u << 16 : 0));
    }
    void run_until(u64 tsc) { now_ = tsc, (void)pc_.advance(now_); }

    SimulatedRam ram_{64 * MiB};
    Domain domain_;
    PcPlatform pc_;
    u64 now_ = 0;
};

u64 pit_period_ticks(u16 count) { return count * TSC_HZ / PIT_HZ + 1; }

} // namespace

TEST_F(PcPlatformTest, PitInterruptsReachTheVcpuThroughThePicInVirtualWireMode)
{
    pic_init();
    pit_periodic(1193); // about 1 ms
    EXPECT_EQ(pc_.pending_vector(), -1);
    const u64 next = pc_.advance(now_);
    ASSERT_NE(next, PLATFORM_NO_DEADLINE);
    EXPECT_NEAR(static_cast<double>(next), static_cast<double>(pit_period_ticks(1193)), 2000.0);
    run_until(next);
    ASSERT_EQ(pc_.pending_vector(), PIC_BASE) << "IRQ 0 through LINT0 (ExtINT), as a BIOS leaves it";
    pc_.acknowledge(PIC_BASE);
    EXPECT_EQ(pc_.pending_vector(), -1) << "in service until the EOI";
    out(0x20, 0x20); // non-specific EOI
    run_until(next + pit_period_ticks(1193));
    EXPECT_EQ(pc_.pending_vector(), PIC_BASE) << "the next period";
}

TEST_F(PcPlatformTest, WithThePicMaskedTheTimerArrivesThroughIoApicPinTwo)
{
    pic_init();
    out(0x21, 0xff); // the kernel masks the PIC once the IO-APIC is set up
    ioapic_route(2, TIMER_VECTOR, false);
    pit_periodic(1193);
    run_until(pc_.advance(now_));
    ASSERT_EQ(pc_.pending_vector(), TIMER_VECTOR) << "ISA IRQ 0 is IO-APIC pin 2 (the MP table's wiring)";
    pc_.acknowledge(TIMER_VECTOR);
    EXPECT_EQ(pc_.pending_vector(), -1);
    u64 isr = 0;
    ASSERT_TRUE(pc_.mmio_read(pc_layout::LAPIC_BASE + Lapic::REG_ISR + 0x10, 4, isr, now_));
    EXPECT_EQ(isr, 1u << (TIMER_VECTOR - 32)) << "vector 0x30 in service";
    ASSERT_TRUE(pc_.mmio_write(pc_layout::LAPIC_BASE + Lapic::REG_EOI, 4, 0, now_));
    ASSERT_TRUE(pc_.mmio_read(pc_layout::LAPIC_BASE + Lapic::REG_ISR + 0x10, 4, isr, now_));
    EXPECT_EQ(isr, 0u);
}

TEST_F(PcPlatformTest, TheLapicTscDeadlineTimerFiresItsVector)
{
    ASSERT_TRUE(pc_.mmio_write(pc_layout::LAPIC_BASE + Lapic::REG_LVT_TIMER, 4,
                               0xef | (Lapic::TIMER_TSC_DEADLINE << Lapic::TIMER_MODE_SHIFT), now_));
    EXPECT_EQ(pc_.msr_write(cpu::MSR_TSC_DEADLINE, 5000, now_), PcPlatform::MsrResult::handled);
    EXPECT_EQ(pc_.advance(now_), 5000u);
    run_until(4999);
    EXPECT_EQ(pc_.pending_vector(), -1);
    run_until(5000);
    EXPECT_EQ(pc_.pending_vector(), 0xef);
}

TEST_F(PcPlatformTest, TheUartWritesLinesToTheDomainConsole)
{
    console_capture_begin();
    for (char c : std::string("hello\r\n"))
        pc_.port_write(PcPlatform::COM1_PORT, 1, static_cast<u8>(c), now_);
    const std::string log = console_capture_end();
    EXPECT_NE(log.find("[d1 t] hello"), std::string::npos) << log;
    EXPECT_EQ(log.find('?'), std::string::npos) << "CR is dropped, not shown: " << log;
}

TEST_F(PcPlatformTest, PortsAndMsrsNobodyClaims)
{
    EXPECT_EQ(pc_.port_read(0x2f8, 1, now_), 0xffu) << "no COM2: the bus floats";
    EXPECT_EQ(pc_.port_read(0xcfc, 4, now_), 0xffffffffu);
    pc_.port_write(PcPlatform::POST_PORT, 1, 0x55, now_); // ignored
    u64 value = 0;
    EXPECT_EQ(pc_.msr_read(0x1234, value), PcPlatform::MsrResult::not_mine);
    EXPECT_EQ(pc_.msr_write(cpu::MSR_TSC_AUX, 7, now_), PcPlatform::MsrResult::handled);
    EXPECT_EQ(pc_.msr_read(cpu::MSR_TSC_AUX, value), PcPlatform::MsrResult::handled);
    EXPECT_EQ(value, 7u);
    EXPECT_EQ(pc_.msr_read(cpu::MSR_APIC_BASE, value), PcPlatform::MsrResult::handled);
    EXPECT_EQ(value & ~u64{0xfff}, pc_layout::LAPIC_BASE);
    EXPECT_EQ(pc_.msr_write(cpu::MSR_APIC_BASE, value | (1u << 10), now_), PcPlatform::MsrResult::fault)
        << "x2APIC is not offered";
    EXPECT_TRUE(PcPlatform::claims_mmio(pc_layout::IOAPIC_BASE + 0x10));
    EXPECT_FALSE(PcPlatform::claims_mmio(pc_layout::IOAPIC_BASE + 0x1000));
    EXPECT_FALSE(pc_.mmio_write(pc_layout::LAPIC_BASE + Lapic::REG_TPR, 2, 0, now_)) << "16-bit APIC access";
    EXPECT_FALSE(pc_.mmio_read(pc_layout::LAPIC_BASE + 0x82, 4, value, now_)) << "misaligned";
}
