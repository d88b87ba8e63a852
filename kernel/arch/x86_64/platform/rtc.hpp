// SPDX-License-Identifier: MIT
// The PC's CMOS real-time clock (MC146818 compatible) and its 128 bytes of CMOS RAM.
#pragma once
#include "arch/x86_64/platform/device_model.hpp"

// The clock is not ticked. Its 32.768 kHz divider has a position derived from guest TSC
// time, the time registers are computed from it when read, and the register C flags are
// worked out for the time that passed when they are looked at (a read of C, advance()).
// A guest write of the time (SET in register B, or any write of a time register) moves
// the base; the TSC keeps counting.
//
// The update-in-progress bit of register A is set for the 244 us (8 divider ticks)
// before each second boundary, so Linux's wait for UIP to drop ends; the update-ended
// flag is set at the boundary itself. The day of the week is derived from the date
// (writes to it are ignored). Register D always reports valid RAM and time.

// Civil dates in the proleptic Gregorian calendar, time of day in UTC (the RTC keeps
// whatever zone it is given; there are no zone rules here).
struct RtcDateTime {
    u32 year; // e.g. 2026
    u8 month; // 1..12
    u8 day; // 1..31
    u8 hour; // 0..23
    u8 minute; // 0..59
    u8 second; // 0..59
    u8 weekday; // 1..7, Sunday = 1 (the RTC's convention)
};

RtcDateTime rtc_from_unix(u64 seconds);
// -BATON_EINVAL for a field out of range or a date before 1970; `*seconds` set on success.
[[nodiscard]] int rtc_to_unix(const RtcDateTime &date, u64 *seconds);

class Rtc final {
public:
    static constexpr u16 PORT_INDEX = 0x70; // bit 7 disables NMI
    static constexpr u16 PORT_DATA = 0x71;
    static constexpr u32 DEFAULT_IRQ = 8;
    static constexpr u32 RAM_SIZE = 128;
    static constexpr u32 DIVIDER_HZ = 32768;

    // Registers and bits the platform or the tests refer to.
    static constexpr u8 REG_A = 0x0A;
    static constexpr u8 REG_B = 0x0B;
    static constexpr u8 REG_C = 0x0C;
    static constexpr u8 REG_D = 0x0D;
    static constexpr u8 FIRST_FREE_RAM = 0x0E; // general-purpose bytes from here (but 0x32)
    static constexpr u8 REG_CENTURY = 0x32;
    static constexpr u8 A_UIP = 1u << 7;
    static constexpr u8 A_DEFAULT = 0x26; // 32.768 kHz divider running, 1024 Hz periodic rate
    static constexpr u8 B_SET = 1u << 7;
    static constexpr u8 B_PIE = 1u << 6;
    static constexpr u8 B_AIE = 1u << 5;
    static constexpr u8 B_UIE = 1u << 4;
    static constexpr u8 B_BINARY = 1u << 2; // DM: binary, else BCD
    static constexpr u8 B_24H = 1u << 1;
    static constexpr u8 B_DEFAULT = B_24H;
    static constexpr u8 C_IRQF = 1u << 7;
    static constexpr u8 C_PF = 1u << 6;
    static constexpr u8 C_AF = 1u << 5;
    static constexpr u8 C_UF = 1u << 4;
    static constexpr u8 D_VRT = 1u << 7;

    struct State {
        u64 seconds; // Unix time at divider position 0 (the start of the second at epoch_tsc)
        u64 epoch_tsc; // guest TSC at which the divider stood at epoch_phase (or stopped there)
        u64 flags_pos; // divider position up to which register C's flags are worked out
        u32 epoch_phase; // divider position at epoch_tsc, < DIVIDER_HZ
        u8 ram[RAM_SIZE]; // registers A-C and the RAM; time registers hold values only while SET
        u8 index; // selected register
        u8 nmi_disabled; // bit 7 of the last index write
        u8 irq_level; // level last driven (follows C_IRQF)
        u8 pad[1];
    };

    // The clock starts at Unix time 0 and BCD/24 h until set_time(); `irq` may be null.
    Rtc(TscClock clock, IrqSink *irq, u32 irq_line = DEFAULT_IRQ);
    Rtc(const Rtc &) = delete;
    Rtc &operator=(const Rtc &) = delete;

    // Sets the wall clock: Unix time `seconds` begins at guest TSC `now`.
    void set_time(u64 seconds, u64 now);
    // The Unix time the clock shows at `now`.
    u64 time(u64 now) const;
    // Fills a general-purpose CMOS byte (equipment, memory sizes) before the guest runs;
    // -BATON_EINVAL for the clock's own registers or an index out of range.
    [[nodiscard]] int set_ram(u8 index, u8 value);
    bool nmi_disabled() const { return state_.nmi_disabled != 0; }

    bool handles(u16 port) const;
    u32 read(u16 port, u8 size, u64 now);
    void write(u16 port, u8 size, u32 value, u64 now);

    // When the next enabled interrupt source fires (none while IRQF is still set: the
    // line is already high until the guest reads register C).
    u64 next_deadline() const;
    void advance(u64 now);

    const State &state() const { return state_; }
    // Takes a saved State; -BATON_EINVAL leaves the model unchanged when a field is out of
    // range or contradicts another. Drives nothing.
    [[nodiscard]] int load(const State &state);

private:
    u8 read_register(u8 index, u64 now);
    void write_register(u8 index, u8 value, u64 now);
    bool running() const;
    u64 position(u64 now) const;
    u64 tsc_at(u64 position) const;
    void rebase(u64 now);
    void evaluate(u64 now);
    void update_irq();
    u8 time_field(u8 index, const RtcDateTime &date) const;
    void snapshot(u64 now);
    void commit(u64 now);
    u64 next_alarm(u64 from) const;
    u8 encode(u32 value) const;
    u32 decode(u8 value) const;

    TscClock clock_;
    IrqSink *irq_;
    u32 irq_line_;
    State state_{};
};
