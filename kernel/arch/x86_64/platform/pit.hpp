// SPDX-License-Identifier: MIT
// The 8254 programmable interval timer (three channels) and the PC's port 0x61.
#pragma once
#include "arch/x86_64/platform/device_model.hpp"

// Counters are not ticked. Each channel remembers the guest TSC at which its counting
// element (re)started and derives count and OUT from the PIT clocks since then, so a
// read is exact at any `now` and a saved State needs no running timer to resume.
//
// Channel 0 drives IRQ 0: a rising OUT edge in modes 2, 3 and 4 is a raise-then-lower
// pulse on the IrqSink; in mode 0 the line follows OUT (raised at terminal count, lowered
// when the channel is reprogrammed). Channels 0 and 1 have their gate tied high; the gate
// of channel 2 is bit 0 of port 0x61, whose bit 5 shows channel 2's OUT (Linux polls it
// to calibrate the TSC). Channel 1 counts but drives nothing; channel 2's OUT drives only
// port 0x61 (no speaker).
//
// Simplifications: a count is taken at the write itself (the datasheet loads it on the
// next CLK), and a new count written while mode 2 or 3 is counting restarts the period
// at once instead of at its end (Linux writes the control word first anyway).

inline constexpr u64 PIT_HZ = 1'193'182;

class Pit final {
public:
    static constexpr u16 PORT_CHANNEL0 = 0x40;
    static constexpr u16 PORT_CHANNEL2 = 0x42;
    static constexpr u16 PORT_CONTROL = 0x43;
    static constexpr u16 PORT_SYSTEM_B = 0x61; // NMI status and control (port B)
    static constexpr unsigned CHANNELS = 3;
    static constexpr unsigned SPEAKER_CHANNEL = 2; // the one with a gate and OUT in port 0x61
    static constexpr u32 IRQ_LINE = 0;

    // Access modes of the control word (RW bits); 0 there is the counter latch command.
    static constexpr u8 ACCESS_LATCH = 0;
    static constexpr u8 ACCESS_LSB = 1;
    static constexpr u8 ACCESS_MSB = 2;
    static constexpr u8 ACCESS_WORD = 3; // LSB then MSB
    static constexpr u8 MODE_MAX = 5;

    // Port 0x61 bits.
    static constexpr u8 B_GATE2 = 1u << 0;
    static constexpr u8 B_SPEAKER = 1u << 1;
    static constexpr u8 B_WRITABLE = 0x0F; // gate 2, speaker, parity and IOCHK check disables
    static constexpr u8 B_REFRESH = 1u << 4;
    static constexpr u8 B_OUT2 = 1u << 5;
    // Bit 4 toggles with each DRAM refresh request, every 15.085 us = 18 PIT clocks.
    static constexpr u64 REFRESH_CLOCKS = 18;

    static constexpr u64 NO_EDGE = ~u64{0};

    struct Channel {
        u64 start; // guest TSC at which the counting element last started or resumed
        u64 held; // PIT clocks counted before `start` (gate pauses in modes 0 and 4)
        u64 irq_at; // channel 0: clocks since the load at which the next IRQ edge falls, or NO_EDGE
        u16 count; // count register as written (0 means 65536, or 10000 in BCD)
        u16 element; // count the counting element runs with (modes 1 and 5 take `count` at a trigger)
        u16 latch; // latched count (already BCD-encoded if bcd)
        u8 mode; // 0..5
        u8 access; // ACCESS_LSB, ACCESS_MSB or ACCESS_WORD
        u8 bcd; // counts in four BCD digits
        u8 armed; // a complete count was written since the control word
        u8 counting; // the counting element runs (else it holds `held`)
        u8 latch_bytes; // bytes of `latch` still to be read (2: LSB next, 1: the last one)
        u8 status_latched;
        u8 status; // latched read-back status byte
        u8 read_msb; // the next unlatched read of a word count returns the MSB
        u8 write_msb; // the next write of a word count is the MSB
        u8 write_lsb; // the LSB written first
        u8 pad[7];
    };

    struct State {
        Channel channel[CHANNELS];
        u8 port_b; // writable bits of port 0x61 (B_WRITABLE)
        u8 irq_level; // level last driven on IRQ 0 (mode 0 holds it high after terminal count)
        u8 pad[6];
    };

    // The power-on state: every channel waits for a control word, no interrupt.
    // `irq` may be null (nothing is driven).
    Pit(TscClock clock, IrqSink *irq);
    Pit(const Pit &) = delete;
    Pit &operator=(const Pit &) = delete;

    // What a PC BIOS leaves behind: all channels in mode 3 with count 65536 from `now`
    // (channel 0 then interrupts at 18.2 Hz), gate 2 low. Optional.
    void reset(u64 now);

    bool handles(u16 port) const;
    u32 read(u16 port, u8 size, u64 now);
    void write(u16 port, u8 size, u32 value, u64 now);

    // Channel 0's next IRQ edge as a guest TSC, PLATFORM_NO_DEADLINE if none.
    u64 next_deadline() const;
    // Drives what is due at `now`. Called late, it drives one edge for all missed periods
    // and schedules the first period after `now` (see pit.cpp).
    void advance(u64 now);

    // Channel `index`'s OUT and count at `now` (for tests and diagnostics).
    bool out(unsigned index, u64 now) const;
    u16 counter(unsigned index, u64 now) const;

    const State &state() const { return state_; }
    // Takes a saved State; -BATON_EINVAL leaves the model unchanged when a field is out of
    // range. Drives nothing: the interrupt controllers' own state holds the line level.
    [[nodiscard]] int load(const State &state);

private:
    u8 read_byte(u16 port, u64 now);
    void write_byte(u16 port, u8 value, u64 now);
    void write_control(u8 value, u64 now);
    void write_count(unsigned index, u8 value, u64 now);
    void load_count(unsigned index, u64 now);
    void set_gate2(bool high, u64 now);
    void latch_count(unsigned index, u64 now);
    void latch_status(unsigned index, u64 now);
    void schedule(unsigned index);
    void drive(bool level);
    bool gate(unsigned index) const;
    u64 clocks_since(u64 start, u64 now) const;
    u64 elapsed(const Channel &channel, u64 now) const;
    u32 readout(const Channel &channel, u64 now) const;

    TscClock clock_;
    IrqSink *irq_;
    State state_{};
};
