// SPDX-License-Identifier: MIT
// remap: one vCPU moves the shared-info page between two RAM pages while the others read them.
//
// vCPU 0 maps the shared-info page over one of two pages of its own RAM
// (BATON_HC_SHARED_INFO_MAP), and when the hypercall has returned publishes which one.
// Every other vCPU then reads both pages: the covered one must show the shared-info page
// (a build id), the other its own RAM again, with the pattern written at the start. A
// reader that saw the old frame through a translation the hypervisor did not shoot down
// would count a stale read. The guest needs vcpus=2 or more; it runs until destroyed and
// reports every REPORT_ROUNDS rounds.
#include "lib/runtime.hpp"
#include "lib/smp.hpp"

const char guest_name[] = "remap";

namespace {

constexpr uint64_t REPORT_ROUNDS = 200;
constexpr uint64_t WORDS = guest::PAGE_SIZE / sizeof(uint64_t);

constexpr uint64_t pattern(unsigned page, uint64_t word) { return 0x52454d4150000000ull | uint64_t{page} << 16 | word; }

alignas(4096) uint64_t pages[2][WORDS];

// Written by vCPU 0 once the hypercall returned: the round and the page now covered.
uint64_t round;
uint64_t covered;
// How many readers finished each round, and what they saw wrong (since the start).
uint64_t readers_done;
uint64_t stale_reads;
uint64_t torn_pages;
unsigned vcpus;

uint64_t gfn_of(unsigned page) { return reinterpret_cast<uint64_t>(&pages[page][0]) >> guest::PAGE_SHIFT; }

// The shared-info page names the running hypervisor; a RAM page of this guest never does.
bool shows_shared_info(const volatile uint64_t *page)
{
    const auto *info = reinterpret_cast<const volatile baton_shared_info *>(page);
    return info->hypervisor_build_id[0] != 0 && page[0] != pattern(0, 0) && page[0] != pattern(1, 0);
}

// Every word of an uncovered page is the pattern it was filled with.
bool shows_own_ram(const volatile uint64_t *page, unsigned index)
{
    for (uint64_t w = 0; w < WORDS; ++w)
        if (page[w] != pattern(index, w))
            return false;
    return true;
}

void read_forever(unsigned)
{
    uint64_t seen = 0;
    for (;;) {
        guest::wait_at_least(&round, seen + 1);
        seen = __atomic_load_n(&round, __ATOMIC_ACQUIRE);
        const unsigned on = static_cast<unsigned>(__atomic_load_n(&covered, __ATOMIC_RELAXED));
        const volatile uint64_t *mapped = pages[on];
        const volatile uint64_t *uncovered = pages[1 - on];
        if (!shows_shared_info(mapped))
            __atomic_add_fetch(&stale_reads, 1, __ATOMIC_RELAXED);
        if (!shows_own_ram(uncovered, 1 - on))
            __atomic_add_fetch(&torn_pages, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&readers_done, 1, __ATOMIC_RELEASE);
    }
}

} // namespace

void guest_main(const baton_start_info *)
{
    for (unsigned p = 0; p < 2; ++p)
        for (uint64_t w = 0; w < WORDS; ++w)
            pages[p][w] = pattern(p, w);
    vcpus = guest::vcpu_count();
    if (vcpus < 2) {
        guest::report("ERROR remap needs vcpus=2 or more (it has %u)", vcpus);
        return;
    }
    vcpus = guest::start_vcpus(vcpus, read_forever);
    guest::report("pages at gfn 0x%lx and 0x%lx, %u readers", gfn_of(0), gfn_of(1), vcpus - 1);
    uint64_t failed_maps = 0;
    for (uint64_t r = 1;; ++r) {
        const unsigned on = static_cast<unsigned>(r % 2);
        const long result = guest::shared_info_map(gfn_of(on));
        if (result != 0) {
            ++failed_maps;
            guest::report("ERROR SHARED_INFO_MAP(gfn 0x%lx) -> %ld", gfn_of(on), result);
        }
        __atomic_store_n(&covered, on, __ATOMIC_RELAXED);
        __atomic_store_n(&round, r, __ATOMIC_RELEASE);
        guest::wait_at_least(&readers_done, r * (vcpus - 1));
        if (r % REPORT_ROUNDS == 0)
            guest::report("round %lu vcpus=%u stale_reads=%lu torn_pages=%lu failed_maps=%lu", r, vcpus,
                          __atomic_load_n(&stale_reads, __ATOMIC_RELAXED),
                          __atomic_load_n(&torn_pages, __ATOMIC_RELAXED), failed_maps);
    }
}
