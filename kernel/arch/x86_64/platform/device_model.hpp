// SPDX-License-Identifier: MIT
// What every guest-platform device model shares: guest time in TSC ticks, interrupt lines.
#pragma once
#include "arch/x86_64/platform/mul_div.hpp"
#include "lib/types.hpp"

// The device models (docs/guest-platform.md) are pure logic: no port I/O, no clock reads,
// no allocation. The vCPU exit handler passes in the guest's TSC at the access ("now"),
// and each model keeps its whole state in one plain struct (`State`) that is written into
// the handover record field for field, so it survives a live update by construction.
//
// Timers are deadlines in guest TSC ticks. A model with a timer answers
// next_deadline() (PLATFORM_NO_DEADLINE when idle) and does what is due in
// advance(now); the caller calls advance when a deadline passes and before each access.

inline constexpr u64 PLATFORM_NO_DEADLINE = ~u64{0};

// Converts between a device's own clock and guest TSC ticks, exactly (rounded down,
// saturating; mul_div.hpp).
struct TscClock {
    u64 tsc_hz = 0;

    constexpr u64 ticks_from(u64 count, u64 device_hz) const { return mul_div(count, tsc_hz, device_hz); }
    constexpr u64 count_from(u64 ticks, u64 device_hz) const { return mul_div(ticks, device_hz, tsc_hz); }
};

// Where a device model drives an interrupt line. `line` is the model's own output
// (an ISA IRQ number for the legacy devices); the platform routes it to the PIC and the
// IO-APIC. Edge-triggered devices raise then lower; level-triggered ones hold the level.
class IrqSink {
public:
    virtual void set_irq(u32 line, bool level) = 0;

protected:
    ~IrqSink() = default;
};
