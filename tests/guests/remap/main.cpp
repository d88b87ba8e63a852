// SPDX-License-Identifier: MIT
// remap: one vCPU moves the shared-info page between two RAM pages while the others read them.
//
// vCPU 0 maps the shared-info page over one of two pages of its own RAM
// (BATON_HC_SHARED_INFO_MAP), and when the hypercall has returned publishes which one.
// Every other vCPU then reads both pages: the covered one must show the shared-info page
// (a build id), the other its own RAM again, with the pattern written at the start. A
// reader that saw the old frame through a translation the hypervisor did not shoot down
// would count a stale read. Each vCPU also maps its own info page (BATON_HC_VCPU_INFO_MAP)
// and checks that it names it; the report shows the physical CPU each vCPU was last
// scheduled on, from those pages. The guest needs vcpus=2 or more; it runs until
// destroyed and reports every REPORT_ROUNDS rounds.
#include "lib/runtime.hpp"
#include "lib/smp.hpp"

const char guest_name[] = "remap";

namespace {

constexpr uint64_t REPORT_ROUNDS = 200;
constexpr uint64_t WORDS = guest::PAGE_SIZE / sizeof(uint64_t);

constexpr uint64_t pattern(unsigned page, uint64_t word) { return 0x52454d4150000000ull | uint64_t{page} << 16 | word; }

alignas(4096) uint64_t pages[2][WORDS];
// Where each vCPU maps its info page (the RAM under it is never used otherwise).
alignas(4096) uint8_t info_pages[guest::MAX_VCPUS][guest::PAGE_SIZE];

const volatile baton_vcpu_info *info_of(unsigned vcpu)
{
    return reinterpret_cast<const volatile baton_vcpu_info *>(&info_pages[vcpu][0]);
}

// Written by vCPU 0 once the hypercall returned: the round and the page now covered.
uint64_t round;
uint64_t covered;
// How many readers finished each round, and what they saw wrong (since the start).
uint64_t readers_done;
uint64_t stale_reads;
uint64_t torn_pages;
unsigned vcpus;
uint64_t info_errors; // info pages refused or naming another vCPU

// Maps this vCPU's info page over its slot and checks it is this vCPU's.
void map_own_info(unsigned vcpu)
{
    const uint64_t gfn = reinterpret_cast<uint64_t>(&info_pages[vcpu][0]) >> guest::PAGE_SHIFT;
    const long result = guest::vcpu_info_map(vcpu, gfn);
    const volatile baton_vcpu_info *info = info_of(vcpu);
    if (result != 0 || info->vcpu_id != vcpu) {
        __atomic_add_fetch(&info_errors, 1, __ATOMIC_RELAXED);
        guest::report("ERROR VCPU_INFO_MAP(%u, gfn 0x%lx) -> %ld, the page names vCPU %u", vcpu, gfn, result,
                      info->vcpu_id);
    }
}

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

void read_forever(unsigned vcpu)
{
    map_own_info(vcpu);
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
    map_own_info(0);
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
        if (r % REPORT_ROUNDS == 0) {
            guest::Line_writer line;
            line.format("%s: round %lu vcpus=%u stale_reads=%lu torn_pages=%lu failed_maps=%lu info_errors=%lu cpus=",
                        guest_name, r, vcpus, __atomic_load_n(&stale_reads, __ATOMIC_RELAXED),
                        __atomic_load_n(&torn_pages, __ATOMIC_RELAXED), failed_maps,
                        __atomic_load_n(&info_errors, __ATOMIC_RELAXED));
            for (unsigned v = 0; v < vcpus; ++v)
                line.format(v == 0 ? "%u" : ",%u", info_of(v)->cpu);
            line.send();
        }
    }
}
