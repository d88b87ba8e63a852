// SPDX-License-Identifier: MIT
// The 8254 programmable interval timer (three channels) and the PC's port 0x61.
#include "arch/x86_64/platform/pit.hpp"
#include "abi/errno.h"
#include "arch/x86_64/platform/isa_bytes.hpp"
#include "arch/x86_64/platform/mul_div.hpp"

static_assert(__has_unique_object_representations(Pit::State), "Pit::State has no padding holes");

namespace {

// Control word (port 0x43) fields.
constexpr u8 CONTROL_SELECT_SHIFT = 6;
constexpr u8 CONTROL_READ_BACK = 3; // select value of the read-back command
constexpr u8 CONTROL_ACCESS_SHIFT = 4;
constexpr u8 CONTROL_MODE_SHIFT = 1;
constexpr u8 CONTROL_TWO_BITS = 0x3;
constexpr u8 CONTROL_MODE_BITS = 0x7;
constexpr u8 CONTROL_BCD = 1u << 0;
constexpr u8 MODE_ALIAS = 4; // modes 6 and 7 are modes 2 and 3
// Read-back command: the bits are active low.
constexpr u8 READ_BACK_NO_COUNT = 1u << 5;
constexpr u8 READ_BACK_NO_STATUS = 1u << 4;
constexpr u8 READ_BACK_CHANNEL_SHIFT = 1;
// Read-back status byte.
constexpr u8 STATUS_OUT = 1u << 7;
constexpr u8 STATUS_NULL_COUNT = 1u << 6;

constexpr u8 MODE_TERMINAL = 0; // interrupt on terminal count
constexpr u8 MODE_ONE_SHOT = 1; // hardware retriggerable one-shot
constexpr u8 MODE_RATE = 2; // rate generator
constexpr u8 MODE_SQUARE = 3; // square wave
constexpr u8 MODE_SW_STROBE = 4; // software triggered strobe
constexpr u8 MODE_HW_STROBE = 5; // hardware triggered strobe

constexpr u32 BINARY_MODULUS = 0x10000;
constexpr u32 BCD_MODULUS = 10000;
constexpr u32 BCD_DIGITS = 4;
constexpr u32 BCD_DIGIT_BITS = 4;
constexpr u32 BCD_DIGIT_MASK = 0xF;
constexpr u32 DECIMAL = 10;
constexpr u32 BYTE_BITS = 8;
constexpr u32 BYTE_MASK = 0xFF;

bool triggered_mode(u8 mode) { return mode == MODE_ONE_SHOT || mode == MODE_HW_STROBE; }
bool periodic_mode(u8 mode) { return mode == MODE_RATE || mode == MODE_SQUARE; }

u32 modulus(const Pit::Channel &channel) { return channel.bcd != 0 ? BCD_MODULUS : BINARY_MODULUS; }

u32 from_bcd(u16 raw)
{
    u32 value = 0;
    for (u32 digit = BCD_DIGITS; digit-- > 0;)
        value = value * DECIMAL + ((u32{raw} >> (digit * BCD_DIGIT_BITS)) & BCD_DIGIT_MASK);
    return value;
}

u16 to_bcd(u32 value)
{
    u32 raw = 0;
    for (u32 digit = 0; digit < BCD_DIGITS; ++digit, value /= DECIMAL)
        raw |= (value % DECIMAL) << (digit * BCD_DIGIT_BITS);
    return static_cast<u16>(raw);
}

// The count the counting element runs with, in 1..modulus (a written 0 is the modulus;
// BCD digits above 9 are not valid counts and wrap).
u32 element_count(const Pit::Channel &channel)
{
    const u32 mod = modulus(channel);
    const u32 n = (channel.bcd != 0 ? from_bcd(channel.element) : u32{channel.element}) % mod;
    return n == 0 ? mod : n;
}

// OUT of a channel whose counting element has run `d` clocks (or holds there).
bool out_at(const Pit::Channel &channel, u64 d, bool gate)
{
    const u64 n = element_count(channel);
    if (channel.armed == 0)
        return channel.mode != MODE_TERMINAL; // after the control word: mode 0 low, others high
    switch (channel.mode) {
    case MODE_TERMINAL: return d >= n;
    case MODE_ONE_SHOT: return channel.counting == 0 || d >= n; // low from the trigger to terminal count
    case MODE_RATE: return !gate || n < 2 || d % n != n - 1; // low for the one clock before reload
    case MODE_SQUARE: return !gate || d % n < (n + 1) / 2; // high for the longer half of odd counts
    case MODE_SW_STROBE: return d != n; // low for one clock at terminal count
    case MODE_HW_STROBE: return channel.counting == 0 || d != n;
    default: return true;
    }
}

// Counter value (binary, 0..modulus-1) after `d` clocks.
u32 count_at(const Pit::Channel &channel, u64 d)
{
    const u64 mod = modulus(channel);
    const u64 n = element_count(channel);
    u64 value = 0;
    if (channel.mode == MODE_RATE) {
        value = n - d % n;
    } else if (channel.mode == MODE_SQUARE) {
        // Mode 3 counts down by two. An odd count spends one clock more on the high half:
        // its first clock there takes 1 off, its first clock on the low half takes 3 off.
        const u64 p = d % n;
        const u64 high = (n + 1) / 2;
        if (n % 2 == 0)
            value = p < high ? n - 2 * p : n - 2 * (p - high);
        else if (p < high)
            value = p == 0 ? n : n + 1 - 2 * p;
        else
            value = p == high ? n : n - 1 - 2 * (p - high);
    } else {
        value = (n + mod - d % mod) % mod; // modes 0, 1, 4, 5 count on through zero
    }
    return static_cast<u32>(value % mod);
}

} // namespace

Pit::Pit(TscClock clock, IrqSink *irq) : clock_(clock), irq_(irq)
{
    for (Channel &channel : state_.channel) {
        channel.access = ACCESS_WORD;
        channel.irq_at = NO_EDGE;
    }
}

void Pit::reset(u64 now)
{
    drive(false);
    state_ = State{};
    for (unsigned i = 0; i < CHANNELS; ++i) {
        Channel &channel = state_.channel[i];
        channel.mode = MODE_SQUARE;
        channel.access = ACCESS_WORD;
        channel.irq_at = NO_EDGE;
        load_count(i, now);
    }
}

bool Pit::handles(u16 port) const { return (port >= PORT_CHANNEL0 && port <= PORT_CONTROL) || port == PORT_SYSTEM_B; }

u32 Pit::read(u16 port, u8 size, u64 now)
{
    return isa_split_read(
        port, size, [this](u16 p) { return handles(p); }, [this, now](u16 p) { return read_byte(p, now); });
}

void Pit::write(u16 port, u8 size, u32 value, u64 now)
{
    isa_split_write(
        port, size, value, [this](u16 p) { return handles(p); },
        [this, now](u16 p, u8 byte) { write_byte(p, byte, now); });
}

bool Pit::gate(unsigned index) const { return index != SPEAKER_CHANNEL || (state_.port_b & B_GATE2) != 0; }

u64 Pit::clocks_since(u64 start, u64 now) const
{
    if (clock_.tsc_hz == 0 || now <= start)
        return 0;
    return mul_div(now - start, PIT_HZ, clock_.tsc_hz);
}

u64 Pit::elapsed(const Channel &channel, u64 now) const
{
    return channel.counting != 0 ? channel.held + clocks_since(channel.start, now) : channel.held;
}

// The counter as the guest reads it (BCD-encoded in BCD mode).
u32 Pit::readout(const Channel &channel, u64 now) const
{
    if (channel.armed == 0 || (triggered_mode(channel.mode) && channel.counting == 0))
        return channel.element; // nothing loaded yet: the counter holds what it had
    const u32 binary = count_at(channel, elapsed(channel, now));
    return channel.bcd != 0 ? to_bcd(binary) : binary;
}

bool Pit::out(unsigned index, u64 now) const
{
    if (index >= CHANNELS)
        return false;
    const Channel &channel = state_.channel[index];
    return out_at(channel, elapsed(channel, now), gate(index));
}

u16 Pit::counter(unsigned index, u64 now) const
{
    return index < CHANNELS ? static_cast<u16>(readout(state_.channel[index], now)) : u16{0};
}

u8 Pit::read_byte(u16 port, u64 now)
{
    if (port == PORT_SYSTEM_B) {
        const u64 refresh = clocks_since(0, now) / REFRESH_CLOCKS;
        return static_cast<u8>((state_.port_b & B_WRITABLE) | ((refresh & 1) != 0 ? B_REFRESH : 0) |
                               (out(SPEAKER_CHANNEL, now) ? B_OUT2 : 0));
    }
    if (port == PORT_CONTROL)
        return ISA_OPEN_BUS; // write-only
    Channel &channel = state_.channel[port - PORT_CHANNEL0];
    if (channel.status_latched != 0) {
        channel.status_latched = 0;
        return channel.status;
    }
    u32 word = 0;
    bool msb = false;
    if (channel.latch_bytes != 0) {
        word = channel.latch;
        msb = channel.access == ACCESS_MSB || (channel.access == ACCESS_WORD && channel.latch_bytes == 1);
        --channel.latch_bytes;
    } else {
        word = readout(channel, now);
        msb = channel.access == ACCESS_MSB || (channel.access == ACCESS_WORD && channel.read_msb != 0);
        if (channel.access == ACCESS_WORD)
            channel.read_msb ^= 1;
    }
    return static_cast<u8>((msb ? word >> BYTE_BITS : word) & BYTE_MASK);
}

void Pit::write_byte(u16 port, u8 value, u64 now)
{
    if (port == PORT_SYSTEM_B) {
        const bool was = gate(SPEAKER_CHANNEL);
        state_.port_b = static_cast<u8>(value & B_WRITABLE);
        if (gate(SPEAKER_CHANNEL) != was)
            set_gate2(!was, now);
    } else if (port == PORT_CONTROL) {
        write_control(value, now);
    } else {
        write_count(static_cast<unsigned>(port - PORT_CHANNEL0), value, now);
    }
}

void Pit::write_control(u8 value, u64 now)
{
    const u8 select = static_cast<u8>(value >> CONTROL_SELECT_SHIFT);
    if (select == CONTROL_READ_BACK) {
        for (unsigned i = 0; i < CHANNELS; ++i) {
            if ((value & (1u << (i + READ_BACK_CHANNEL_SHIFT))) == 0)
                continue;
            if ((value & READ_BACK_NO_COUNT) == 0)
                latch_count(i, now);
            if ((value & READ_BACK_NO_STATUS) == 0)
                latch_status(i, now);
        }
        return;
    }
    const u8 access = static_cast<u8>((value >> CONTROL_ACCESS_SHIFT) & CONTROL_TWO_BITS);
    if (access == ACCESS_LATCH) {
        latch_count(select, now);
        return;
    }
    u8 mode = static_cast<u8>((value >> CONTROL_MODE_SHIFT) & CONTROL_MODE_BITS);
    if (mode > MODE_MAX)
        mode = static_cast<u8>(mode - MODE_ALIAS);
    // A control word resets the channel's control logic: it waits for a count, OUT goes
    // to its initial level (low in mode 0), pending latches are dropped.
    Channel &channel = state_.channel[select];
    channel.mode = mode;
    channel.access = access;
    channel.bcd = (value & CONTROL_BCD) != 0 ? 1 : 0;
    channel.armed = 0;
    channel.counting = 0;
    channel.held = 0;
    channel.latch_bytes = 0;
    channel.status_latched = 0;
    channel.read_msb = 0;
    channel.write_msb = 0;
    if (select == 0) {
        channel.irq_at = NO_EDGE;
        drive(false);
    }
}

void Pit::write_count(unsigned index, u8 value, u64 now)
{
    Channel &channel = state_.channel[index];
    if (channel.access == ACCESS_LSB) {
        channel.count = value;
    } else if (channel.access == ACCESS_MSB) {
        channel.count = static_cast<u16>(u32{value} << BYTE_BITS);
    } else if (channel.write_msb == 0) {
        channel.write_lsb = value;
        channel.write_msb = 1;
        if (channel.mode == MODE_TERMINAL) {
            // Mode 0: the first byte stops the count and sets OUT low.
            channel.held = elapsed(channel, now);
            channel.counting = 0;
            channel.armed = 0;
            if (index == 0) {
                channel.irq_at = NO_EDGE;
                drive(false);
            }
        }
        return;
    } else {
        channel.count = static_cast<u16>(channel.write_lsb | (u32{value} << BYTE_BITS));
        channel.write_msb = 0;
    }
    load_count(index, now);
}

void Pit::load_count(unsigned index, u64 now)
{
    Channel &channel = state_.channel[index];
    channel.armed = 1;
    if (triggered_mode(channel.mode))
        return; // modes 1 and 5 take the count at the next rising gate edge
    channel.element = channel.count;
    channel.held = 0;
    channel.start = now;
    channel.counting = gate(index) ? 1 : 0;
    if (index == 0) {
        drive(false); // mode 0 sets OUT low on a new count
        schedule(0);
    }
}

void Pit::set_gate2(bool high, u64 now)
{
    Channel &channel = state_.channel[SPEAKER_CHANNEL];
    if (channel.armed == 0)
        return;
    if (!high) {
        // Modes 0 and 4 pause; modes 2 and 3 stop (OUT high) and reload at the next rising
        // edge; modes 1 and 5 ignore the level.
        if (!triggered_mode(channel.mode) && channel.counting != 0) {
            channel.held = elapsed(channel, now);
            channel.counting = 0;
        }
        return;
    }
    if (channel.mode == MODE_TERMINAL || channel.mode == MODE_SW_STROBE) {
        channel.start = now; // resume where it paused
    } else {
        if (triggered_mode(channel.mode))
            channel.element = channel.count;
        channel.held = 0;
        channel.start = now;
    }
    channel.counting = 1;
}

void Pit::latch_count(unsigned index, u64 now)
{
    Channel &channel = state_.channel[index];
    if (channel.latch_bytes != 0)
        return; // the first latch holds until it is read
    channel.latch = static_cast<u16>(readout(channel, now));
    channel.latch_bytes = channel.access == ACCESS_WORD ? 2 : 1;
}

void Pit::latch_status(unsigned index, u64 now)
{
    Channel &channel = state_.channel[index];
    if (channel.status_latched != 0)
        return;
    // NULL COUNT: a count was written but the counting element does not run with it yet.
    const bool null_count =
        channel.armed == 0 || (triggered_mode(channel.mode) && channel.counting == 0) || channel.write_msb != 0;
    channel.status = static_cast<u8>((out(index, now) ? STATUS_OUT : 0) | (null_count ? STATUS_NULL_COUNT : 0) |
                                     (channel.access << CONTROL_ACCESS_SHIFT) | (channel.mode << CONTROL_MODE_SHIFT) |
                                     (channel.bcd != 0 ? CONTROL_BCD : 0));
    channel.status_latched = 1;
}

// The first IRQ edge after a fresh load: rising OUT at terminal count (mode 0), after the
// one low clock (mode 4), at the end of the first period (modes 2 and 3, except counts
// below 2 where OUT never falls).
void Pit::schedule(unsigned index)
{
    Channel &channel = state_.channel[index];
    const u64 n = element_count(channel);
    channel.irq_at = NO_EDGE;
    if (channel.mode == MODE_TERMINAL || (periodic_mode(channel.mode) && n >= 2))
        channel.irq_at = n;
    else if (channel.mode == MODE_SW_STROBE)
        channel.irq_at = n + 1;
}

void Pit::drive(bool level)
{
    const u8 want = level ? 1 : 0;
    if (state_.irq_level == want)
        return;
    state_.irq_level = want;
    if (irq_ != nullptr)
        irq_->set_irq(IRQ_LINE, level);
}

u64 Pit::next_deadline() const
{
    const Channel &channel = state_.channel[0];
    if (channel.counting == 0 || channel.irq_at == NO_EDGE)
        return PLATFORM_NO_DEADLINE;
    if (channel.irq_at <= channel.held || clock_.tsc_hz == 0)
        return channel.start;
    // The first TSC at which clocks_since(start) reaches the edge: round the tick count up.
    const u64 deadline = add_saturated(channel.start, mul_div_up(channel.irq_at - channel.held, clock_.tsc_hz, PIT_HZ));
    return deadline < PLATFORM_NO_DEADLINE ? deadline : PLATFORM_NO_DEADLINE - 1;
}

// A late call (the vCPU was descheduled, or the whole machine paused for a live update)
// must not replay every missed period: hundreds of back-to-back timer interrupts would
// only make a guest's tick accounting jump, and an edge-triggered PIC latches one edge
// anyway. So all periods that ended by `now` become one edge, and the next edge is the
// first period boundary after `now`, keeping the original phase.
void Pit::advance(u64 now)
{
    Channel &channel = state_.channel[0];
    if (channel.counting == 0 || channel.irq_at == NO_EDGE)
        return;
    const u64 d = elapsed(channel, now);
    if (d < channel.irq_at)
        return;
    if (channel.mode == MODE_TERMINAL) {
        channel.irq_at = NO_EDGE;
        drive(true); // OUT stays high until the channel is reprogrammed
        return;
    }
    drive(true);
    drive(false);
    if (periodic_mode(channel.mode)) {
        const u64 n = element_count(channel);
        channel.irq_at = (d / n + 1) * n;
    } else {
        channel.irq_at = NO_EDGE;
    }
}

int Pit::load(const State &state)
{
    if ((state.port_b & ~B_WRITABLE) != 0 || state.irq_level > 1)
        return -BATON_EINVAL;
    for (const Channel &channel : state.channel) {
        if (channel.mode > MODE_MAX || channel.access < ACCESS_LSB || channel.access > ACCESS_WORD || channel.bcd > 1 ||
            channel.armed > 1 || channel.counting > 1 || channel.latch_bytes > 2 ||
            (channel.latch_bytes == 2 && channel.access != ACCESS_WORD) || channel.status_latched > 1 ||
            channel.read_msb > 1 || channel.write_msb > 1 || (channel.counting != 0 && channel.armed == 0))
            return -BATON_EINVAL;
    }
    // Only channel 0 interrupts; its gate is tied high, so it never pauses.
    if (state.channel[1].irq_at != NO_EDGE || state.channel[SPEAKER_CHANNEL].irq_at != NO_EDGE)
        return -BATON_EINVAL;
    state_ = state;
    return 0;
}
