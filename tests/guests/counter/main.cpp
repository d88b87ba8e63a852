// SPDX-License-Identifier: MIT
// counter: counts forever and reports progress about every 200 ms of hypervisor time.
// With vcpus=N every vCPU counts on a counter of its own; vCPU 0 reports them all.
#include "lib/gaps.hpp"
#include "lib/runtime.hpp"
#include "lib/smp.hpp"

const char guest_name[] = "counter";

namespace {

constexpr uint64_t BURST = 1 << 20; // increments between yields (a few ms)
// Increments between two TSC reads of the gap meter: a few microseconds, far finer than
// the gaps it is there to see, and the RDTSC costs little beside them.
constexpr uint64_t STRIDE = 1 << 10;
constexpr uint64_t TICK_NS = 200 * guest::NS_PER_MS;

// Kept in memory (not only in registers) so that a live update has something to carry:
// one counter per vCPU, each written only by its vCPU (and read by vCPU 0).
uint64_t counts[guest::MAX_VCPUS];
uint64_t ticks;
unsigned vcpus = 1;

guest::Tsc_clock clock;
guest::Gap_meter gaps;

void count_stride(unsigned vcpu)
{
    for (uint64_t i = 0; i < STRIDE; ++i) {
        __atomic_store_n(&counts[vcpu], counts[vcpu] + 1, __ATOMIC_RELAXED);
        asm volatile("" ::: "memory"); // one real store per increment
    }
}

// vCPUs other than 0 count and let the others run; vCPU 0 reports for them.
void count_forever(unsigned vcpu)
{
    for (;;) {
        for (uint64_t done = 0; done < BURST; done += STRIDE)
            count_stride(vcpu);
        guest::yield();
    }
}

// The tick line; an SMP domain's ends in every vCPU's count ("vcpus=N counts=c0,c1,...").
void report_tick(uint64_t now)
{
    const uint64_t max_gap_us = clock.microseconds(gaps.take_max());
    if (vcpus == 1) {
        guest::report("tick %lu count=%lu time_ms=%lu max_gap_us=%lu", ticks, counts[0], now / guest::NS_PER_MS,
                      max_gap_us);
        return;
    }
    guest::Line_writer line;
    line.format("%s: tick %lu count=%lu time_ms=%lu max_gap_us=%lu vcpus=%u counts=", guest_name, ticks,
                __atomic_load_n(&counts[0], __ATOMIC_RELAXED), now / guest::NS_PER_MS, max_gap_us, vcpus);
    for (unsigned i = 0; i < vcpus; ++i)
        line.format(i == 0 ? "%lu" : ",%lu", __atomic_load_n(&counts[i], __ATOMIC_RELAXED));
    line.send();
}

} // namespace

void guest_main(const baton_start_info *)
{
    vcpus = guest::vcpu_count();
    if (vcpus > 1)
        vcpus = guest::start_vcpus(vcpus, count_forever);
    uint64_t started = clock.time_ns();
    uint64_t last_time = started;
    uint64_t next_tick = started + TICK_NS;
    gaps.start();
    for (;;) {
        for (uint64_t done = 0; done < BURST; done += STRIDE) {
            count_stride(0);
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
            report_tick(now);
            // After a long pause (a live update, a busy host) resume the cadence from now.
            next_tick = now - next_tick < TICK_NS ? next_tick + TICK_NS : now + TICK_NS;
        }
    }
}
