// SPDX-License-Identifier: MIT
// Time keeping and the scheduler tick: TSC calibrated against the PIT, LAPIC timer.
#pragma once
#include "lib/types.hpp"

namespace timer {

inline constexpr u8 TICK_VECTOR = 0x20;
inline constexpr u8 SPURIOUS_VECTOR = 0xff;

// Masks the legacy PICs, enables the local APIC and measures the TSC and LAPIC timer
// frequencies against PIT channel 2. `origin_tsc` anchors time_now_ns(). A live update
// passes the first boot's origin and both frequencies, so time continues at the same
// rate and nothing is measured in the blackout (25 ms of PIT otherwise, 6 ms for the
// LAPIC timer alone); a frequency of 0 is measured.
void init(u64 origin_tsc, u64 known_tsc_khz = 0, u64 known_lapic_khz = 0);
u64 origin_tsc();
// Starts the periodic scheduler tick.
void start_tick(u64 period_ns);
// Called from the interrupt dispatcher for TICK_VECTOR; returns after EOI.
void handle_tick();
// Stops the tick and leaves the LAPIC quiet, for handing the machine to another image.
void quiesce();
u64 tsc_khz();
u64 lapic_khz();
u64 ticks();

} // namespace timer
