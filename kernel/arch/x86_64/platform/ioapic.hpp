// SPDX-License-Identifier: MIT
// The IO-APIC: 24 interrupt pins, each routed by a redirection entry to the local APICs.
#pragma once
#include "arch/x86_64/platform/apic_bus.hpp"
#include "arch/x86_64/platform/device_model.hpp"
#include "lib/types.hpp"

// The 82093AA datasheet's register set at version 0x20, the version QEMU's default IO-APIC
// reports: it adds the EOI register at MMIO offset 0x40, through which Linux clears a stuck
// Remote IRR (with 0x11 it would toggle the trigger mode instead, which works here too).
// The caller decodes the MMIO access at 0xFEC00000 and passes aligned 32-bit accesses.
//
// Pin semantics, following the 82093AA:
// - An edge-triggered entry delivers on a rising edge of its unmasked pin. An edge on a
//   masked pin is lost, not latched ("ignored, not delivered or held pending").
// - A level-triggered entry delivers while its pin is asserted and Remote IRR is clear,
//   then sets Remote IRR; an EOI for its vector clears Remote IRR and delivers again if
//   the pin is still asserted. A level held while masked is delivered on unmask.
// - Only Fixed and LowestPriority entries can be level-triggered; NMI, SMI, INIT and
//   ExtINT are always edge (the SDM requires edge for them). The reserved modes (3, and 6,
//   which only the ICR knows as StartUp) send nothing.
// - set_irq's `level` means "asserted": the sinks report logical levels, so the polarity
//   bit is kept for the guest to read back but does not invert anything (as in QEMU).
// - Reads of undefined MMIO offsets or register indices return 0; writes there are dropped.
class IoApic final : public IrqSink {
public:
    // MMIO offsets.
    static constexpr u32 MMIO_SELECT = 0x00; // IOREGSEL: the register index, bits 7:0
    static constexpr u32 MMIO_WINDOW = 0x10; // IOWIN: the selected register
    static constexpr u32 MMIO_EOI = 0x40; // write a vector: as a local APIC's EOI broadcast

    // Register indices behind IOWIN.
    static constexpr u32 REG_ID = 0x00;
    static constexpr u32 REG_VERSION = 0x01;
    static constexpr u32 REG_ARBITRATION = 0x02;
    static constexpr u32 REG_REDIRECTION = 0x10; // pin n: 0x10 + 2n (low), 0x11 + 2n (high)

    static constexpr u32 PINS = 24;
    static constexpr u32 VERSION = 0x20;
    static constexpr u32 VERSION_VALUE = VERSION | ((PINS - 1) << 16); // bits 23:16: highest entry
    static constexpr u32 SELECT_BITS = 0xff;
    static constexpr u32 ID_SHIFT = 24;
    static constexpr u32 ID_BITS = 0xfu << ID_SHIFT;

    // Redirection entry fields.
    static constexpr u64 VECTOR_MASK = 0xff;
    static constexpr u32 DELIVERY_MODE_SHIFT = 8;
    static constexpr u64 DELIVERY_MODE_MASK = u64{0x7} << DELIVERY_MODE_SHIFT;
    static constexpr u64 DEST_LOGICAL = u64{1} << 11;
    static constexpr u64 DELIVERY_PENDING = u64{1} << 12; // always reads idle here
    static constexpr u64 POLARITY_LOW = u64{1} << 13;
    static constexpr u64 REMOTE_IRR = u64{1} << 14; // read-only
    static constexpr u64 TRIGGER_LEVEL = u64{1} << 15;
    static constexpr u64 MASKED = u64{1} << 16;
    static constexpr u32 DEST_SHIFT = 56;
    static constexpr u64 DEST_MASK = u64{0xff} << DEST_SHIFT;
    static constexpr u64 ENTRY_WRITABLE =
        VECTOR_MASK | DELIVERY_MODE_MASK | DEST_LOGICAL | POLARITY_LOW | TRIGGER_LEVEL | MASKED | DEST_MASK;
    static constexpr u64 ENTRY_RESET = MASKED; // every pin masked after reset

    // Everything the model is; Remote IRR lives in the entries.
    struct State {
        u64 redirection[PINS] = {};
        u32 id = 0; // ID register: bits 27:24
        u32 select = 0; // IOREGSEL
        u32 levels = 0; // bit n: pin n is asserted
        u32 reserved = 0;
        constexpr bool operator==(const State &) const = default;
    };

    // Reset state with IO-APIC ID `id` (0..15); the bus must outlive the model.
    explicit IoApic(ApicBus &bus, u8 id = 0);
    void reset(u8 id);

    // MMIO.
    u32 read(u32 offset) const;
    void write(u32 offset, u32 value);

    // Pin `line` (0..23; others are ignored) is asserted or not.
    void set_irq(u32 line, bool level) override;
    // A local APIC's EOI broadcast for a level-triggered `vector` (also the EOI register).
    void eoi(u8 vector);

    // Live update. load() refuses impossible values with -BATON_EINVAL, model unchanged.
    const State &state() const { return state_; }
    [[nodiscard]] int load(const State &state);

private:
    u32 read_register(u32 index) const;
    void write_register(u32 index, u32 value);
    void deliver(u32 pin);
    void service_level(u32 pin);

    ApicBus *bus_;
    State state_;
};

// The record holds the state as bytes: no pointers, no hidden padding.
static_assert(__is_trivially_copyable(IoApic::State));
static_assert(sizeof(IoApic::State) == IoApic::PINS * 8 + 4 * 4);
