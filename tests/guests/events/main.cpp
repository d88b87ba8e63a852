// SPDX-License-Identifier: MIT
// events: the shared-info page, a periodic timer event channel and blocking, forever;
// checks masking once and reports the hypervisor generation as it changes.
#include "lib/events.hpp"
#include "lib/gaps.hpp"
#include "lib/runtime.hpp"

const char guest_name[] = "events";

namespace {

constexpr uint64_t TIMER_PERIOD_NS = 10 * guest::NS_PER_MS;
constexpr uint64_t REPORT_INTERVAL_NS = guest::NS_PER_SECOND;
constexpr uint64_t MASKED_PERIODS = 5;

volatile uint64_t timer_events;
guest::Tsc_clock clock;
// The guest blocks between timer events: its gaps are the intervals between upcalls of
// the timer port (TIMER_PERIOD_NS when nothing holds it up).
guest::Gap_meter timer_gaps;

void on_timer(unsigned)
{
    timer_events = timer_events + 1;
    timer_gaps.mark();
}

// While masked the timer must mark the port pending without an upcall; UNMASK must then
// deliver the pending event at once, before the instruction after the hypercall. (The
// port is masked from birth, as events::start masks every port: no early upcall can
// spoil the count.)
bool mask_check(unsigned port)
{
    guest::events::mask(port);
    uint64_t upcalls_before = guest::events::statistics().upcalls;
    guest::events::wait_until(guest::time_ns() + MASKED_PERIODS * TIMER_PERIOD_NS, [] { return false; });
    bool pending = guest::events::is_pending(port);
    uint64_t while_masked = guest::events::statistics().upcalls - upcalls_before;
    uint64_t before_unmask = timer_events;
    long unmasked = guest::events::unmask(port);
    bool immediate = timer_events != before_unmask;
    guest::events::wait_until(guest::time_ns() + MASKED_PERIODS * TIMER_PERIOD_NS,
                              [&] { return timer_events != before_unmask; });
    bool arrived = timer_events != before_unmask;
    bool pass = pending && while_masked == 0 && unmasked == 0 && immediate;
    if (pass)
        guest::report("mask check PASS");
    else
        guest::report("mask check FAIL pending_while_masked=%d upcalls_while_masked=%lu unmask=%ld delivery=%s",
                      pending, while_masked, unmasked,
                      immediate ? "immediate"
                      : arrived ? "late"
                                : "none");
    return pass;
}

struct Hypervisor_identity {
    uint64_t generation;
    char build_id[sizeof(baton_shared_info::hypervisor_build_id)];
};

Hypervisor_identity hypervisor_identity()
{
    volatile baton_shared_info &shared = guest::events::shared_info();
    Hypervisor_identity identity{shared.hypervisor_generation, {}};
    for (size_t i = 0; i + 1 < sizeof(identity.build_id); ++i) // NUL-terminated even if the page is not
        identity.build_id[i] = shared.hypervisor_build_id[i];
    return identity;
}

} // namespace

void guest_main(const baton_start_info *)
{
    uint64_t gfn = guest::free_frames().first_gfn;
    if (guest::free_frames().count() == 0) {
        guest::result_fail("no free frame for the shared-info page");
        return;
    }
    if (long result = guest::events::start(gfn); result != 0) {
        guest::result_fail("event setup failed (%ld)", result);
        return;
    }
    long port = guest::events::bind_timer(TIMER_PERIOD_NS, on_timer);
    if (port < 0) {
        guest::result_fail("BIND_TIMER(%lu ns) -> %ld", TIMER_PERIOD_NS, port);
        return;
    }
    guest::report("shared info at gfn 0x%lx upcall vector %u timer port %ld period_ms=%lu", gfn,
                  guest::events::UPCALL_VECTOR, port, TIMER_PERIOD_NS / guest::NS_PER_MS);
    clock.time_ns(); // the first reading of the TSC rate's measurement
    timer_gaps.start();
    mask_check(static_cast<unsigned>(port));

    Hypervisor_identity seen = hypervisor_identity();
    guest::report("hypervisor generation %lu build %s", seen.generation, seen.build_id);
    uint64_t next_report = clock.time_ns() + REPORT_INTERVAL_NS;
    timer_gaps.take_max(); // the mask check held events back on purpose
    uint64_t events_at_last_report = timer_events;
    for (;;) {
        guest::events::wait_until(next_report, [] { return false; });
        uint64_t now = clock.time_ns();
        // Waking up is progress too, and an update that paused the guest in its wait is
        // then counted in this report even if no timer upcall came after it yet.
        guest::disable_interrupts(); // not interleaved with on_timer's mark
        timer_gaps.mark();
        guest::enable_interrupts();
        Hypervisor_identity current = hypervisor_identity();
        if (current.generation != seen.generation)
            guest::report("hypervisor changed: generation %lu build %s", current.generation, current.build_id);
        seen = current;
        uint64_t events = timer_events;
        if (events == events_at_last_report)
            guest::report("ERROR no timer events in the last %lu ms", REPORT_INTERVAL_NS / guest::NS_PER_MS);
        events_at_last_report = events;
        guest::events::Statistics statistics = guest::events::statistics();
        guest::report("timer events=%lu time_ms=%lu generation=%lu upcalls=%lu stray=%lu max_gap_us=%lu", events,
                      now / guest::NS_PER_MS, current.generation, statistics.upcalls, statistics.stray_events,
                      clock.microseconds(timer_gaps.take_max()));
        // After a long pause (a live update, a busy host) resume the cadence from now.
        next_report =
            now - next_report < REPORT_INTERVAL_NS ? next_report + REPORT_INTERVAL_NS : now + REPORT_INTERVAL_NS;
    }
}
