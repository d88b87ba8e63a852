// SPDX-License-Identifier: MIT
// Gaps in a guest's own progress: timed with RDTSC, converted with a rate measured against BATON_HC_TIME.
#pragma once
#include "lib/cpu.hpp"
#include <stdint.h>

namespace guest {

// The rate of the guest's TSC, which the shared-info page does not give: measured as
// TSC ticks per BATON_HC_TIME nanosecond from the guest's first reading to its later
// ones, then kept once a second has gone by. Both clocks are the host's TSC (the guest's
// plus a fixed offset), so pauses and live updates do not skew the ratio.
class Tsc_clock {
public:
    // BATON_HC_TIME, between two TSC reads that refine the rate.
    uint64_t time_ns();
    // Ticks in microseconds; 0 before a second reading gave a rate.
    uint64_t microseconds(uint64_t ticks) const { return khz_ == 0 ? 0 : ticks * 1000 / khz_; }
    uint64_t khz() const { return khz_; }

private:
    uint64_t first_tsc_ = 0; // midpoint of the bracket around the first reading
    uint64_t first_ns_ = 0;
    uint64_t khz_ = 0;
    bool settled_ = false;
};

// The longest interval between two calls of mark(): the longest time the guest did not
// get to its next step. One RDTSC per mark. mark() may run in an interrupt handler while
// the main flow takes the maximum: take_max() swaps it out in one instruction.
class Gap_meter {
public:
    void start() { last_ = read_tsc(); }
    void mark()
    {
        uint64_t now = read_tsc();
        if (now > last_ && now - last_ > max_)
            max_ = now - last_;
        last_ = now;
    }
    // The longest gap in TSC ticks since the last take_max() (or start()); starts afresh.
    uint64_t take_max()
    {
        uint64_t max = __atomic_exchange_n(&max_, 0, __ATOMIC_SEQ_CST);
        if (max > all_time_max_)
            all_time_max_ = max;
        return max;
    }
    uint64_t all_time_max() const { return all_time_max_; }

private:
    uint64_t last_ = 0;
    uint64_t max_ = 0;
    uint64_t all_time_max_ = 0;
};

} // namespace guest
