// SPDX-License-Identifier: MIT
// Unit tests for the 8254 PIT model: what Linux does with it, exact counts, IRQ 0, State.
#include "abi/errno.h"
#include "arch/x86_64/platform/mul_div.hpp"
#include "arch/x86_64/platform/pit.hpp"
#include "platform_test_support.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <vector>

namespace {

// Three TSC ticks per PIT clock keeps the arithmetic exact; REAL_TSC is a typical host rate.
constexpr u64 TSC_HZ = 3 * PIT_HZ;
constexpr u64 TICKS = 3; // TSC ticks per PIT clock
constexpr u64 REAL_TSC = 2'500'000'000;
constexpr u16 CH0 = 0x40;
constexpr u16 CH2 = 0x42;
constexpr u16 CTRL = 0x43;
constexpr u16 PORT_B = 0x61;

using Recorder = IrqRecorder;

void program(Pit &pit, u16 port, u8 control, u16 count, u64 now)
{
    pit.write(CTRL, 1, control, now);
    pit.write(port, 1, count & 0xFF, now);
    pit.write(port, 1, count >> 8, now);
}

u16 read_word(Pit &pit, u16 port, u64 now)
{
    const u32 lo = pit.read(port, 1, now);
    return static_cast<u16>(lo | (pit.read(port, 1, now) << 8));
}

} // namespace

// mul_div.hpp is the PIT's and the RTC's clock arithmetic (the kernel has no __udivti3).
TEST(PlatformPit, MulDivMatches128BitArithmetic)
{
    u64 x = 0x9E3779B97F4A7C15;
    const auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    for (int i = 0; i < 100000; ++i) {
        const u64 a = next() >> (next() % 64);
        const u64 b = next() >> (next() % 64);
        const u64 c = (next() >> (next() % 64)) | 1;
        const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
        const unsigned __int128 floor = product / c;
        const unsigned __int128 ceil = (product + c - 1) / c;
        const u64 max = ~u64{0};
        ASSERT_EQ(mul_div(a, b, c), floor > max ? max : static_cast<u64>(floor)) << a << " " << b << " " << c;
        ASSERT_EQ(mul_div_up(a, b, c), ceil > max ? max : static_cast<u64>(ceil)) << a << " " << b << " " << c;
    }
    EXPECT_EQ(mul_div(5, 7, 0), MUL_DIV_SATURATED);
    EXPECT_EQ(mul_div(~u64{0}, ~u64{0}, ~u64{0}), ~u64{0});
    EXPECT_EQ(mul_div(u64{1} << 63, 4, 3), 0xAAAAAAAAAAAAAAAAu);
    EXPECT_EQ(mul_div_up(u64{1} << 63, 4, 3), 0xAAAAAAAAAAAAAAABu);
    EXPECT_EQ(add_saturated(~u64{0} - 1, 5), ~u64{0});
    static_assert(mul_div(3'000'000'000, PIT_HZ, 3'000'000'000) == PIT_HZ);
}

TEST(PlatformPit, Mode2PeriodicIrqTiming)
{
    Recorder irq;
    Pit pit(TscClock{TSC_HZ}, &irq);
    EXPECT_EQ(pit.next_deadline(), PLATFORM_NO_DEADLINE);
    constexpr u16 LATCH = 4773; // Linux's HZ=250 periodic tick
    const u64 start = 1000;
    program(pit, CH0, 0x34, LATCH, start); // channel 0, LSB/MSB, mode 2, binary
    EXPECT_TRUE(irq.events.empty());
    for (u64 period = 1; period <= 5; ++period) {
        const u64 due = start + period * LATCH * TICKS;
        EXPECT_EQ(pit.next_deadline(), due);
        pit.advance(due - 1);
        EXPECT_EQ(irq.rising, static_cast<int>(period - 1));
        pit.advance(due);
        EXPECT_EQ(irq.rising, static_cast<int>(period));
        EXPECT_FALSE(irq.level); // a pulse: raised then lowered
    }
    // The counter reloads: one clock before the boundary it reads 1 and OUT is low.
    const u64 before = start + u64{6} * LATCH * TICKS - TICKS;
    EXPECT_EQ(pit.counter(0, before), 1);
    EXPECT_FALSE(pit.out(0, before));
    EXPECT_EQ(pit.counter(0, before + TICKS), LATCH);
    EXPECT_TRUE(pit.out(0, before + TICKS));
    for (const auto &event : irq.events)
        EXPECT_EQ(event.first, Pit::IRQ_LINE);
}

TEST(PlatformPit, DeadlineRoundsUpAtRealTscRates)
{
    Recorder irq;
    Pit pit(TscClock{REAL_TSC}, &irq);
    program(pit, CH0, 0x34, 1193, 0);
    const u64 due = pit.next_deadline();
    // The first TSC value at which 1193 PIT clocks have elapsed.
    EXPECT_EQ(TscClock{REAL_TSC}.count_from(due, PIT_HZ), 1193u);
    EXPECT_EQ(TscClock{REAL_TSC}.count_from(due - 1, PIT_HZ), 1192u);
    pit.advance(due - 1);
    EXPECT_EQ(irq.rising, 0);
    pit.advance(due);
    EXPECT_EQ(irq.rising, 1);
}

TEST(PlatformPit, Channel2OneShotPolledThroughPort61)
{
    // arch/x86/kernel/tsc.c pit_calibrate_tsc: gate high, speaker off, mode 0 on channel 2,
    // then poll OUT2 in port 0x61 bit 5.
    Pit pit(TscClock{TSC_HZ}, nullptr);
    u64 now = 500;
    pit.write(PORT_B, 1, (pit.read(PORT_B, 1, now) & ~0x02u) | 0x01u, now);
    constexpr u16 LATCH = 1193182 / 20; // 50 ms
    program(pit, CH2, 0xB0, LATCH, now);
    const u64 loaded = now;
    u64 polls = 0;
    while ((pit.read(PORT_B, 1, now) & 0x20) == 0) {
        now += 997; // an odd step so the edge falls between polls
        ++polls;
        ASSERT_LT(polls, 100000u);
    }
    EXPECT_GE(now - loaded, LATCH * TICKS);
    EXPECT_LT(now - loaded, LATCH * TICKS + 997);
    EXPECT_EQ(pit.read(PORT_B, 1, now) & 0x03u, 0x01u);
    // Channel 2 does not interrupt.
    EXPECT_EQ(pit.next_deadline(), PLATFORM_NO_DEADLINE);
}

TEST(PlatformPit, QuickCalibrationSeesTheMsbCountDown)
{
    // quick_pit_calibrate: mode 0 from 0xffff, then unlatched LSB/MSB reads of channel 2.
    Pit pit(TscClock{TSC_HZ}, nullptr);
    pit.write(PORT_B, 1, 0x01, 0);
    program(pit, CH2, 0xB0, 0xFFFF, 0);
    for (u32 i = 0; i < 200; ++i) {
        const u64 now = u64{i} * 256 * TICKS + 10 * TICKS;
        pit.read(CH2, 1, now);
        EXPECT_EQ(pit.read(CH2, 1, now), 0xFFu - i);
    }
}

TEST(PlatformPit, LatchHoldsTheCountUntilRead)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    program(pit, CH0, 0x34, 1000, 0);
    pit.write(CTRL, 1, 0x00, 100 * TICKS); // latch channel 0
    pit.write(CTRL, 1, 0x00, 200 * TICKS); // ignored: the first latch holds
    EXPECT_EQ(read_word(pit, CH0, 500 * TICKS), 900);
    // After the latch is read, reads follow the counter again.
    EXPECT_EQ(read_word(pit, CH0, 600 * TICKS), 400);
}

TEST(PlatformPit, ReadBackLatchesStatusThenCount)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    pit.write(CTRL, 1, 0x36, 0); // channel 0, LSB/MSB, mode 3
    pit.write(CTRL, 1, 0xE2, 0); // read-back: status only (bit 4 low), channel 0
    // OUT high (mode 3's initial level), NULL COUNT (no count yet), LSB/MSB, mode 3.
    EXPECT_EQ(pit.read(CH0, 1, 0), 0x80u | 0x40u | 0x30u | 0x06u);
    pit.write(CH0, 1, 0x00, 0);
    pit.write(CH0, 1, 0x10, 0); // 4096
    pit.write(CTRL, 1, 0xC2, 10 * TICKS); // count and status of channel 0
    // Status first: OUT high (first half of the square wave), count loaded, LSB/MSB, mode 3.
    EXPECT_EQ(pit.read(CH0, 1, 999 * TICKS), 0x80u | 0x30u | 0x06u);
    EXPECT_EQ(read_word(pit, CH0, 999 * TICKS), 4096 - 20);
    // Channel 2 read-back with the mode-0 OUT low and a half-written count: NULL COUNT.
    pit.write(CTRL, 1, 0xB0, 0);
    pit.write(CH2, 1, 0x34, 0);
    pit.write(CTRL, 1, 0xE8, 0); // status of channel 2
    EXPECT_EQ(pit.read(CH2, 1, 0), 0x40u | 0x30u);
}

TEST(PlatformPit, LowOrHighByteOnlyAccess)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    pit.write(CTRL, 1, 0x14, 0); // channel 0, LSB only, mode 2
    pit.write(CH0, 1, 200, 0);
    EXPECT_EQ(pit.read(CH0, 1, 50 * TICKS), 150u);
    EXPECT_EQ(pit.read(CH0, 1, 60 * TICKS), 140u);
    pit.write(CTRL, 1, 0x24, 0); // MSB only: count 0x0200
    pit.write(CH0, 1, 0x02, 0);
    EXPECT_EQ(pit.read(CH0, 1, 0x100 * TICKS), 0x01u);
    EXPECT_EQ(pit.counter(0, 0x100 * TICKS), 0x100);
}

TEST(PlatformPit, CatchUpAfterALongGapIsOneEdge)
{
    Recorder irq;
    Pit pit(TscClock{TSC_HZ}, &irq);
    constexpr u64 N = 1000;
    program(pit, CH0, 0x34, N, 0);
    // Pause for 10000.5 periods (a live update, a descheduled vCPU).
    const u64 late = 10000 * N * TICKS + N * TICKS / 2;
    pit.advance(late);
    EXPECT_EQ(irq.rising, 1);
    EXPECT_EQ(pit.next_deadline(), 10001 * N * TICKS); // next boundary, phase kept
    pit.advance(late + 1);
    EXPECT_EQ(irq.rising, 1);
    pit.advance(10001 * N * TICKS);
    EXPECT_EQ(irq.rising, 2);
}

TEST(PlatformPit, Mode0RaisesAtTerminalCountAndHolds)
{
    Recorder irq;
    Pit pit(TscClock{TSC_HZ}, &irq);
    program(pit, CH0, 0x30, 100, 0);
    EXPECT_FALSE(pit.out(0, 0));
    EXPECT_EQ(pit.next_deadline(), 100 * TICKS);
    pit.advance(100 * TICKS);
    EXPECT_TRUE(irq.level);
    EXPECT_EQ(irq.rising, 1);
    EXPECT_EQ(pit.next_deadline(), PLATFORM_NO_DEADLINE);
    EXPECT_TRUE(pit.out(0, 100 * TICKS));
    // The counter wraps on through zero; OUT stays high.
    EXPECT_EQ(pit.counter(0, 101 * TICKS), 0xFFFF);
    // A new count lowers OUT and the line and starts again (Linux's pit_shutdown writes 0x30, 0, 0).
    program(pit, CH0, 0x30, 0, 200 * TICKS);
    EXPECT_FALSE(irq.level);
    EXPECT_EQ(pit.next_deadline(), (200 + 65536) * TICKS);
}

TEST(PlatformPit, Mode4OneShotLikeLinuxClockevents)
{
    Recorder irq;
    Pit pit(TscClock{TSC_HZ}, &irq);
    program(pit, CH0, 0x38, 50, 0); // pit_set_oneshot then pit_next_event
    EXPECT_TRUE(pit.out(0, 49 * TICKS));
    EXPECT_FALSE(pit.out(0, 50 * TICKS)); // one low clock at terminal count
    EXPECT_EQ(pit.next_deadline(), 51 * TICKS); // the rising edge after it
    pit.advance(51 * TICKS);
    EXPECT_EQ(irq.rising, 1);
    EXPECT_FALSE(irq.level);
    EXPECT_EQ(pit.next_deadline(), PLATFORM_NO_DEADLINE);
    // Writing a new count re-arms it.
    pit.write(CH0, 1, 10, 100 * TICKS);
    pit.write(CH0, 1, 0, 100 * TICKS);
    EXPECT_EQ(pit.next_deadline(), 111 * TICKS);
}

TEST(PlatformPit, Mode3SquareWaveEvenAndOdd)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    pit.write(PORT_B, 1, 0x01, 0);
    program(pit, CH2, 0xB6, 8, 0); // even: high 4 clocks, low 4, counting down by two
    const u16 even[] = {8, 6, 4, 2, 8, 6, 4, 2, 8};
    const bool even_out[] = {true, true, true, true, false, false, false, false, true};
    for (u64 d = 0; d < 9; ++d) {
        EXPECT_EQ(pit.counter(2, d * TICKS), even[d]) << d;
        EXPECT_EQ(pit.out(2, d * TICKS), even_out[d]) << d;
    }
    program(pit, CH2, 0xB6, 5, 0); // odd: high 3 clocks, low 2
    const u16 odd[] = {5, 4, 2, 5, 2, 5};
    const bool odd_out[] = {true, true, true, false, false, true};
    for (u64 d = 0; d < 6; ++d) {
        EXPECT_EQ(pit.counter(2, d * TICKS), odd[d]) << d;
        EXPECT_EQ(pit.out(2, d * TICKS), odd_out[d]) << d;
    }
}

TEST(PlatformPit, GateLowPausesMode0AndStopsMode2)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    pit.write(PORT_B, 1, 0x01, 0);
    program(pit, CH2, 0xB0, 100, 0);
    pit.write(PORT_B, 1, 0x00, 30 * TICKS);
    EXPECT_EQ(pit.counter(2, 500 * TICKS), 70);
    pit.write(PORT_B, 1, 0x01, 1000 * TICKS);
    EXPECT_EQ(pit.counter(2, 1010 * TICKS), 60);
    EXPECT_FALSE(pit.out(2, 1069 * TICKS));
    EXPECT_TRUE(pit.out(2, 1070 * TICKS));
    // Mode 2: gate low holds OUT high; the rising edge reloads the count.
    program(pit, CH2, 0xB4, 10, 2000 * TICKS);
    pit.write(PORT_B, 1, 0x00, 2009 * TICKS);
    EXPECT_TRUE(pit.out(2, 2009 * TICKS));
    pit.write(PORT_B, 1, 0x01, 3000 * TICKS);
    EXPECT_EQ(pit.counter(2, 3000 * TICKS), 10);
    EXPECT_FALSE(pit.out(2, 3009 * TICKS));
}

TEST(PlatformPit, Mode1WaitsForAGateTrigger)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    program(pit, CH2, 0xB2, 40, 0); // gate low: armed, not triggered
    EXPECT_TRUE(pit.out(2, 100 * TICKS));
    pit.write(PORT_B, 1, 0x01, 100 * TICKS); // rising gate: trigger
    EXPECT_FALSE(pit.out(2, 101 * TICKS));
    EXPECT_EQ(pit.counter(2, 110 * TICKS), 30);
    EXPECT_TRUE(pit.out(2, 140 * TICKS));
    // Retrigger: a falling then rising gate restarts the one-shot.
    pit.write(PORT_B, 1, 0x00, 200 * TICKS);
    pit.write(PORT_B, 1, 0x01, 210 * TICKS);
    EXPECT_FALSE(pit.out(2, 249 * TICKS));
    EXPECT_TRUE(pit.out(2, 250 * TICKS));
}

TEST(PlatformPit, BcdCounting)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    program(pit, CH0, 0x31, 0x1234, 0); // mode 0, BCD 1234
    EXPECT_EQ(read_word(pit, CH0, 34 * TICKS), 0x1200);
    EXPECT_EQ(read_word(pit, CH0, 1235 * TICKS), 0x9999); // wraps through zero to 9999
    program(pit, CH0, 0x31, 0, 0); // 0 is 10000 in BCD
    EXPECT_EQ(pit.next_deadline(), 10000 * TICKS);
}

TEST(PlatformPit, Port61RefreshTogglesWithTime)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    const u32 a = pit.read(PORT_B, 1, 0) & 0x10;
    const u32 b = pit.read(PORT_B, 1, 18 * TICKS) & 0x10;
    const u32 c = pit.read(PORT_B, 1, 36 * TICKS) & 0x10;
    EXPECT_NE(a, b);
    EXPECT_EQ(a, c);
    pit.write(PORT_B, 1, 0xFF, 0);
    EXPECT_EQ(pit.read(PORT_B, 1, 0) & 0xCFu, 0x0Fu); // writable bits, no NMI sources
}

TEST(PlatformPit, PortsAndWideAccesses)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    EXPECT_TRUE(pit.handles(0x40));
    EXPECT_TRUE(pit.handles(0x43));
    EXPECT_TRUE(pit.handles(0x61));
    EXPECT_FALSE(pit.handles(0x44));
    EXPECT_FALSE(pit.handles(0x60));
    EXPECT_EQ(pit.read(CTRL, 1, 0), 0xFFu);
    pit.write(CTRL, 1, 0x14, 0); // channel 0 LSB only
    pit.write(CTRL, 1, 0x54, 0); // channel 1 LSB only
    pit.write(CH0, 2, 0x2010, 0); // 0x10 to channel 0, 0x20 to channel 1
    EXPECT_EQ(pit.read(CH0, 2, 0), 0x2010u);
    EXPECT_EQ(pit.read(CTRL, 2, 0), 0xFFFFu); // 0x44 is open bus
    EXPECT_EQ(pit.read(CH0, 3, 0), 0xFFFFFFFFu);
}

TEST(PlatformPit, ResetIsTheBiosState)
{
    Recorder irq;
    Pit pit(TscClock{TSC_HZ}, &irq);
    pit.reset(0);
    EXPECT_EQ(pit.next_deadline(), 65536 * TICKS);
    pit.advance(65536 * TICKS);
    EXPECT_EQ(irq.rising, 1);
    EXPECT_EQ(pit.next_deadline(), u64{2} * 65536 * TICKS);
    EXPECT_EQ(pit.read(PORT_B, 1, 0) & 0x01u, 0u);
}

TEST(PlatformPit, StateRoundTripGivesIdenticalBehaviour)
{
    Recorder irq_a;
    Recorder irq_b;
    Pit a(TscClock{REAL_TSC}, &irq_a);
    program(a, CH0, 0x34, 11932, 12345);
    a.write(PORT_B, 1, 0x01, 20000);
    program(a, CH2, 0xB0, 0x8000, 20000);
    a.write(CTRL, 1, 0xC8, 30000); // latch count and status of channel 2
    a.read(CH2, 1, 30000); // status read; the count stays latched
    a.write(CH0, 1, 0x55, 40000); // half a word written (mode 2 keeps counting)
    a.advance(a.next_deadline());
    Pit b(TscClock{REAL_TSC}, &irq_b);
    ASSERT_EQ(b.load(a.state()), 0);
    EXPECT_EQ(std::memcmp(&a.state(), &b.state(), sizeof(Pit::State)), 0);
    for (u64 now = 50'000'000; now < 200'000'000; now += 7'777'777) {
        a.advance(now);
        b.advance(now);
        EXPECT_EQ(a.next_deadline(), b.next_deadline());
        EXPECT_EQ(a.read(PORT_B, 1, now), b.read(PORT_B, 1, now));
        EXPECT_EQ(a.read(CH2, 1, now), b.read(CH2, 1, now));
        EXPECT_EQ(a.read(CH0, 1, now), b.read(CH0, 1, now));
    }
    EXPECT_EQ(irq_a.rising - 1, irq_b.rising);
    EXPECT_GT(irq_b.rising, 5);
}

TEST(PlatformPit, HostileStateIsRefused)
{
    Pit pit(TscClock{TSC_HZ}, nullptr);
    program(pit, CH0, 0x34, 100, 0);
    const Pit::State good = pit.state();
    const auto refused = [&](auto mutate) {
        Pit::State bad = good;
        mutate(bad);
        EXPECT_EQ(pit.load(bad), -BATON_EINVAL);
        EXPECT_EQ(std::memcmp(&pit.state(), &good, sizeof good), 0);
    };
    refused([](Pit::State &s) { s.channel[0].mode = 6; });
    refused([](Pit::State &s) { s.channel[1].access = 0; });
    refused([](Pit::State &s) { s.channel[2].access = 4; });
    refused([](Pit::State &s) { s.channel[0].latch_bytes = 3; });
    refused([](Pit::State &s) {
        s.channel[1].access = Pit::ACCESS_LSB;
        s.channel[1].latch_bytes = 2;
    });
    refused([](Pit::State &s) { s.channel[0].bcd = 2; });
    refused([](Pit::State &s) { s.channel[2].counting = 1; }); // counting without a count
    refused([](Pit::State &s) { s.channel[2].irq_at = 5; }); // only channel 0 interrupts
    refused([](Pit::State &s) { s.port_b = 0x10; });
    refused([](Pit::State &s) { s.irq_level = 2; });
    EXPECT_EQ(pit.load(good), 0);
}
