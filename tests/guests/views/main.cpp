// SPDX-License-Identifier: MIT
// views: shows what the hypervisor's p2m views do to it. It keeps a probe page and a
// target page with different markers and reports which marker the probe page shows
// (a view may remap it), and writes a round number into a run of pages every round,
// checking that each still holds what it wrote the round before.
#include "lib/runtime.hpp"

const char guest_name[] = "views";

namespace {

constexpr uint64_t PROBE_MARKER = 0x50524f4245505250; // "PRPEBORP"
constexpr uint64_t TARGET_MARKER = 0x5441524745545447; // "GTTEGRAT"
constexpr uint64_t WRITTEN_PAGES = 16;
constexpr uint64_t ROUND_NS = 200 * guest::NS_PER_MS;

volatile uint64_t *page(uint64_t gfn) { return guest::at_gpa<volatile uint64_t>(gfn << guest::PAGE_SHIFT); }

const char *shown_by(uint64_t word)
{
    if (word == PROBE_MARKER)
        return "probe";
    if (word == TARGET_MARKER)
        return "target";
    return "other";
}

} // namespace

void guest_main(const baton_start_info *)
{
    const guest::Free_frames region = guest::free_frames();
    if (region.count() < 2 + WRITTEN_PAGES) {
        guest::result_fail("not enough free memory for the probe, target and written pages");
        return;
    }
    const uint64_t probe = region.first_gfn, target = probe + 1, written = probe + 2;
    page(probe)[0] = PROBE_MARKER;
    page(target)[0] = TARGET_MARKER;
    guest::report("probe=0x%lx target=0x%lx written=0x%lx-0x%lx", probe, target, written, written + WRITTEN_PAGES - 1);
    for (uint64_t round = 1;; ++round) {
        const uint64_t next_round = guest::time_ns() + ROUND_NS;
        uint64_t stale = 0;
        for (uint64_t i = 0; i < WRITTEN_PAGES; ++i) {
            volatile uint64_t *words = page(written + i);
            if (round > 1 && words[0] != round - 1)
                ++stale;
            words[0] = round;
        }
        guest::report("round %lu probe-shows=%s written=%lu stale=%lu", round, shown_by(page(probe)[0]), WRITTEN_PAGES,
                      stale);
        while (guest::time_ns() < next_round)
            guest::block(next_round);
    }
}
