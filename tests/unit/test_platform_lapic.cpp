// SPDX-License-Identifier: MIT
// Unit tests for the local APIC model: registers, priorities, EOI, timer, IPIs, INIT/SIPI, state.
#include "abi/errno.h"
#include "arch/x86_64/platform/lapic.hpp"
#include <gtest/gtest.h>
#include <vector>

namespace {

// Guest TSC at 2 GHz, APIC bus at 1 GHz: one timer count at divide 1 is two TSC ticks.
constexpr u64 TSC_HZ = 2'000'000'000;
constexpr u64 TICKS_PER_COUNT = 2;

struct Sinks final : IpiSink, EoiSink {
    std::vector<Ipi> ipis;
    std::vector<u8> eois;
    void ipi(const Ipi &ipi) override { ipis.push_back(ipi); }
    void eoi(u8 vector) override { eois.push_back(vector); }
};

Lapic::Config config(u8 id, bool bsp) { return Lapic::Config{TscClock{TSC_HZ}, Lapic::DEFAULT_BUS_HZ, id, bsp}; }

class LapicTest : public ::testing::Test {
protected:
    Sinks sinks;
    Lapic apic{config(0, true), sinks, sinks};

    void enable() { apic.write(Lapic::REG_SVR, Lapic::SVR_ENABLED | 0xff, 0); }
    // Injects what is pending, as the vCPU loop does.
    int take()
    {
        const int vector = apic.pending_vector();
        if (vector >= 0)
            apic.acknowledge(static_cast<u8>(vector));
        return vector;
    }
    bool in_irr(u32 vector) { return (apic.read(Lapic::REG_IRR + vector / 32 * 0x10, 0) >> (vector % 32)) & 1; }
    bool in_isr(u32 vector) { return (apic.read(Lapic::REG_ISR + vector / 32 * 0x10, 0) >> (vector % 32)) & 1; }
    u32 esr()
    {
        apic.write(Lapic::REG_ESR, 0, 0);
        return apic.read(Lapic::REG_ESR, 0);
    }
};

TEST_F(LapicTest, PowerUpValues)
{
    EXPECT_EQ(apic.apic_base_msr(), 0xfee00000u | Lapic::BASE_ENABLED | Lapic::BASE_BSP);
    EXPECT_EQ(apic.read(Lapic::REG_ID, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_VERSION, 0), 0x00060014u);
    EXPECT_EQ(apic.read(Lapic::REG_TPR, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_PPR, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_APR, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_LDR, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_DFR, 0), 0xffffffffu);
    EXPECT_EQ(apic.read(Lapic::REG_SVR, 0), 0xffu);
    EXPECT_EQ(apic.read(Lapic::REG_ESR, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_ICR_LOW, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_ICR_HIGH, 0), 0u);
    for (u32 reg : {Lapic::REG_LVT_TIMER, Lapic::REG_LVT_THERMAL, Lapic::REG_LVT_PERF, Lapic::REG_LVT_LINT0,
                    Lapic::REG_LVT_LINT1, Lapic::REG_LVT_ERROR, Lapic::REG_LVT_CMCI})
        EXPECT_EQ(apic.read(reg, 0), Lapic::LVT_MASKED) << std::hex << reg;
    for (u32 i = 0; i < 8; i++) {
        EXPECT_EQ(apic.read(Lapic::REG_ISR + i * 0x10, 0), 0u);
        EXPECT_EQ(apic.read(Lapic::REG_TMR + i * 0x10, 0), 0u);
        EXPECT_EQ(apic.read(Lapic::REG_IRR + i * 0x10, 0), 0u);
    }
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_INITIAL, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_DIVIDE, 0), 0u);
    EXPECT_EQ(apic.next_deadline(), PLATFORM_NO_DEADLINE);
    EXPECT_FALSE(apic.waiting_for_sipi());
    EXPECT_FALSE(apic.lint0_extint());

    Sinks other_sinks;
    Lapic ap{config(3, false), other_sinks, other_sinks};
    EXPECT_EQ(ap.apic_base_msr(), 0xfee00000u | Lapic::BASE_ENABLED);
    EXPECT_EQ(ap.read(Lapic::REG_ID, 0), 0x03000000u);
    EXPECT_EQ(ap.apic_id(), 3);
    EXPECT_TRUE(ap.waiting_for_sipi());
}

TEST_F(LapicTest, SoftwareDisabledDropsMessagesAndHoldsPending)
{
    apic.accept(0x40, false);
    EXPECT_FALSE(in_irr(0x40)); // dropped: SVR bit 8 is clear after reset
    enable();
    apic.accept(0x40, false);
    EXPECT_EQ(apic.pending_vector(), 0x40);
    apic.write(Lapic::REG_SVR, 0xff, 0);
    EXPECT_EQ(apic.pending_vector(), -1); // held, not presented
    EXPECT_TRUE(in_irr(0x40));
    enable();
    EXPECT_EQ(apic.pending_vector(), 0x40);
}

TEST_F(LapicTest, TaskPriorityGatesByClass)
{
    enable();
    apic.accept(0x51, false);
    apic.write(Lapic::REG_TPR, 0x50, 0);
    EXPECT_EQ(apic.read(Lapic::REG_PPR, 0), 0x50u);
    EXPECT_EQ(apic.pending_vector(), -1); // same class as TPR: blocked
    apic.write(Lapic::REG_TPR, 0x4f, 0);
    EXPECT_EQ(apic.pending_vector(), 0x51);
    apic.write(Lapic::REG_TPR, 0x1ff, 0); // only bits 7:0 exist
    EXPECT_EQ(apic.read(Lapic::REG_TPR, 0), 0xffu);
    EXPECT_EQ(apic.pending_vector(), -1);
    EXPECT_EQ(apic.read(Lapic::REG_APR, 0), 0xffu);
}

TEST_F(LapicTest, HighestVectorFirstAndNestedInService)
{
    enable();
    apic.accept(0x40, false);
    apic.accept(0x80, false);
    apic.accept(0x61, false);
    EXPECT_EQ(take(), 0x80);
    EXPECT_TRUE(in_isr(0x80));
    EXPECT_FALSE(in_irr(0x80));
    EXPECT_EQ(apic.read(Lapic::REG_PPR, 0), 0x80u);
    EXPECT_EQ(apic.pending_vector(), -1); // 0x61 is below the in-service class
    apic.accept(0x8f, false);
    EXPECT_EQ(apic.pending_vector(), -1); // same class as in service
    apic.accept(0x91, false);
    EXPECT_EQ(take(), 0x91); // a higher class nests
    EXPECT_EQ(apic.read(Lapic::REG_ISR + 0x40, 0), (1u << 0x11) | 1u); // 0x91 and 0x80
    EXPECT_EQ(apic.read(Lapic::REG_APR, 0), 0x90u);
    apic.write(Lapic::REG_EOI, 0, 0); // retires the highest in service: 0x91
    EXPECT_FALSE(in_isr(0x91));
    EXPECT_TRUE(in_isr(0x80));
    EXPECT_EQ(apic.pending_vector(), -1);
    apic.write(Lapic::REG_EOI, 0, 0);
    EXPECT_EQ(take(), 0x8f);
    apic.write(Lapic::REG_EOI, 0, 0);
    EXPECT_EQ(take(), 0x61);
    apic.write(Lapic::REG_EOI, 0, 0);
    EXPECT_EQ(take(), 0x40);
    apic.write(Lapic::REG_EOI, 0, 0);
    EXPECT_EQ(take(), -1);
    EXPECT_EQ(apic.read(Lapic::REG_PPR, 0), 0u);
    apic.write(Lapic::REG_EOI, 0, 0); // nothing in service: no effect
    EXPECT_TRUE(sinks.eois.empty());
}

TEST_F(LapicTest, LevelTriggeredEoiIsBroadcast)
{
    enable();
    apic.accept(0x70, true);
    apic.accept(0x60, false);
    EXPECT_EQ(apic.read(Lapic::REG_TMR + 0x30, 0), 1u << 0x10);
    EXPECT_EQ(take(), 0x70);
    apic.write(Lapic::REG_EOI, 0, 0);
    EXPECT_EQ(sinks.eois, std::vector<u8>{0x70});
    EXPECT_EQ(take(), 0x60);
    apic.write(Lapic::REG_EOI, 0, 0);
    EXPECT_EQ(sinks.eois.size(), 1u); // edge: no broadcast
    apic.accept(0x70, false); // re-accepted as edge: TMR follows the message
    EXPECT_EQ(apic.read(Lapic::REG_TMR + 0x30, 0), 0u);
}

TEST_F(LapicTest, IllegalVectorsAndErrorInterrupt)
{
    enable();
    apic.accept(5, false);
    EXPECT_EQ(apic.read(Lapic::REG_ESR, 0), 0u); // not latched until ESR is written
    EXPECT_EQ(esr(), Lapic::ESR_RECEIVE_ILLEGAL_VECTOR);
    EXPECT_EQ(esr(), 0u); // the next write latches "nothing new"
    EXPECT_EQ(apic.pending_vector(), -1);
    apic.write(Lapic::REG_LVT_ERROR, 0xfe, 0);
    apic.accept(15, true);
    EXPECT_EQ(take(), 0xfe);
    EXPECT_EQ(esr(), Lapic::ESR_RECEIVE_ILLEGAL_VECTOR);
    // Undefined offsets read 0, drop writes and report an illegal register address.
    EXPECT_EQ(apic.read(0x290, 0), 0u);
    apic.write(0x3f0, 1, 0);
    EXPECT_EQ(apic.read(Lapic::REG_ID + 4, 0), 0u);
    EXPECT_EQ(esr(), Lapic::ESR_ILLEGAL_REGISTER);
    EXPECT_FALSE(Lapic::defined_register(0x290));
    EXPECT_TRUE(Lapic::defined_register(Lapic::REG_IRR + 0x70));
    // Writes to read-only registers are ignored without an error.
    apic.write(Lapic::REG_VERSION, 0, 0);
    apic.write(Lapic::REG_PPR, 0xff, 0);
    apic.write(Lapic::REG_IRR, 0xffffffff, 0);
    EXPECT_EQ(apic.read(Lapic::REG_VERSION, 0), Lapic::VERSION_VALUE);
    EXPECT_EQ(apic.read(Lapic::REG_IRR, 0), 0u);
    EXPECT_EQ(esr(), 0u);
}

TEST_F(LapicTest, OneShotTimerForEveryDivideValue)
{
    enable();
    struct Case {
        u32 config;
        u64 divisor;
    };
    const Case cases[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};
    u64 now = 1000;
    for (const Case &c : cases) {
        apic.write(Lapic::REG_TIMER_DIVIDE, c.config, now);
        apic.write(Lapic::REG_LVT_TIMER, 0x30, now); // one-shot, vector 0x30
        apic.write(Lapic::REG_TIMER_INITIAL, 1000, now);
        const u64 span = 1000 * c.divisor * TICKS_PER_COUNT;
        EXPECT_EQ(apic.next_deadline(), now + span) << c.divisor;
        EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, now + span / 2), 500u) << c.divisor;
        EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, now + span - 1), 1u) << c.divisor;
        apic.advance(now + span - 1);
        EXPECT_EQ(apic.pending_vector(), -1);
        apic.advance(now + span);
        EXPECT_EQ(take(), 0x30) << c.divisor;
        apic.write(Lapic::REG_EOI, 0, now + span);
        EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, now + span), 0u);
        EXPECT_EQ(apic.read(Lapic::REG_TIMER_INITIAL, now + span), 1000u);
        EXPECT_EQ(apic.next_deadline(), PLATFORM_NO_DEADLINE);
        now += span + 77;
    }
    apic.write(Lapic::REG_TIMER_DIVIDE, 0xff, now);
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_DIVIDE, now), 0xbu);
}

// Rates whose product exceeds 2^64 take the model's long-division path; the result must
// still be exact (compared here with the host's 128-bit division).
TEST(LapicTimer, FastClocksConvertExactly)
{
    for (u64 bus_hz : {u64{1'000'000'000}, u64{4'000'000'000}, u64{4'294'967'291}}) {
        const u64 tsc_hz = 5'000'000'011;
        Sinks sinks;
        Lapic apic{Lapic::Config{TscClock{tsc_hz}, bus_hz, 0, true}, sinks, sinks};
        apic.write(Lapic::REG_SVR, 0x1ff, 0);
        apic.write(Lapic::REG_TIMER_DIVIDE, 0xa, 0); // divide by 128
        apic.write(Lapic::REG_LVT_TIMER, 0x30, 0);
        apic.write(Lapic::REG_TIMER_INITIAL, 0xfffffff1, 0);
        const u64 span = static_cast<u64>(static_cast<unsigned __int128>(0xfffffff1ull * 128) * tsc_hz / bus_hz);
        EXPECT_EQ(apic.next_deadline(), span) << bus_hz;
        const u64 now = span / 3;
        const u64 counted = static_cast<u64>(static_cast<unsigned __int128>(now) * bus_hz / tsc_hz) / 128;
        EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, now), 0xfffffff1 - counted) << bus_hz;
    }
    Sinks sinks;
    Lapic unclocked{Lapic::Config{TscClock{0}, Lapic::DEFAULT_BUS_HZ, 0, true}, sinks, sinks};
    unclocked.write(Lapic::REG_SVR, 0x1ff, 0);
    unclocked.write(Lapic::REG_LVT_TIMER, 0x30, 0);
    unclocked.write(Lapic::REG_TIMER_INITIAL, 10, 0);
    EXPECT_EQ(unclocked.next_deadline(), PLATFORM_NO_DEADLINE);
    EXPECT_EQ(unclocked.read(Lapic::REG_TIMER_CURRENT, 1'000'000), 10u);
}

TEST_F(LapicTest, WritingZeroStopsTheTimer)
{
    enable();
    apic.write(Lapic::REG_TIMER_DIVIDE, 0xb, 0);
    apic.write(Lapic::REG_LVT_TIMER, 0x30, 0);
    apic.write(Lapic::REG_TIMER_INITIAL, 1000, 0);
    apic.write(Lapic::REG_TIMER_INITIAL, 0, 10);
    EXPECT_EQ(apic.next_deadline(), PLATFORM_NO_DEADLINE);
    apic.advance(1'000'000);
    EXPECT_EQ(apic.pending_vector(), -1);
}

TEST_F(LapicTest, PeriodicTimerReloads)
{
    enable();
    apic.write(Lapic::REG_TIMER_DIVIDE, 0xb, 0); // divide by 1
    apic.write(Lapic::REG_LVT_TIMER, (Lapic::TIMER_PERIODIC << Lapic::TIMER_MODE_SHIFT) | 0xec, 0);
    apic.write(Lapic::REG_TIMER_INITIAL, 100, 0); // period: 200 ticks
    EXPECT_EQ(apic.next_deadline(), 200u);
    apic.advance(200);
    EXPECT_EQ(take(), 0xec);
    apic.write(Lapic::REG_EOI, 0, 210);
    EXPECT_EQ(apic.next_deadline(), 400u);
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, 250), 75u);
    apic.advance(400);
    EXPECT_EQ(take(), 0xec);
    EXPECT_EQ(apic.next_deadline(), 600u);
}

TEST_F(LapicTest, PeriodicCatchUpCoalesces)
{
    enable();
    apic.write(Lapic::REG_TIMER_DIVIDE, 0xb, 0);
    apic.write(Lapic::REG_LVT_TIMER, (Lapic::TIMER_PERIODIC << Lapic::TIMER_MODE_SHIFT) | 0xec, 0);
    apic.write(Lapic::REG_TIMER_INITIAL, 100, 0);
    apic.advance(2100); // ten and a half periods late
    EXPECT_EQ(take(), 0xec);
    apic.write(Lapic::REG_EOI, 0, 2100);
    EXPECT_EQ(take(), -1); // one interrupt, not ten
    EXPECT_EQ(apic.next_deadline(), 2200u); // in the future, in phase with the start
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, 2150), 25u);
}

TEST_F(LapicTest, MaskedTimerCountsWithoutInterrupting)
{
    enable();
    apic.write(Lapic::REG_TIMER_DIVIDE, 0xb, 0);
    apic.write(Lapic::REG_LVT_TIMER, Lapic::LVT_MASKED | (Lapic::TIMER_PERIODIC << Lapic::TIMER_MODE_SHIFT) | 0xec, 0);
    apic.write(Lapic::REG_TIMER_INITIAL, 100, 0);
    apic.advance(200);
    EXPECT_EQ(apic.pending_vector(), -1);
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, 300), 50u);
    apic.write(Lapic::REG_LVT_TIMER, (Lapic::TIMER_PERIODIC << Lapic::TIMER_MODE_SHIFT) | 0xec, 300);
    apic.advance(400);
    EXPECT_EQ(take(), 0xec);
}

TEST_F(LapicTest, DivideChangeKeepsTheCount)
{
    enable();
    apic.write(Lapic::REG_TIMER_DIVIDE, 0xb, 0);
    apic.write(Lapic::REG_LVT_TIMER, 0x30, 0);
    apic.write(Lapic::REG_TIMER_INITIAL, 1000, 0);
    apic.write(Lapic::REG_TIMER_DIVIDE, 0x3, 1000); // 500 counts left, now at divide 16
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, 1000), 500u);
    EXPECT_EQ(apic.next_deadline(), 1000 + 500 * 16 * TICKS_PER_COUNT);
}

TEST_F(LapicTest, TscDeadlineMode)
{
    enable();
    apic.write_tsc_deadline(5000, 0); // ignored outside TSC-deadline mode
    EXPECT_EQ(apic.read_tsc_deadline(), 0u);
    apic.write(Lapic::REG_TIMER_INITIAL, 1000, 0);
    apic.write(Lapic::REG_LVT_TIMER, (Lapic::TIMER_TSC_DEADLINE << Lapic::TIMER_MODE_SHIFT) | 0xef, 100);
    // Entering the mode disarmed the count; the initial count is now ignored.
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_INITIAL, 100), 0u);
    apic.write(Lapic::REG_TIMER_INITIAL, 1000, 100);
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_INITIAL, 100), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_TIMER_CURRENT, 100), 0u);
    EXPECT_EQ(apic.next_deadline(), PLATFORM_NO_DEADLINE);
    apic.write_tsc_deadline(5000, 1000);
    EXPECT_EQ(apic.read_tsc_deadline(), 5000u);
    EXPECT_EQ(apic.next_deadline(), 5000u);
    apic.advance(4999);
    EXPECT_EQ(apic.pending_vector(), -1);
    apic.advance(5000);
    EXPECT_EQ(take(), 0xef);
    apic.write(Lapic::REG_EOI, 0, 5000);
    EXPECT_EQ(apic.read_tsc_deadline(), 0u); // disarmed by firing
    EXPECT_EQ(apic.next_deadline(), PLATFORM_NO_DEADLINE);
    apic.write_tsc_deadline(6000, 7000); // already past: fires at once
    EXPECT_EQ(take(), 0xef);
    apic.write(Lapic::REG_EOI, 0, 7000);
    apic.write_tsc_deadline(9000, 7000);
    apic.write_tsc_deadline(0, 7000); // 0 disarms
    apic.advance(10000);
    EXPECT_EQ(take(), -1);
    apic.write_tsc_deadline(9000, 10000 - 2000);
    apic.write(Lapic::REG_LVT_TIMER, 0xef, 8500); // leaving the mode disarms too
    apic.advance(10000);
    EXPECT_EQ(take(), -1);
    EXPECT_EQ(apic.next_deadline(), PLATFORM_NO_DEADLINE);
    // The reserved mode 3 leaves the mode as it was.
    apic.write(Lapic::REG_LVT_TIMER, (3u << Lapic::TIMER_MODE_SHIFT) | 0xef, 10000);
    EXPECT_EQ(apic.read(Lapic::REG_LVT_TIMER, 10000), 0xefu);
}

TEST_F(LapicTest, SoftwareDisableMasksEveryLvt)
{
    enable();
    apic.write(Lapic::REG_LVT_LINT0, 0x700, 0); // ExtINT, unmasked: virtual wire
    apic.write(Lapic::REG_LVT_LINT1, 0x400, 0); // NMI
    apic.write(Lapic::REG_LVT_TIMER, 0x30, 0);
    EXPECT_TRUE(apic.lint0_extint());
    EXPECT_TRUE(apic.lint1_nmi());
    apic.write(Lapic::REG_SVR, 0xff, 0);
    EXPECT_FALSE(apic.lint0_extint());
    EXPECT_FALSE(apic.lint1_nmi());
    EXPECT_EQ(apic.read(Lapic::REG_LVT_TIMER, 0), Lapic::LVT_MASKED | 0x30);
    EXPECT_EQ(apic.read(Lapic::REG_LVT_LINT0, 0), Lapic::LVT_MASKED | 0x700);
    apic.write(Lapic::REG_LVT_LINT0, 0x700, 0); // cannot unmask while disabled
    EXPECT_EQ(apic.read(Lapic::REG_LVT_LINT0, 0), Lapic::LVT_MASKED | 0x700);
    enable();
    EXPECT_FALSE(apic.lint0_extint()); // re-enabling leaves the masks
    apic.write(Lapic::REG_LVT_LINT0, 0x700, 0);
    EXPECT_TRUE(apic.lint0_extint());
    apic.write(Lapic::REG_LVT_LINT0, 0x8700, 0); // LINT0 keeps its trigger bit
    EXPECT_EQ(apic.read(Lapic::REG_LVT_LINT0, 0), 0x8700u);
}

TEST_F(LapicTest, IcrSendsIpis)
{
    enable();
    apic.write(Lapic::REG_ID, 0x02000000, 0);
    apic.write(Lapic::REG_ICR_HIGH, 0x03ffffff, 0);
    EXPECT_EQ(apic.read(Lapic::REG_ICR_HIGH, 0), 0x03000000u);
    apic.write(Lapic::REG_ICR_LOW, 0x000040fd, 0); // fixed, physical, assert, vector 0xfd
    ASSERT_EQ(sinks.ipis.size(), 1u);
    Ipi expect{{0xfd, DeliveryMode::Fixed, false, 3, false}, Shorthand::None, true, 2};
    EXPECT_EQ(sinks.ipis[0], expect);
    EXPECT_EQ(apic.read(Lapic::REG_ICR_LOW, 0) & Lapic::DELIVERY_PENDING, 0u); // idle at once

    apic.write(Lapic::REG_ICR_LOW, 0x00044830, 0); // self shorthand, logical
    apic.write(Lapic::REG_ICR_LOW, 0x000c4400, 0); // NMI to all excluding self
    apic.write(Lapic::REG_ICR_LOW, 0x0000c500, 0); // INIT assert, level
    apic.write(Lapic::REG_ICR_LOW, 0x00008500, 0); // INIT de-assert: not sent
    apic.write(Lapic::REG_ICR_LOW, 0x00000699, 0); // SIPI, vector 0x99
    apic.write(Lapic::REG_ICR_LOW, 0x00004305, 0); // reserved mode 3: not sent
    ASSERT_EQ(sinks.ipis.size(), 5u);
    EXPECT_EQ(sinks.ipis[1].shorthand, Shorthand::Self);
    EXPECT_TRUE(sinks.ipis[1].message.logical);
    EXPECT_EQ(sinks.ipis[2].shorthand, Shorthand::AllExcludingSelf);
    EXPECT_EQ(sinks.ipis[2].message.mode, DeliveryMode::Nmi);
    EXPECT_EQ(sinks.ipis[3].message.mode, DeliveryMode::Init);
    EXPECT_TRUE(sinks.ipis[3].message.level_triggered);
    EXPECT_EQ(sinks.ipis[4].message.mode, DeliveryMode::Startup);
    EXPECT_EQ(sinks.ipis[4].message.vector, 0x99);

    apic.write(Lapic::REG_ICR_LOW, 0x0000400f, 0); // fixed with an illegal vector
    EXPECT_EQ(sinks.ipis.size(), 5u);
    EXPECT_EQ(esr(), Lapic::ESR_SEND_ILLEGAL_VECTOR);
}

Lapic::State destination_state(u8 id, u8 ldr, u32 model)
{
    Lapic::State state{};
    state.apic_base = Lapic::BASE_ADDRESS | Lapic::BASE_ENABLED;
    state.id = u32{id} << 24;
    state.ldr = u32{ldr} << 24;
    state.dfr = (model << Lapic::DFR_MODEL_SHIFT) | Lapic::DFR_ONES;
    return state;
}

TEST(LapicDestination, PhysicalLogicalAndBroadcast)
{
    const Lapic::State flat = destination_state(1, 0x02, Lapic::DFR_FLAT);
    EXPECT_TRUE(lapic_matches_destination(flat, 1, false));
    EXPECT_FALSE(lapic_matches_destination(flat, 2, false));
    EXPECT_TRUE(lapic_matches_destination(flat, 0xff, false));
    EXPECT_TRUE(lapic_matches_destination(flat, 0x02, true));
    EXPECT_TRUE(lapic_matches_destination(flat, 0x03, true)); // a set of APICs
    EXPECT_FALSE(lapic_matches_destination(flat, 0x01, true));
    EXPECT_TRUE(lapic_matches_destination(flat, 0xff, true));

    const Lapic::State cluster = destination_state(5, 0x21, Lapic::DFR_CLUSTER);
    EXPECT_TRUE(lapic_matches_destination(cluster, 0x21, true));
    EXPECT_TRUE(lapic_matches_destination(cluster, 0x23, true));
    EXPECT_FALSE(lapic_matches_destination(cluster, 0x11, true)); // other cluster
    EXPECT_FALSE(lapic_matches_destination(cluster, 0x22, true)); // other member
    EXPECT_TRUE(lapic_matches_destination(cluster, 0xff, true));

    const Lapic::State reserved_model = destination_state(5, 0x21, 0x5);
    EXPECT_FALSE(lapic_matches_destination(reserved_model, 0x21, true));

    Lapic::State disabled = flat;
    disabled.apic_base &= ~Lapic::BASE_ENABLED;
    EXPECT_FALSE(lapic_matches_destination(disabled, 1, false));
    EXPECT_FALSE(lapic_matches_destination(disabled, 0xff, false));
}

TEST(LapicDestination, Shorthands)
{
    const Lapic::State target = destination_state(1, 0x02, Lapic::DFR_FLAT);
    Ipi ipi{{0x40, DeliveryMode::Fixed, false, 7, false}, Shorthand::None, true, 0};
    EXPECT_FALSE(ipi_reaches(ipi, target, false)); // destination 7, not 1
    ipi.message.destination = 1;
    EXPECT_TRUE(ipi_reaches(ipi, target, false));
    ipi.shorthand = Shorthand::Self;
    EXPECT_TRUE(ipi_reaches(ipi, target, true));
    EXPECT_FALSE(ipi_reaches(ipi, target, false));
    ipi.shorthand = Shorthand::AllIncludingSelf;
    EXPECT_TRUE(ipi_reaches(ipi, target, true));
    EXPECT_TRUE(ipi_reaches(ipi, target, false));
    ipi.shorthand = Shorthand::AllExcludingSelf;
    EXPECT_FALSE(ipi_reaches(ipi, target, true));
    EXPECT_TRUE(ipi_reaches(ipi, target, false));
}

TEST_F(LapicTest, ApicBaseMsr)
{
    const u64 base = apic.apic_base_msr();
    EXPECT_EQ(apic.write_apic_base_msr(base | Lapic::BASE_X2APIC), -BATON_EINVAL);
    EXPECT_EQ(apic.write_apic_base_msr(base | 1), -BATON_EINVAL);
    EXPECT_EQ(apic.write_apic_base_msr(base | (u64{1} << 9)), -BATON_EINVAL);
    EXPECT_EQ(apic.write_apic_base_msr(base | (u64{1} << 60)), -BATON_EINVAL);
    EXPECT_EQ(apic.write_apic_base_msr((base & 0xfff) | 0xfed00000), -BATON_ENOSYS);
    EXPECT_EQ(apic.apic_base_msr(), base);
    EXPECT_EQ(apic.write_apic_base_msr(base & ~Lapic::BASE_BSP), 0); // BSP is not writable
    EXPECT_EQ(apic.apic_base_msr(), base);

    enable();
    apic.write(Lapic::REG_ID, 0x07000000, 0);
    apic.write(Lapic::REG_TPR, 0x20, 0);
    apic.accept(0x40, false);
    EXPECT_EQ(apic.write_apic_base_msr(base & ~Lapic::BASE_ENABLED), 0);
    EXPECT_FALSE(apic.enabled());
    EXPECT_TRUE(apic.lint0_extint()); // LINT0 is the plain INTR pin now
    EXPECT_EQ(apic.read(Lapic::REG_ID, 0), 0u); // the page reads nothing
    EXPECT_EQ(apic.pending_vector(), -1);
    apic.accept(0x41, false);
    apic.write(Lapic::REG_TPR, 0x30, 0);
    EXPECT_EQ(apic.write_apic_base_msr(base), 0);
    // Back in the power-up state, the ID kept.
    EXPECT_EQ(apic.read(Lapic::REG_ID, 0), 0x07000000u);
    EXPECT_EQ(apic.read(Lapic::REG_TPR, 0), 0u);
    EXPECT_EQ(apic.read(Lapic::REG_SVR, 0), 0xffu);
    EXPECT_FALSE(in_irr(0x40));
    EXPECT_FALSE(in_irr(0x41));
}

TEST(LapicInitSipi, ApWaitsForSipi)
{
    Sinks sinks;
    Lapic ap{config(1, false), sinks, sinks};
    EXPECT_EQ(ap.take_sipi(), -1);
    EXPECT_TRUE(ap.receive_sipi(0x9a));
    EXPECT_FALSE(ap.waiting_for_sipi());
    EXPECT_FALSE(ap.receive_sipi(0x9b)); // the second SIPI of the pair is ignored
    EXPECT_EQ(ap.take_sipi(), 0x9a);
    EXPECT_EQ(ap.take_sipi(), -1);

    ap.write(Lapic::REG_SVR, 0x1ff, 0);
    ap.write(Lapic::REG_LDR, 0x01000000, 0);
    ap.accept(0x50, false);
    ap.receive_init();
    EXPECT_TRUE(ap.waiting_for_sipi());
    EXPECT_EQ(ap.read(Lapic::REG_SVR, 0), 0xffu);
    EXPECT_EQ(ap.read(Lapic::REG_LDR, 0), 0u);
    EXPECT_EQ(ap.read(Lapic::REG_IRR + 0x20, 0), 0u);
    EXPECT_EQ(ap.read(Lapic::REG_ID, 0), 0x01000000u);
    EXPECT_TRUE(ap.receive_sipi(0x10));
    EXPECT_EQ(ap.take_sipi(), 0x10);

    Lapic bsp{config(0, true), sinks, sinks};
    bsp.receive_init();
    EXPECT_FALSE(bsp.waiting_for_sipi());
    EXPECT_FALSE(bsp.receive_sipi(0x10));
    bsp.reset(4, false);
    EXPECT_TRUE(bsp.waiting_for_sipi());
    EXPECT_EQ(bsp.read(Lapic::REG_ID, 0), 0x04000000u);
}

// A busy APIC: periodic timer running, vectors pending and in service, one level-triggered.
void make_busy(Lapic &apic)
{
    apic.write(Lapic::REG_SVR, 0x1ff, 0);
    apic.write(Lapic::REG_LDR, 0x04000000, 0);
    apic.write(Lapic::REG_TPR, 0x10, 0);
    apic.write(Lapic::REG_TIMER_DIVIDE, 0x1, 0);
    apic.write(Lapic::REG_LVT_TIMER, (Lapic::TIMER_PERIODIC << Lapic::TIMER_MODE_SHIFT) | 0xec, 0);
    apic.write(Lapic::REG_TIMER_INITIAL, 12345, 0);
    apic.write(Lapic::REG_LVT_ERROR, 0xfe, 0);
    apic.accept(0x71, true);
    apic.acknowledge(static_cast<u8>(apic.pending_vector()));
    apic.accept(0x52, false);
    apic.accept(3, false);
}

// Runs both APICs through the same future and compares everything observable.
void expect_same_future(Lapic &a, Sinks &a_sinks, Lapic &b, Sinks &b_sinks)
{
    for (u64 now = 1000; now < 2'000'000; now += 37'123) {
        a.advance(now);
        b.advance(now);
        ASSERT_EQ(a.next_deadline(), b.next_deadline());
        ASSERT_EQ(a.read(Lapic::REG_TIMER_CURRENT, now), b.read(Lapic::REG_TIMER_CURRENT, now));
        const int vector = a.pending_vector();
        ASSERT_EQ(vector, b.pending_vector());
        if (vector >= 0) {
            a.acknowledge(static_cast<u8>(vector));
            b.acknowledge(static_cast<u8>(vector));
        }
        a.write(Lapic::REG_EOI, 0, now);
        b.write(Lapic::REG_EOI, 0, now);
        ASSERT_EQ(a.state(), b.state());
    }
    EXPECT_EQ(a_sinks.eois, b_sinks.eois);
    EXPECT_FALSE(a_sinks.eois.empty());
}

TEST(LapicState, RoundTripGivesTheSameFuture)
{
    Sinks a_sinks;
    Lapic a{config(2, false), a_sinks, a_sinks};
    make_busy(a);
    Sinks b_sinks;
    Lapic b{config(2, false), b_sinks, b_sinks};
    const Lapic::State saved = a.state(); // a plain copy, as the record holds it
    ASSERT_EQ(b.load(saved), 0);
    EXPECT_EQ(b.state(), a.state());
    expect_same_future(a, a_sinks, b, b_sinks);
}

TEST(LapicState, HostileStatesAreRefused)
{
    Sinks sinks;
    Lapic model{config(0, true), sinks, sinks};
    make_busy(model);
    const Lapic::State good = model.state();
    Lapic fresh{config(0, true), sinks, sinks};
    ASSERT_EQ(fresh.load(good), 0);

    using Mutation = void (*)(Lapic::State &);
    const Mutation mutations[] = {
        [](Lapic::State &s) { s.apic_base |= Lapic::BASE_X2APIC; },
        [](Lapic::State &s) { s.apic_base = 0xfed00000 | Lapic::BASE_ENABLED; },
        [](Lapic::State &s) { s.id |= 1; },
        [](Lapic::State &s) { s.ldr |= 0x100; },
        [](Lapic::State &s) { s.icr_high |= 0x10; },
        [](Lapic::State &s) { s.tpr = 0x100; },
        [](Lapic::State &s) { s.dfr = 0xf0000000; },
        [](Lapic::State &s) { s.svr |= 1u << 12; },
        [](Lapic::State &s) { s.esr |= 1; },
        [](Lapic::State &s) { s.esr_pending |= 1u << 31; },
        [](Lapic::State &s) { s.icr_low |= Lapic::DELIVERY_PENDING; },
        [](Lapic::State &s) { s.lvt[Lapic::LVT_ERROR] |= 0x700; },
        [](Lapic::State &s) { s.lvt[Lapic::LVT_TIMER] |= 3u << Lapic::TIMER_MODE_SHIFT; },
        [](Lapic::State &s) {
            s.svr &= ~Lapic::SVR_ENABLED;
            s.lvt[Lapic::LVT_LINT0] = Lapic::LVT_MASKED;
        },
        [](Lapic::State &s) { s.irr[0] |= 1u << 3; },
        [](Lapic::State &s) { s.isr[0] |= 1; },
        [](Lapic::State &s) { s.tmr[0] |= 1u << 15; },
        [](Lapic::State &s) { s.timer_divide = 0x4; },
        [](Lapic::State &s) { s.timer_count = s.timer_initial + 1; },
        [](Lapic::State &s) { s.tsc_deadline = 5; },
        [](Lapic::State &s) { s.lvt[Lapic::LVT_TIMER] = Lapic::TIMER_TSC_DEADLINE << Lapic::TIMER_MODE_SHIFT; },
        [](Lapic::State &s) { s.wait_for_sipi = 2; },
        [](Lapic::State &s) { s.sipi_pending = 2; },
        [](Lapic::State &s) { s.wait_for_sipi = s.sipi_pending = 1; },
        [](Lapic::State &s) { s.reserved = 1; },
    };
    Lapic target{config(0, true), sinks, sinks};
    make_busy(target);
    const Lapic::State before = target.state();
    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        Lapic::State bad = good;
        mutations[i](bad);
        EXPECT_EQ(target.load(bad), -BATON_EINVAL) << "mutation " << i;
        EXPECT_EQ(target.state(), before) << "mutation " << i;
    }
}

} // namespace
