// SPDX-License-Identifier: MIT
// The PC's pair of 8259A interrupt controllers (master and cascaded slave) and the ELCR.
#pragma once
#include "arch/x86_64/platform/device_model.hpp"

// ISA IRQ n enters input n % 8 of the master (n < 8) or the slave (n >= 8); the slave's
// INT output is the master's input 2. The ELCR (ports 0x4D0/0x4D1, as on PIIX and later
// chipsets) chooses edge or level sensing per line; IRQ 0, 1, 2, 8 and 13 are always edge.
//
// The vCPU asks has_pending()/pending_vector() before entering the guest and calls
// acknowledge() when it injects the interrupt: that is the INTA cycle (IRR to ISR, or
// the spurious vector of IR7 of the master or the slave when the request went away).
//
// Edge requests stay latched in IRR after their line falls (a PIT pulse is raise then
// lower); level requests follow their line. ICW1's LTIM bit is ignored, like the PIIX
// does: the ELCR alone chooses. Buffered mode and 8080 mode (ICW4 bits 0, 2, 3) are
// accepted and ignored; vectors are always 8086-style.

class Pic final : public IrqSink {
public:
    static constexpr u16 PORT_MASTER_COMMAND = 0x20;
    static constexpr u16 PORT_MASTER_DATA = 0x21;
    static constexpr u16 PORT_SLAVE_COMMAND = 0xA0;
    static constexpr u16 PORT_SLAVE_DATA = 0xA1;
    static constexpr u16 PORT_ELCR_MASTER = 0x4D0;
    static constexpr u16 PORT_ELCR_SLAVE = 0x4D1;

    static constexpr u32 LINES = 16;
    static constexpr unsigned MASTER = 0;
    static constexpr unsigned SLAVE = 1;
    static constexpr u8 CASCADE_INPUT = 2; // master input the slave drives
    static constexpr u8 SPURIOUS_INPUT = 7;
    // ELCR bits that may be set: not IRQ 0, 1, 2 (master) nor 8, 13 (slave).
    static constexpr u8 ELCR_MASTER_MASK = 0xF8;
    static constexpr u8 ELCR_SLAVE_MASK = 0xDE;

    // Where the chip is in its initialization sequence.
    static constexpr u8 INIT_READY = 0; // initialized: data-port writes are OCW1 (the mask)
    static constexpr u8 INIT_ICW2 = 1;
    static constexpr u8 INIT_ICW3 = 2;
    static constexpr u8 INIT_ICW4 = 3;

    struct Chip {
        u8 irr; // requests
        u8 isr; // in service
        u8 imr; // masked inputs
        u8 lines; // input levels as last driven (edge detection, level requests)
        u8 elcr; // level-sensitive inputs
        u8 vector_base; // ICW2, low three bits zero
        u8 icw3; // cascade configuration, kept for diagnostics
        u8 init_step; // INIT_*
        u8 icw4_needed; // ICW1 announced an ICW4
        u8 single; // ICW1: no cascade, so no ICW3
        u8 auto_eoi; // ICW4: the INTA cycle ends the service at once
        u8 rotate_on_aeoi;
        u8 nested; // ICW4 special fully nested mode (master: the cascade input does not block itself)
        u8 special_mask; // OCW3 special mask mode: masked in-service inputs do not block others
        u8 read_isr; // OCW3: the command port reads ISR (else IRR)
        u8 poll; // OCW3 poll command: the next read is the poll byte
        u8 highest; // input with the highest priority (rotation moves it)
    };

    struct State {
        Chip chip[SLAVE + 1]; // MASTER, SLAVE
    };

    // Power-on: all zero (vector base 0, nothing masked, everything edge-triggered) until
    // the guest initializes the chips.
    Pic() = default;
    Pic(const Pic &) = delete;
    Pic &operator=(const Pic &) = delete;

    bool handles(u16 port) const;
    u32 read(u16 port, u8 size, u64 now);
    void write(u16 port, u8 size, u32 value, u64 now);

    // An ISA interrupt line (0..15) changed level. Line 2 is the cascade and not an input
    // of its own; lines above 15 are ignored.
    void set_irq(u32 line, bool level) override;

    // The master's INT output: an unmasked request beats what is in service.
    bool has_pending() const;
    // The vector the next acknowledge() would return, -1 when nothing is pending.
    int pending_vector() const;
    // The INTA cycle. With nothing pending it returns the master's IR7 vector without
    // setting ISR (a spurious interrupt); a cascade request the slave no longer has gives
    // the slave's IR7 vector, with the master's cascade input in service.
    u8 acknowledge();

    const State &state() const { return state_; }
    // Takes a saved State; -BATON_EINVAL leaves the model unchanged when a field is out
    // of range or contradicts the line levels.
    [[nodiscard]] int load(const State &state);

private:
    u8 read_byte(u16 port);
    void write_byte(u16 port, u8 value);
    void write_command(Chip &chip, u8 value);
    void write_data(Chip &chip, u8 value);
    void update_cascade();

    State state_{};
};
