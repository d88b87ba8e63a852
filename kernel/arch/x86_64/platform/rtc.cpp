// SPDX-License-Identifier: MIT
// The PC's CMOS real-time clock (MC146818 compatible) and its 128 bytes of CMOS RAM.
#include "arch/x86_64/platform/rtc.hpp"
#include "abi/errno.h"
#include "arch/x86_64/platform/isa_bytes.hpp"
#include "arch/x86_64/platform/mul_div.hpp"

static_assert(__has_unique_object_representations(Rtc::State), "Rtc::State has no padding holes");

namespace {

constexpr u8 REG_SECONDS = 0x00;
constexpr u8 REG_SECONDS_ALARM = 0x01;
constexpr u8 REG_MINUTES = 0x02;
constexpr u8 REG_MINUTES_ALARM = 0x03;
constexpr u8 REG_HOURS = 0x04;
constexpr u8 REG_HOURS_ALARM = 0x05;
constexpr u8 REG_WEEKDAY = 0x06;
constexpr u8 REG_DAY = 0x07;
constexpr u8 REG_MONTH = 0x08;
constexpr u8 REG_YEAR = 0x09;

constexpr u8 INDEX_MASK = 0x7F;
constexpr u8 INDEX_NMI_DISABLE = 0x80;
constexpr u8 A_DIVIDER_MASK = 0x70;
constexpr u8 A_DIVIDER_RUN = 0x20; // 32.768 kHz time base
constexpr u8 A_DIVIDER_RESET = 0x60; // 11x holds the divider chain in reset
constexpr u8 A_RATE_MASK = 0x0F;
constexpr u8 B_ENABLES = Rtc::B_PIE | Rtc::B_AIE | Rtc::B_UIE; // same bit positions as the C flags
constexpr u8 C_FLAGS = Rtc::C_PF | Rtc::C_AF | Rtc::C_UF;
constexpr u8 HOUR_PM = 0x80;
constexpr u8 ALARM_DONT_CARE = 0xC0;
constexpr u8 BCD_LOW = 0x0F;
constexpr u32 BCD_SHIFT = 4;
constexpr u32 DECIMAL = 10;

constexpr u64 UIP_TICKS = 8; // 244 us before the update
constexpr u64 HALF_SECOND = Rtc::DIVIDER_HZ / 2;
constexpr u32 RATE_LOW_PERIODS = 2; // rates 1 and 2 repeat rates 8 and 9
constexpr u32 RATE_LOW_SHIFT = 6;

constexpr u64 SECONDS_PER_MINUTE = 60;
constexpr u64 SECONDS_PER_HOUR = 3600;
constexpr u64 SECONDS_PER_DAY = 86400;
constexpr u32 MINUTES_PER_HOUR = 60;
constexpr u32 HOURS_PER_DAY = 24;
constexpr u32 HOURS_PER_HALF_DAY = 12;
constexpr u32 DAYS_PER_WEEK = 7;
constexpr u32 EPOCH_WEEKDAY = 4; // 1970-01-01 was a Thursday (Sunday = 0)
constexpr u32 MONTHS = 12;
constexpr u32 FEBRUARY = 2;
constexpr u8 LEAP_FEBRUARY_DAYS = 29;
constexpr u32 YEARS_PER_LEAP = 4;
constexpr u32 YEARS_PER_CENTURY = 100;
constexpr u32 EPOCH_YEAR = 1970;
constexpr u32 LAST_YEAR = 9999; // four BCD digits of century and year
constexpr u32 PIVOT_YEAR = 70; // without a century: 70..99 are 19xx, 00..69 are 20xx
constexpr u32 FIRST_CENTURY = 19;
constexpr u32 YEAR_1900 = 1900;
constexpr u32 YEAR_2000 = 2000;

// Calendar arithmetic on years that start on March 1, so the leap day ends the year.
constexpr u64 DAYS_PER_ERA = 146097; // 400 Gregorian years
constexpr u64 YEARS_PER_ERA = 400;
constexpr u64 DAYS_TO_EPOCH = 719468; // from 0000-03-01 to 1970-01-01
constexpr u64 DAYS_PER_YEAR = 365;
constexpr u64 DAYS_PER_4_YEARS = 1460;
constexpr u64 DAYS_PER_CENTURY = 36524;
constexpr u64 DAYS_PER_ERA_LAST = 146096;
constexpr u64 MONTH_SPAN_NUM = 153; // five months (Mar-Jul, Aug-Dec) take 153 days
constexpr u64 MONTH_SPAN_DEN = 5;
constexpr u64 MONTH_SPAN_BIAS = 2; // rounds the 30.6-day average month to whole days
constexpr u64 MONTHS_FROM_MARCH = 10; // March..December come first in a year from March
constexpr u64 MARCH = 3;
constexpr u64 LAST_SECOND = 253402300799; // 9999-12-31 23:59:59

constexpr u64 NONE = ~u64{0};
constexpr u64 ALARM_SEARCH_DAYS = 2; // every satisfiable alarm matches within two days

constexpr u8 TIME_REGISTERS[] = {REG_SECONDS, REG_MINUTES, REG_HOURS, REG_WEEKDAY,
                                 REG_DAY,     REG_MONTH,   REG_YEAR,  Rtc::REG_CENTURY};

bool is_time_register(u8 index)
{
    for (const u8 time_register : TIME_REGISTERS) {
        if (index == time_register)
            return true;
    }
    return false;
}

bool is_leap(u32 year)
{
    return (year % YEARS_PER_LEAP == 0 && year % YEARS_PER_CENTURY != 0) || year % YEARS_PER_ERA == 0;
}

u8 days_in_month(u32 year, u32 month)
{
    constexpr u8 DAYS[MONTHS] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == FEBRUARY && is_leap(year) ? LEAP_FEBRUARY_DAYS : DAYS[month - 1];
}

bool divider_reset(u8 reg_a) { return (reg_a & A_DIVIDER_RESET) == A_DIVIDER_RESET; }

// Divider ticks per periodic interrupt for rate select 1..15 (0: none).
u64 periodic_ticks(u8 reg_a)
{
    const u32 rate = reg_a & A_RATE_MASK;
    if (rate == 0)
        return 0;
    return u64{1} << (rate <= RATE_LOW_PERIODS ? rate + RATE_LOW_SHIFT : rate - 1);
}

// First multiple of `step` above `from`.
u64 next_multiple(u64 from, u64 step) { return (from / step + 1) * step; }

} // namespace

RtcDateTime rtc_from_unix(u64 seconds)
{
    if (seconds > LAST_SECOND)
        seconds = LAST_SECOND;
    const u64 days = seconds / SECONDS_PER_DAY;
    const u64 tod = seconds % SECONDS_PER_DAY;
    const u64 shifted = days + DAYS_TO_EPOCH;
    const u64 era = shifted / DAYS_PER_ERA;
    const u64 day_of_era = shifted % DAYS_PER_ERA;
    // Leap days make a 4-, 100- and 400-year cycle one day longer than 365 times the years.
    const u64 year_of_era =
        (day_of_era - day_of_era / DAYS_PER_4_YEARS + day_of_era / DAYS_PER_CENTURY - day_of_era / DAYS_PER_ERA_LAST) /
        DAYS_PER_YEAR;
    const u64 day_of_year =
        day_of_era - (DAYS_PER_YEAR * year_of_era + year_of_era / YEARS_PER_LEAP - year_of_era / YEARS_PER_CENTURY);
    const u64 month_from_march = (MONTH_SPAN_DEN * day_of_year + MONTH_SPAN_BIAS) / MONTH_SPAN_NUM;
    const u64 month =
        month_from_march < MONTHS_FROM_MARCH ? month_from_march + MARCH : month_from_march - MONTHS_FROM_MARCH + 1;
    RtcDateTime date{};
    date.year = static_cast<u32>(era * YEARS_PER_ERA + year_of_era + (month < MARCH ? 1 : 0));
    date.month = static_cast<u8>(month);
    date.day =
        static_cast<u8>(day_of_year - (MONTH_SPAN_NUM * month_from_march + MONTH_SPAN_BIAS) / MONTH_SPAN_DEN + 1);
    date.hour = static_cast<u8>(tod / SECONDS_PER_HOUR);
    date.minute = static_cast<u8>(tod % SECONDS_PER_HOUR / SECONDS_PER_MINUTE);
    date.second = static_cast<u8>(tod % SECONDS_PER_MINUTE);
    date.weekday = static_cast<u8>((days + EPOCH_WEEKDAY) % DAYS_PER_WEEK + 1);
    return date;
}

int rtc_to_unix(const RtcDateTime &date, u64 *seconds)
{
    if (date.year < EPOCH_YEAR || date.year > LAST_YEAR || date.month < 1 || date.month > MONTHS || date.day < 1 ||
        date.day > days_in_month(date.year, date.month) || date.hour >= HOURS_PER_DAY ||
        date.minute >= MINUTES_PER_HOUR || date.second >= SECONDS_PER_MINUTE)
        return -BATON_EINVAL;
    const u64 year = date.year - (date.month < MARCH ? 1 : 0);
    const u64 era = year / YEARS_PER_ERA;
    const u64 year_of_era = year % YEARS_PER_ERA;
    const u64 month_from_march = date.month >= MARCH ? date.month - MARCH : date.month + MONTHS - MARCH;
    const u64 day_of_year = (MONTH_SPAN_NUM * month_from_march + MONTH_SPAN_BIAS) / MONTH_SPAN_DEN + date.day - 1;
    const u64 day_of_era =
        year_of_era * DAYS_PER_YEAR + year_of_era / YEARS_PER_LEAP - year_of_era / YEARS_PER_CENTURY + day_of_year;
    const u64 days = era * DAYS_PER_ERA + day_of_era - DAYS_TO_EPOCH;
    *seconds = days * SECONDS_PER_DAY + date.hour * SECONDS_PER_HOUR + date.minute * SECONDS_PER_MINUTE + date.second;
    return 0;
}

Rtc::Rtc(TscClock clock, IrqSink *irq, u32 irq_line) : clock_(clock), irq_(irq), irq_line_(irq_line)
{
    state_.ram[REG_A] = A_DEFAULT;
    state_.ram[REG_B] = B_DEFAULT;
}

void Rtc::set_time(u64 seconds, u64 now)
{
    state_.seconds = seconds;
    state_.epoch_tsc = now;
    state_.epoch_phase = 0;
    state_.flags_pos = 0;
}

u64 Rtc::time(u64 now) const { return state_.seconds + position(now) / DIVIDER_HZ; }

int Rtc::set_ram(u8 index, u8 value)
{
    if (index >= RAM_SIZE || index < FIRST_FREE_RAM || index == REG_CENTURY)
        return -BATON_EINVAL;
    state_.ram[index] = value;
    return 0;
}

bool Rtc::handles(u16 port) const { return port == PORT_INDEX || port == PORT_DATA; }

u32 Rtc::read(u16 port, u8 size, u64 now)
{
    return isa_split_read(
        port, size, [this](u16 p) { return handles(p); },
        [this, now](u16 p) { return p == PORT_DATA ? read_register(state_.index, now) : ISA_OPEN_BUS; });
}

void Rtc::write(u16 port, u8 size, u32 value, u64 now)
{
    isa_split_write(
        port, size, value, [this](u16 p) { return handles(p); },
        [this, now](u16 p, u8 byte) {
            if (p == PORT_DATA) {
                write_register(state_.index, byte, now);
                return;
            }
            state_.index = static_cast<u8>(byte & INDEX_MASK);
            state_.nmi_disabled = (byte & INDEX_NMI_DISABLE) != 0 ? 1 : 0;
        });
}

bool Rtc::running() const { return (state_.ram[REG_A] & A_DIVIDER_MASK) == A_DIVIDER_RUN; }

// The divider's position: ticks of 32.768 kHz since the start of the second `seconds`.
u64 Rtc::position(u64 now) const
{
    if (!running() || now <= state_.epoch_tsc || clock_.tsc_hz == 0)
        return state_.epoch_phase;
    return add_saturated(state_.epoch_phase, mul_div(now - state_.epoch_tsc, DIVIDER_HZ, clock_.tsc_hz));
}

// The first guest TSC at which the divider reaches `position` (saturating).
u64 Rtc::tsc_at(u64 position) const
{
    if (position <= state_.epoch_phase || clock_.tsc_hz == 0)
        return state_.epoch_tsc;
    const u64 tsc =
        add_saturated(state_.epoch_tsc, mul_div_up(position - state_.epoch_phase, clock_.tsc_hz, DIVIDER_HZ));
    return tsc < PLATFORM_NO_DEADLINE ? tsc : PLATFORM_NO_DEADLINE - 1;
}

// Moves the epoch to `now` without moving the clock; flags must be worked out up to now.
void Rtc::rebase(u64 now)
{
    const u64 position_now = position(now);
    state_.seconds += position_now / DIVIDER_HZ;
    state_.epoch_phase = static_cast<u32>(position_now % DIVIDER_HZ);
    state_.epoch_tsc = now;
    state_.flags_pos = state_.epoch_phase;
}

// Sets the register C flags for what happened between flags_pos and `now`: a periodic
// tick (aligned to the divider, like the hardware's), a second boundary, an alarm match.
// The update cycle, hence UF and AF, is inhibited while SET is on.
void Rtc::evaluate(u64 now)
{
    const u64 from = state_.flags_pos;
    const u64 to = position(now);
    if (to <= from)
        return;
    u8 flags = 0;
    const u64 period = periodic_ticks(state_.ram[REG_A]);
    if (period != 0 && to / period != from / period)
        flags |= C_PF;
    if ((state_.ram[REG_B] & B_SET) == 0) {
        const u64 first = state_.seconds + from / DIVIDER_HZ;
        const u64 last = state_.seconds + to / DIVIDER_HZ;
        if (last != first) {
            flags |= C_UF;
            if (next_alarm(first + 1) <= last)
                flags |= C_AF;
        }
    }
    state_.flags_pos = to;
    state_.ram[REG_C] = static_cast<u8>(state_.ram[REG_C] | flags);
    update_irq();
}

// IRQF (and the line) is set while an enabled source has its flag set.
void Rtc::update_irq()
{
    const bool irqf = (state_.ram[REG_C] & state_.ram[REG_B] & B_ENABLES) != 0;
    state_.ram[REG_C] = static_cast<u8>((state_.ram[REG_C] & C_FLAGS) | (irqf ? C_IRQF : 0));
    const u8 level = irqf ? 1 : 0;
    if (state_.irq_level == level)
        return;
    state_.irq_level = level;
    if (irq_ != nullptr)
        irq_->set_irq(irq_line_, irqf);
}

u8 Rtc::encode(u32 value) const
{
    if ((state_.ram[REG_B] & B_BINARY) != 0)
        return static_cast<u8>(value);
    return static_cast<u8>(((value / DECIMAL) << BCD_SHIFT) | (value % DECIMAL));
}

u32 Rtc::decode(u8 value) const
{
    if ((state_.ram[REG_B] & B_BINARY) != 0)
        return value;
    return (u32{value} >> BCD_SHIFT) * DECIMAL + (value & BCD_LOW);
}

// Time register `index` showing `date` in the current format.
u8 Rtc::time_field(u8 index, const RtcDateTime &date) const
{
    switch (index) {
    case REG_SECONDS: return encode(date.second);
    case REG_MINUTES: return encode(date.minute);
    case REG_HOURS: {
        if ((state_.ram[REG_B] & B_24H) != 0)
            return encode(date.hour);
        const u32 hour12 = date.hour % HOURS_PER_HALF_DAY == 0 ? HOURS_PER_HALF_DAY : date.hour % HOURS_PER_HALF_DAY;
        return static_cast<u8>(encode(hour12) | (date.hour >= HOURS_PER_HALF_DAY ? HOUR_PM : 0));
    }
    case REG_WEEKDAY: return encode(date.weekday);
    case REG_DAY: return encode(date.day);
    case REG_MONTH: return encode(date.month);
    case REG_YEAR: return encode(date.year % YEARS_PER_CENTURY);
    default: return encode(date.year / YEARS_PER_CENTURY % YEARS_PER_CENTURY); // REG_CENTURY
    }
}

// The time registers written into RAM, where SET freezes them for the guest to change.
void Rtc::snapshot(u64 now)
{
    const RtcDateTime date = rtc_from_unix(time(now));
    for (const u8 index : TIME_REGISTERS)
        state_.ram[index] = time_field(index, date);
}

// Takes the time registers in RAM as the new time of the current second (the divider's
// phase is kept). A time that is no valid date after 1970 is ignored.
void Rtc::commit(u64 now)
{
    const u8 *ram = state_.ram;
    RtcDateTime date{};
    u32 hour = 0;
    if ((ram[REG_B] & B_24H) != 0) {
        hour = decode(ram[REG_HOURS]);
    } else {
        hour = decode(static_cast<u8>(ram[REG_HOURS] & ~HOUR_PM));
        if (hour == 0 || hour > HOURS_PER_HALF_DAY)
            return;
        hour = hour % HOURS_PER_HALF_DAY + ((ram[REG_HOURS] & HOUR_PM) != 0 ? HOURS_PER_HALF_DAY : 0);
    }
    const u32 year = decode(ram[REG_YEAR]);
    const u32 century = decode(ram[REG_CENTURY]);
    if (year >= YEARS_PER_CENTURY || hour >= HOURS_PER_DAY)
        return;
    if (century >= FIRST_CENTURY && century < YEARS_PER_CENTURY)
        date.year = century * YEARS_PER_CENTURY + year;
    else
        date.year = (year < PIVOT_YEAR ? YEAR_2000 : YEAR_1900) + year;
    // decode() of a byte is at most 255 (binary) or 165 (BCD): the casts keep the value.
    date.month = static_cast<u8>(decode(ram[REG_MONTH]));
    date.day = static_cast<u8>(decode(ram[REG_DAY]));
    date.hour = static_cast<u8>(hour);
    date.minute = static_cast<u8>(decode(ram[REG_MINUTES]));
    date.second = static_cast<u8>(decode(ram[REG_SECONDS]));
    u64 seconds = 0;
    if (rtc_to_unix(date, &seconds) != 0)
        return;
    rebase(now);
    state_.seconds = seconds;
}

// The first second at or after `from` that matches the alarm registers, NONE if they
// can never match. A register with its top two bits set matches any value.
u64 Rtc::next_alarm(u64 from) const
{
    struct Field {
        u32 low;
        u32 high;
    };
    const auto field = [this](u8 raw, u32 limit, bool hours) -> Field {
        if ((raw & ALARM_DONT_CARE) == ALARM_DONT_CARE)
            return {0, limit - 1};
        u32 value = decode(raw);
        if (hours && (state_.ram[REG_B] & B_24H) == 0) {
            value = decode(static_cast<u8>(raw & ~HOUR_PM));
            if (value == 0 || value > HOURS_PER_HALF_DAY)
                return {1, 0}; // an empty range: never matches
            value = value % HOURS_PER_HALF_DAY + ((raw & HOUR_PM) != 0 ? HOURS_PER_HALF_DAY : 0);
        }
        return value < limit ? Field{value, value} : Field{1, 0};
    };
    const Field hours = field(state_.ram[REG_HOURS_ALARM], HOURS_PER_DAY, true);
    const Field minutes = field(state_.ram[REG_MINUTES_ALARM], MINUTES_PER_HOUR, false);
    const Field seconds = field(state_.ram[REG_SECONDS_ALARM], SECONDS_PER_MINUTE, false);
    const u64 day_start = from - from % SECONDS_PER_DAY;
    u64 earliest = from % SECONDS_PER_DAY;
    // Within two days every satisfiable alarm matches; the loops skip whole hours and
    // minutes that end before `earliest`, so they run a few dozen times at most.
    for (u64 day = 0; day < ALARM_SEARCH_DAYS; ++day, earliest = 0) {
        for (u64 h = hours.low; h <= hours.high; ++h) {
            if ((h + 1) * SECONDS_PER_HOUR <= earliest)
                continue;
            for (u64 m = minutes.low; m <= minutes.high; ++m) {
                const u64 minute_start = h * SECONDS_PER_HOUR + m * SECONDS_PER_MINUTE;
                if (minute_start + SECONDS_PER_MINUTE <= earliest)
                    continue;
                for (u64 s = seconds.low; s <= seconds.high; ++s) {
                    if (minute_start + s >= earliest)
                        return day_start + day * SECONDS_PER_DAY + minute_start + s;
                }
            }
        }
    }
    return NONE;
}

u8 Rtc::read_register(u8 index, u64 now)
{
    u8 *ram = state_.ram;
    if (index == REG_A) {
        const bool uip = running() && (ram[REG_B] & B_SET) == 0 && position(now) % DIVIDER_HZ >= DIVIDER_HZ - UIP_TICKS;
        return static_cast<u8>(ram[REG_A] | (uip ? A_UIP : 0));
    }
    if (index == REG_C) {
        evaluate(now);
        const u8 value = ram[REG_C];
        ram[REG_C] = 0; // reading C clears every flag and the interrupt
        update_irq();
        return value;
    }
    if (index == REG_D)
        return D_VRT;
    if (is_time_register(index) && (ram[REG_B] & B_SET) == 0)
        return time_field(index, rtc_from_unix(time(now)));
    return ram[index];
}

void Rtc::write_register(u8 index, u8 value, u64 now)
{
    u8 *ram = state_.ram;
    if (index == REG_A) {
        evaluate(now);
        rebase(now);
        const bool was_reset = divider_reset(ram[REG_A]);
        ram[REG_A] = static_cast<u8>(value & ~A_UIP);
        if (divider_reset(ram[REG_A]))
            state_.epoch_phase = 0; // the chain is held at the start of a second
        else if (was_reset && running())
            state_.epoch_phase = HALF_SECOND; // the first update comes half a second later
        state_.flags_pos = state_.epoch_phase;
    } else if (index == REG_B) {
        evaluate(now);
        const u8 old = ram[REG_B];
        if ((value & B_SET) != 0)
            value = static_cast<u8>(value & ~B_UIE); // SET clears UIE
        ram[REG_B] = value;
        if ((value & B_SET) != 0 && (old & B_SET) == 0)
            snapshot(now);
        else if ((value & B_SET) == 0 && (old & B_SET) != 0)
            commit(now);
        update_irq();
    } else if (index == REG_C || index == REG_D) {
        // read-only
    } else if (is_time_register(index) && (ram[REG_B] & B_SET) == 0) {
        // Without SET a write lands in a running clock: it changes that field of the time.
        evaluate(now);
        snapshot(now);
        ram[index] = value;
        commit(now);
    } else {
        ram[index] = value;
    }
}

u64 Rtc::next_deadline() const
{
    const u8 *ram = state_.ram;
    if (!running() || (ram[REG_C] & C_IRQF) != 0)
        return PLATFORM_NO_DEADLINE;
    const u64 from = state_.flags_pos;
    u64 next = NONE;
    const u64 period = periodic_ticks(ram[REG_A]);
    if ((ram[REG_B] & B_PIE) != 0 && period != 0)
        next = next_multiple(from, period);
    if ((ram[REG_B] & B_SET) == 0) {
        const u64 second = from / DIVIDER_HZ;
        if ((ram[REG_B] & B_UIE) != 0 && next_multiple(from, DIVIDER_HZ) < next)
            next = next_multiple(from, DIVIDER_HZ);
        if ((ram[REG_B] & B_AIE) != 0) {
            const u64 alarm = next_alarm(state_.seconds + second + 1);
            if (alarm != NONE && (alarm - state_.seconds) * DIVIDER_HZ < next)
                next = (alarm - state_.seconds) * DIVIDER_HZ;
        }
    }
    return next == NONE ? PLATFORM_NO_DEADLINE : tsc_at(next);
}

void Rtc::advance(u64 now) { evaluate(now); }

int Rtc::load(const State &state)
{
    const u8 *ram = state.ram;
    const bool irqf = (ram[REG_C] & ram[REG_B] & B_ENABLES) != 0;
    if (state.epoch_phase >= DIVIDER_HZ || state.flags_pos < state.epoch_phase || state.index >= RAM_SIZE ||
        state.nmi_disabled > 1 || state.irq_level != (irqf ? 1 : 0) || (ram[REG_A] & A_UIP) != 0 ||
        (ram[REG_C] & ~(C_FLAGS | C_IRQF)) != 0 || ((ram[REG_C] & C_IRQF) != 0) != irqf || ram[REG_D] != 0 ||
        ((ram[REG_B] & B_SET) != 0 && (ram[REG_B] & B_UIE) != 0))
        return -BATON_EINVAL;
    state_ = state;
    return 0;
}
