// SPDX-License-Identifier: MIT
// counter: counts forever and reports progress about every 200 ms of hypervisor time.
#include "lib/runtime.hpp"

const char guest_name[] = "counter";

namespace {

constexpr uint64_t BURST = 1 << 20; // increments between yields (a few ms)
constexpr uint64_t TICK_NS = 200 * guest::NS_PER_MS;

// Kept in memory (not only in registers) so that a live update has something to carry.
uint64_t count;
uint64_t ticks;

} // namespace

void guest_main(const baton_start_info *)
{
    uint64_t started = guest::time_ns();
    uint64_t last_time = started;
    uint64_t next_tick = started + TICK_NS;
    for (;;) {
        for (uint64_t i = 0; i < BURST; ++i) {
            count = count + 1;
            asm volatile("" ::: "memory"); // one real store per increment
        }
        guest::yield();
        uint64_t now = guest::time_ns();
        if (now < last_time)
            guest::report("ERROR time went backwards from %lu to %lu ns", last_time, now);
        last_time = now;
        if (now >= next_tick) {
            ++ticks;
            guest::report("tick %lu count=%lu time_ms=%lu", ticks, count, now / guest::NS_PER_MS);
            // After a long pause (a live update, a busy host) resume the cadence from now.
            next_tick = now - next_tick < TICK_NS ? next_tick + TICK_NS : now + TICK_NS;
        }
    }
}
