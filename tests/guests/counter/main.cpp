// SPDX-License-Identifier: MIT
// counter: counts forever and reports progress about every 200 ms of hypervisor time.
#include "lib/gaps.hpp"
#include "lib/runtime.hpp"

const char guest_name[] = "counter";

namespace {

constexpr uint64_t BURST = 1 << 20; // increments between yields (a few ms)
// Increments between two TSC reads of the gap meter: a few microseconds, far finer than
// the gaps it is there to see, and the RDTSC costs little beside them.
constexpr uint64_t STRIDE = 1 << 10;
constexpr uint64_t TICK_NS = 200 * guest::NS_PER_MS;

// Kept in memory (not only in registers) so that a live update has something to carry.
uint64_t count;
uint64_t ticks;

guest::Tsc_clock clock;
guest::Gap_meter gaps;

} // namespace

void guest_main(const baton_start_info *)
{
    uint64_t started = clock.time_ns();
    uint64_t last_time = started;
    uint64_t next_tick = started + TICK_NS;
    gaps.start();
    for (;;) {
        for (uint64_t done = 0; done < BURST; done += STRIDE) {
            for (uint64_t i = 0; i < STRIDE; ++i) {
                count = count + 1;
                asm volatile("" ::: "memory"); // one real store per increment
            }
            gaps.mark();
        }
        guest::yield();
        uint64_t now = clock.time_ns();
        // The yield is where the hypervisor most often takes its turn (a live update's
        // pause, other domains): count that gap in this tick, not the next.
        gaps.mark();
        if (now < last_time)
            guest::report("ERROR time went backwards from %lu to %lu ns", last_time, now);
        last_time = now;
        if (now >= next_tick) {
            ++ticks;
            // The longest time without progress since the last tick: a live update's
            // pause shows up in the first tick after it.
            guest::report("tick %lu count=%lu time_ms=%lu max_gap_us=%lu", ticks, count, now / guest::NS_PER_MS,
                          clock.microseconds(gaps.take_max()));
            // After a long pause (a live update, a busy host) resume the cadence from now.
            next_tick = now - next_tick < TICK_NS ? next_tick + TICK_NS : now + TICK_NS;
        }
    }
}
