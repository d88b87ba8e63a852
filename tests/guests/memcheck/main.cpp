// SPDX-License-Identifier: MIT
// memcheck: fills its free RAM with a pattern keyed by frame number and a per-boot seed,
// then re-verifies every page forever (a pass at most every second), reporting a content
// checksum for every pass.
#include "lib/runtime.hpp"

const char guest_name[] = "memcheck";

namespace {

constexpr uint64_t WORDS_PER_PAGE = guest::PAGE_SIZE / sizeof(uint64_t);
constexpr uint64_t CHUNK_PAGES = 64; // pages between yields
constexpr uint64_t REPORTED_MISMATCHES = 4; // detailed lines per pass
constexpr uint64_t WORD_STEP = 0x9e3779b97f4a7c15;
// A pass starts at most this often: small RAM verifies in milliseconds, and a pass line
// per millisecond would flood the console and starve the other guests.
constexpr uint64_t PASS_PERIOD_NS = guest::NS_PER_SECOND;

// Chosen once per boot and kept in the guest's own memory, so every later pass (also
// after live updates) checks against the same pattern.
uint64_t seed;
guest::Free_frames region;

uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9;
    x ^= x >> 27;
    x *= 0x94d049bb133111eb;
    return x ^ (x >> 31);
}

// Word i of frame gfn holds page_key(gfn) + i * WORD_STEP: every word of every frame
// differs, so a swapped, shifted or stale page shows.
uint64_t page_key(uint64_t gfn) { return mix(seed ^ mix(gfn)); }

// FNV-1a over 64-bit words, in frame order: a function of the contents only.
struct Checksum {
    uint64_t value = 0xcbf29ce484222325;
    void add(uint64_t word) { value = (value ^ word) * 0x100000001b3; }
};

volatile uint64_t *page(uint64_t gfn) { return guest::at_gpa<volatile uint64_t>(gfn << guest::PAGE_SHIFT); }

uint64_t fill()
{
    Checksum checksum;
    for (uint64_t gfn = region.first_gfn; gfn < region.end_gfn; ++gfn) {
        volatile uint64_t *words = page(gfn);
        uint64_t expected = page_key(gfn);
        for (uint64_t i = 0; i < WORDS_PER_PAGE; ++i, expected += WORD_STEP) {
            words[i] = expected;
            checksum.add(expected);
        }
        if ((gfn - region.first_gfn) % CHUNK_PAGES == CHUNK_PAGES - 1)
            guest::yield();
    }
    return checksum.value;
}

// Reads every word once; returns the number of words that differ from the pattern.
uint64_t verify(uint64_t pass, Checksum &checksum)
{
    uint64_t mismatches = 0;
    for (uint64_t gfn = region.first_gfn; gfn < region.end_gfn; ++gfn) {
        volatile uint64_t *words = page(gfn);
        uint64_t expected = page_key(gfn);
        for (uint64_t i = 0; i < WORDS_PER_PAGE; ++i, expected += WORD_STEP) {
            uint64_t found = words[i];
            checksum.add(found);
            if (found == expected)
                continue;
            if (++mismatches <= REPORTED_MISMATCHES)
                guest::report("mismatch pass=%lu gfn=0x%lx offset=0x%03lx expected=0x%016lx found=0x%016lx", pass, gfn,
                              i * sizeof(uint64_t), expected, found);
        }
        if ((gfn - region.first_gfn) % CHUNK_PAGES == CHUNK_PAGES - 1)
            guest::yield();
    }
    return mismatches;
}

} // namespace

void guest_main(const baton_start_info *)
{
    region = guest::free_frames();
    if (region.count() == 0) {
        guest::result_fail("no free memory to check");
        return;
    }
    seed = mix(guest::time_ns() ^ 0x6d656d636865636b);
    guest::report("region gfn=0x%lx-0x%lx pages=%lu seed=0x%016lx", region.first_gfn, region.end_gfn - 1,
                  region.count(), seed);
    uint64_t filled = fill();
    guest::report("filled %lu pages checksum=0x%016lx", region.count(), filled);
    for (uint64_t pass = 1;; ++pass) {
        uint64_t next_pass = guest::time_ns() + PASS_PERIOD_NS;
        Checksum checksum;
        uint64_t mismatches = verify(pass, checksum);
        guest::report("pass %lu verified %lu pages mismatches=%lu checksum=0x%016lx time_ms=%lu", pass, region.count(),
                      mismatches, checksum.value, guest::time_ns() / guest::NS_PER_MS);
        while (guest::time_ns() < next_pass)
            guest::block(next_pass); // no events are bound: this sleeps until the deadline
    }
}
