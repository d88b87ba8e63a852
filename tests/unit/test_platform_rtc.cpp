// SPDX-License-Identifier: MIT
// Unit tests for the CMOS RTC model: dates, BCD/binary, UIP timing, setting the time, flags, State.
#include "abi/errno.h"
#include "arch/x86_64/platform/rtc.hpp"
#include "platform_test_support.hpp"
#include <cstring>
#include <gtest/gtest.h>

namespace {

// 1000 TSC ticks per 32.768 kHz divider tick keeps the arithmetic exact.
constexpr u64 TICK = 1000;
constexpr u64 SECOND = 32768 * TICK;
constexpr u64 TSC_HZ = SECOND;
constexpr u64 T = 1796391956; // 2026-12-04 13:45:56 UTC, a Friday

using Recorder = IrqRecorder;

u8 cmos(Rtc &rtc, u8 index, u64 now)
{
    rtc.write(0x70, 1, index, now);
    return static_cast<u8>(rtc.read(0x71, 1, now));
}

void cmos_write(Rtc &rtc, u8 index, u8 value, u64 now)
{
    rtc.write(0x70, 1, index, now);
    rtc.write(0x71, 1, value, now);
}

} // namespace

TEST(PlatformRtc, DateConversionKnownValues)
{
    const RtcDateTime epoch = rtc_from_unix(0);
    EXPECT_EQ(epoch.year, 1970u);
    EXPECT_EQ(epoch.month, 1);
    EXPECT_EQ(epoch.day, 1);
    EXPECT_EQ(epoch.weekday, 5); // Thursday
    const RtcDateTime leap = rtc_from_unix(951782400);
    EXPECT_EQ(leap.year, 2000u);
    EXPECT_EQ(leap.month, 2);
    EXPECT_EQ(leap.day, 29);
    EXPECT_EQ(leap.weekday, 3);
    const RtcDateTime t = rtc_from_unix(T);
    EXPECT_EQ(t.year, 2026u);
    EXPECT_EQ(t.month, 12);
    EXPECT_EQ(t.day, 4);
    EXPECT_EQ(t.hour, 13);
    EXPECT_EQ(t.minute, 45);
    EXPECT_EQ(t.second, 56);
    EXPECT_EQ(t.weekday, 6);
    const RtcDateTime last = rtc_from_unix(~u64{0}); // clamped to the last BCD year
    EXPECT_EQ(last.year, 9999u);
    EXPECT_EQ(last.second, 59);
    u64 seconds = 0;
    EXPECT_EQ(rtc_to_unix(RtcDateTime{2099, 12, 31, 23, 59, 59, 0}, &seconds), 0);
    EXPECT_EQ(seconds, 4102444799u);
    EXPECT_EQ(rtc_to_unix(RtcDateTime{2023, 2, 29, 0, 0, 0, 0}, &seconds), -BATON_EINVAL);
    EXPECT_EQ(rtc_to_unix(RtcDateTime{2024, 13, 1, 0, 0, 0, 0}, &seconds), -BATON_EINVAL);
    EXPECT_EQ(rtc_to_unix(RtcDateTime{1969, 12, 31, 0, 0, 0, 0}, &seconds), -BATON_EINVAL);
    EXPECT_EQ(rtc_to_unix(RtcDateTime{2024, 1, 1, 24, 0, 0, 0}, &seconds), -BATON_EINVAL);
}

TEST(PlatformRtc, DateConversionRoundTripsDayByDay)
{
    u32 previous_day = 0;
    u32 previous_weekday = 4;
    for (u64 day = 0; day < 60000; ++day) { // 1970 .. 2134
        const u64 seconds = day * 86400 + (day * 7919) % 86400;
        const RtcDateTime date = rtc_from_unix(seconds);
        u64 back = 0;
        ASSERT_EQ(rtc_to_unix(date, &back), 0) << seconds;
        ASSERT_EQ(back, seconds);
        ASSERT_TRUE(date.day == previous_day + 1 || date.day == 1) << seconds;
        ASSERT_EQ(date.weekday, previous_weekday % 7 + 1);
        previous_day = date.day;
        previous_weekday = date.weekday;
    }
}

TEST(PlatformRtc, ReadsAKnownTimeInBcd)
{
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    rtc.set_time(T, 0);
    const u64 now = SECOND / 2;
    EXPECT_EQ(cmos(rtc, 0x00, now), 0x56);
    EXPECT_EQ(cmos(rtc, 0x02, now), 0x45);
    EXPECT_EQ(cmos(rtc, 0x04, now), 0x13);
    EXPECT_EQ(cmos(rtc, 0x06, now), 0x06);
    EXPECT_EQ(cmos(rtc, 0x07, now), 0x04);
    EXPECT_EQ(cmos(rtc, 0x08, now), 0x12);
    EXPECT_EQ(cmos(rtc, 0x09, now), 0x26);
    EXPECT_EQ(cmos(rtc, 0x32, now), 0x20);
    EXPECT_EQ(cmos(rtc, 0x0A, now), 0x26);
    EXPECT_EQ(cmos(rtc, 0x0B, now), 0x02);
    EXPECT_EQ(cmos(rtc, 0x0D, now), 0x80);
    // Time moves with the TSC: four seconds later it is 13:46:00.
    EXPECT_EQ(cmos(rtc, 0x00, 4 * SECOND), 0x00);
    EXPECT_EQ(cmos(rtc, 0x02, 4 * SECOND), 0x46);
    EXPECT_EQ(rtc.time(4 * SECOND), T + 4);
}

TEST(PlatformRtc, ReadsBinaryAnd12HourFormats)
{
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    rtc.set_time(T, 0);
    cmos_write(rtc, 0x0B, 0x04, 0); // binary, 12-hour
    EXPECT_EQ(cmos(rtc, 0x00, 0), 56);
    EXPECT_EQ(cmos(rtc, 0x04, 0), 0x80 | 1); // 1 PM
    EXPECT_EQ(cmos(rtc, 0x09, 0), 26);
    EXPECT_EQ(cmos(rtc, 0x32, 0), 20);
    cmos_write(rtc, 0x0B, 0x00, 0); // BCD, 12-hour
    rtc.set_time(T - u64{13} * 3600 - u64{45} * 60 - 56, 0); // midnight
    EXPECT_EQ(cmos(rtc, 0x04, 0), 0x12); // 12 AM
    rtc.set_time(T - u64{1} * 3600 - u64{45} * 60 - 56, 0); // noon
    EXPECT_EQ(cmos(rtc, 0x04, 0), 0x92); // 12 PM
}

TEST(PlatformRtc, UpdateInProgressBeforeEachSecond)
{
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    rtc.set_time(T, 0);
    EXPECT_EQ(cmos(rtc, 0x0A, SECOND - 9 * TICK) & 0x80, 0);
    EXPECT_EQ(cmos(rtc, 0x0A, SECOND - 8 * TICK) & 0x80, 0x80); // 244 us before the boundary
    EXPECT_EQ(cmos(rtc, 0x0A, SECOND - 1) & 0x80, 0x80);
    EXPECT_EQ(cmos(rtc, 0x0A, SECOND) & 0x80, 0);
    EXPECT_EQ(cmos(rtc, 0x00, SECOND - 1), 0x56);
    EXPECT_EQ(cmos(rtc, 0x00, SECOND), 0x57);
    // A reader waiting for the UIP edge (hwclock, older kernels) sees it rise and fall.
    u64 now = SECOND + 3 * TICK;
    int polls = 0;
    while ((cmos(rtc, 0x0A, now) & 0x80) == 0 && polls < 1000000) {
        now += 5 * TICK; // finer than the 8-tick UIP window
        ++polls;
    }
    EXPECT_GE(now, 2 * SECOND - 8 * TICK);
    while ((cmos(rtc, 0x0A, now) & 0x80) != 0 && polls < 1000000) {
        now += 37;
        ++polls;
    }
    EXPECT_LT(polls, 1000000);
    EXPECT_EQ(cmos(rtc, 0x00, now), 0x58);
}

TEST(PlatformRtc, LinuxSetTimeSequence)
{
    // drivers/rtc/rtc-mc146818-lib.c mc146818_set_time, without a century register.
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    rtc.set_time(T, 0);
    const u64 now = 10 * SECOND + SECOND / 3;
    const u8 control = cmos(rtc, 0x0B, now);
    cmos_write(rtc, 0x0B, control | 0x80, now);
    const u8 freq = cmos(rtc, 0x0A, now);
    cmos_write(rtc, 0x0A, freq | 0x70, now); // divider reset
    EXPECT_EQ(cmos(rtc, 0x0A, now) & 0x80, 0);
    cmos_write(rtc, 0x09, 0x27, now); // 2027-03-01 00:00:00
    cmos_write(rtc, 0x08, 0x03, now);
    cmos_write(rtc, 0x07, 0x01, now);
    cmos_write(rtc, 0x04, 0x00, now);
    cmos_write(rtc, 0x02, 0x00, now);
    cmos_write(rtc, 0x00, 0x00, now);
    // While SET is on the registers hold what was written; the clock does not move them.
    EXPECT_EQ(cmos(rtc, 0x09, now + 5 * SECOND), 0x27);
    cmos_write(rtc, 0x0B, control, now + 5 * SECOND);
    cmos_write(rtc, 0x0A, freq, now + 5 * SECOND);
    const u64 restart = now + 5 * SECOND;
    EXPECT_EQ(rtc.time(restart), 1803859200u);
    EXPECT_EQ(cmos(rtc, 0x07, restart), 0x01);
    EXPECT_EQ(cmos(rtc, 0x08, restart), 0x03);
    // The first update comes half a second after the divider restarts.
    EXPECT_EQ(rtc.time(restart + SECOND / 2 - 1), 1803859200u);
    EXPECT_EQ(rtc.time(restart + SECOND / 2), 1803859201u);
}

TEST(PlatformRtc, WritingATimeRegisterWithoutSetShiftsTheClock)
{
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    rtc.set_time(T, 0);
    const u64 now = 10 * SECOND + SECOND / 4; // 13:46:06 and a quarter
    cmos_write(rtc, 0x00, 0x10, now);
    EXPECT_EQ(rtc.time(now), T + 14);
    EXPECT_EQ(rtc.time(11 * SECOND - 1), T + 14); // the divider phase is kept
    EXPECT_EQ(rtc.time(11 * SECOND), T + 15);
    cmos_write(rtc, 0x00, 0x7A, now); // not a BCD second: ignored
    EXPECT_EQ(rtc.time(now), T + 14);
    cmos_write(rtc, 0x06, 0x01, now); // the weekday follows the date
    EXPECT_EQ(cmos(rtc, 0x06, now), 0x06);
}

TEST(PlatformRtc, RegisterCFlagsAndClearOnRead)
{
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    rtc.set_time(T, 0);
    EXPECT_EQ(cmos(rtc, 0x0C, 0), 0);
    EXPECT_EQ(cmos(rtc, 0x0C, SECOND / 2), 0x40); // periodic (1024 Hz), no update yet
    EXPECT_EQ(cmos(rtc, 0x0C, SECOND + SECOND / 2), 0x50); // and an update ended
    EXPECT_EQ(cmos(rtc, 0x0C, SECOND + SECOND / 2), 0); // reading C cleared it
    EXPECT_EQ(cmos(rtc, 0x0C, 2 * SECOND), 0x50);
    cmos_write(rtc, 0x0A, 0x20, 2 * SECOND); // no periodic rate
    EXPECT_EQ(cmos(rtc, 0x0C, 3 * SECOND), 0x10);
    // No update ends while SET holds the registers.
    cmos_write(rtc, 0x0B, 0x82, 3 * SECOND);
    EXPECT_EQ(cmos(rtc, 0x0C, 5 * SECOND), 0);
    EXPECT_EQ(cmos(rtc, 0x0D, 5 * SECOND), 0x80);
}

TEST(PlatformRtc, UpdateInterruptHoldsUntilCIsRead)
{
    Recorder irq;
    Rtc rtc(TscClock{TSC_HZ}, &irq);
    rtc.set_time(T, 0);
    EXPECT_EQ(rtc.next_deadline(), PLATFORM_NO_DEADLINE);
    // A flag set while its interrupt was off interrupts as soon as it is enabled; Linux
    // reads C first.
    EXPECT_EQ(cmos(rtc, 0x0C, 2 * SECOND), 0x50);
    cmos_write(rtc, 0x0B, 0x12, 2 * SECOND); // UIE
    EXPECT_EQ(rtc.next_deadline(), 3 * SECOND);
    rtc.advance(3 * SECOND - 1);
    EXPECT_EQ(irq.rising, 0);
    rtc.advance(3 * SECOND);
    EXPECT_EQ(irq.rising, 1);
    EXPECT_TRUE(irq.level);
    EXPECT_EQ(irq.line, 8u);
    EXPECT_EQ(rtc.next_deadline(), PLATFORM_NO_DEADLINE); // the line is already high
    // A long pause: one interrupt, not one per second.
    rtc.advance(100 * SECOND);
    EXPECT_EQ(irq.rising, 1);
    EXPECT_EQ(cmos(rtc, 0x0C, 100 * SECOND + SECOND / 2), 0xD0); // IRQF, PF, UF
    EXPECT_FALSE(irq.level);
    EXPECT_EQ(rtc.next_deadline(), 101 * SECOND);
    // Clearing the enable lowers IRQF with it.
    rtc.advance(101 * SECOND);
    EXPECT_TRUE(irq.level);
    cmos_write(rtc, 0x0B, 0x02, 101 * SECOND);
    EXPECT_FALSE(irq.level);
    EXPECT_EQ(cmos(rtc, 0x0C, 101 * SECOND), 0x50);
}

TEST(PlatformRtc, PeriodicInterruptRate)
{
    Recorder irq;
    Rtc rtc(TscClock{TSC_HZ}, &irq, 40);
    rtc.set_time(T, 0);
    cmos_write(rtc, 0x0A, 0x2F, 0); // 2 Hz
    cmos_write(rtc, 0x0B, 0x42, 0); // PIE
    for (u64 i = 1; i <= 4; ++i) {
        EXPECT_EQ(rtc.next_deadline(), i * SECOND / 2);
        rtc.advance(i * SECOND / 2);
        EXPECT_EQ(static_cast<u64>(irq.rising), i);
        EXPECT_EQ(cmos(rtc, 0x0C, i * SECOND / 2) & 0xC0, 0xC0);
    }
    EXPECT_EQ(irq.line, 40u);
    cmos_write(rtc, 0x0A, 0x23, 2 * SECOND); // 8192 Hz: every four divider ticks
    EXPECT_EQ(rtc.next_deadline(), 2 * SECOND + 4 * TICK);
    cmos_write(rtc, 0x0A, 0x21, 2 * SECOND); // rate 1 is 256 Hz
    EXPECT_EQ(rtc.next_deadline(), 2 * SECOND + 128 * TICK);
}

TEST(PlatformRtc, AlarmInterrupt)
{
    Recorder irq;
    Rtc rtc(TscClock{TSC_HZ}, &irq);
    rtc.set_time(T, 0);
    cmos_write(rtc, 0x01, 0x00, 0); // hh:46:00 every hour
    cmos_write(rtc, 0x03, 0x46, 0);
    cmos_write(rtc, 0x05, 0xFF, 0);
    cmos_write(rtc, 0x0B, 0x22, 0); // AIE
    EXPECT_EQ(rtc.next_deadline(), 4 * SECOND);
    rtc.advance(4 * SECOND);
    EXPECT_EQ(irq.rising, 1);
    EXPECT_EQ(cmos(rtc, 0x0C, 4 * SECOND), 0xB0 | 0x40); // IRQF, AF, UF, PF
    EXPECT_EQ(rtc.next_deadline(), (4 + 3600) * SECOND);
    // A fixed hour in 12-hour BCD: 2 PM is 0x82.
    cmos_write(rtc, 0x0B, 0x20, 4 * SECOND);
    cmos_write(rtc, 0x05, 0x82, 4 * SECOND);
    cmos_write(rtc, 0x03, 0x00, 4 * SECOND);
    EXPECT_EQ(rtc.next_deadline(), (4 + 14 * 60) * SECOND); // 14:00:00
    // Every second when all three are "don't care"; never for an impossible minute.
    cmos_write(rtc, 0x01, 0xC0, 4 * SECOND);
    cmos_write(rtc, 0x03, 0xC0, 4 * SECOND);
    cmos_write(rtc, 0x05, 0xC0, 4 * SECOND);
    EXPECT_EQ(rtc.next_deadline(), 5 * SECOND);
    cmos_write(rtc, 0x03, 0x61, 4 * SECOND);
    EXPECT_EQ(rtc.next_deadline(), PLATFORM_NO_DEADLINE);
    // Polled: the flag is set for a match that passed while nobody looked.
    cmos_write(rtc, 0x03, 0x47, 4 * SECOND);
    cmos_write(rtc, 0x0B, 0x02, 4 * SECOND);
    EXPECT_EQ(cmos(rtc, 0x0C, 4 * SECOND) & 0x20, 0);
    EXPECT_EQ(cmos(rtc, 0x0C, 200 * SECOND) & 0x20, 0x20);
}

TEST(PlatformRtc, IndexNmiAndRam)
{
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    EXPECT_TRUE(rtc.handles(0x70));
    EXPECT_TRUE(rtc.handles(0x71));
    EXPECT_FALSE(rtc.handles(0x72));
    EXPECT_EQ(rtc.set_ram(0x10, 0x44), 0);
    EXPECT_EQ(rtc.set_ram(0x0B, 0), -BATON_EINVAL);
    EXPECT_EQ(rtc.set_ram(0x32, 0), -BATON_EINVAL);
    EXPECT_EQ(rtc.set_ram(0x80, 0), -BATON_EINVAL);
    rtc.write(0x70, 1, 0x90, 0); // NMI off, index 0x10
    EXPECT_TRUE(rtc.nmi_disabled());
    EXPECT_EQ(rtc.read(0x71, 1, 0), 0x44u);
    EXPECT_EQ(rtc.read(0x70, 1, 0), 0xFFu);
    rtc.write(0x70, 1, 0x7F, 0);
    EXPECT_FALSE(rtc.nmi_disabled());
    rtc.write(0x71, 1, 0xA5, 0);
    EXPECT_EQ(rtc.read(0x71, 1, 0), 0xA5u);
    rtc.write(0x70, 2, 0x6610, 0); // index 0x10, then data 0x66
    EXPECT_EQ(cmos(rtc, 0x10, 0), 0x66);
    cmos_write(rtc, 0x0D, 0x00, 0);
    EXPECT_EQ(cmos(rtc, 0x0D, 0), 0x80); // read-only
}

TEST(PlatformRtc, StateRoundTripGivesIdenticalBehaviour)
{
    Recorder irq_a;
    Recorder irq_b;
    Rtc a(TscClock{TSC_HZ}, &irq_a);
    a.set_time(T, 12345);
    cmos_write(a, 0x0A, 0x2E, 5 * SECOND); // 4 Hz
    cmos_write(a, 0x01, 0xC0, 5 * SECOND);
    cmos_write(a, 0x03, 0x50, 5 * SECOND);
    cmos_write(a, 0x05, 0xC0, 5 * SECOND);
    cmos_write(a, 0x0B, 0x36, 5 * SECOND); // AIE, UIE, binary, 24 h: stale UF interrupts at once
    EXPECT_TRUE(irq_a.level);
    EXPECT_EQ(cmos(a, 0x0C, 5 * SECOND), 0xD0);
    cmos_write(a, 0x00, 30, 6 * SECOND + 777); // a second ended since: UF interrupts
    EXPECT_EQ(cmos(a, 0x0C, 6 * SECOND + 777), 0xD0);
    ASSERT_NE(a.next_deadline(), PLATFORM_NO_DEADLINE);
    a.advance(a.next_deadline());
    EXPECT_TRUE(irq_a.level);
    a.write(0x70, 1, 0x0C, 7 * SECOND);
    Rtc b(TscClock{TSC_HZ}, &irq_b);
    ASSERT_EQ(b.load(a.state()), 0);
    EXPECT_EQ(std::memcmp(&a.state(), &b.state(), sizeof(Rtc::State)), 0);
    Rtc *rtcs[] = {&a, &b};
    for (u64 now = 7 * SECOND; now < 400 * SECOND; now += SECOND / 3 + 12345) {
        u8 seen[2][6] = {};
        u64 deadlines[2] = {};
        for (int i = 0; i < 2; ++i) {
            Rtc &rtc = *rtcs[i];
            rtc.advance(now);
            deadlines[i] = rtc.next_deadline();
            seen[i][0] = static_cast<u8>(rtc.read(0x71, 1, now)); // register C
            for (u8 r = 0; r < 5; ++r)
                seen[i][r + 1] = cmos(rtc, static_cast<u8>(r * 2), now);
            rtc.write(0x70, 1, 0x0C, now);
        }
        ASSERT_EQ(std::memcmp(seen[0], seen[1], sizeof seen[0]), 0) << now;
        ASSERT_EQ(deadlines[0], deadlines[1]);
    }
    EXPECT_EQ(irq_a.rising - 3, irq_b.rising);
    EXPECT_GT(irq_b.rising, 300);
}

TEST(PlatformRtc, HostileStateIsRefused)
{
    Rtc rtc(TscClock{TSC_HZ}, nullptr);
    rtc.set_time(T, 0);
    const Rtc::State good = rtc.state();
    const auto refused = [&](auto mutate) {
        Rtc::State bad = good;
        mutate(bad);
        EXPECT_EQ(rtc.load(bad), -BATON_EINVAL);
        EXPECT_EQ(std::memcmp(&rtc.state(), &good, sizeof good), 0);
    };
    refused([](Rtc::State &s) { s.epoch_phase = 32768; });
    refused([](Rtc::State &s) {
        s.epoch_phase = 100;
        s.flags_pos = 99;
    });
    refused([](Rtc::State &s) { s.index = 128; });
    refused([](Rtc::State &s) { s.nmi_disabled = 2; });
    refused([](Rtc::State &s) { s.irq_level = 1; }); // no IRQF behind it
    refused([](Rtc::State &s) { s.ram[0x0A] |= 0x80; });
    refused([](Rtc::State &s) { s.ram[0x0C] = 0x01; });
    refused([](Rtc::State &s) { s.ram[0x0C] = 0x80; }); // IRQF without an enabled flag
    refused([](Rtc::State &s) { s.ram[0x0D] = 0x80; });
    refused([](Rtc::State &s) { s.ram[0x0B] = 0x90; }); // SET with UIE
    EXPECT_EQ(rtc.load(good), 0);
}
