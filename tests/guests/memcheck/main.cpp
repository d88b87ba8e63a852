// SPDX-License-Identifier: MIT
// memcheck: fills its free RAM with a pattern keyed by frame number and a per-boot seed,
// then re-verifies every page forever (a pass at most every second), reporting a content
// checksum for every pass. With vcpus=N each vCPU fills and checks a slice of its own,
// and every vCPU adds to one shared page of counters atomically; after each pass vCPU 0
// checks that they hold exactly what all vCPUs added.
#include "lib/runtime.hpp"
#include "lib/smp.hpp"

const char guest_name[] = "memcheck";

namespace {

constexpr uint64_t WORDS_PER_PAGE = guest::PAGE_SIZE / sizeof(uint64_t);
constexpr uint64_t CHUNK_PAGES = 64; // pages between yields
constexpr uint64_t REPORTED_MISMATCHES = 4; // detailed lines per pass
constexpr uint64_t WORD_STEP = 0x9e3779b97f4a7c15;
// A pass starts at most this often: small RAM verifies in milliseconds, and a pass line
// per millisecond would flood the console and starve the other guests.
constexpr uint64_t PASS_PERIOD_NS = guest::NS_PER_SECOND;
// The shared page: each vCPU adds SHARED_ROUNDS to each of its first SHARED_WORDS words
// per pass, one atomic increment at a time, yielding now and then so that the vCPUs'
// increments interleave.
constexpr uint64_t SHARED_WORDS = 64;
constexpr uint64_t SHARED_ROUNDS = 64;

// Chosen once per boot and kept in the guest's own memory, so every later pass (also
// after live updates) checks against the same pattern.
uint64_t seed;
guest::Free_frames region;
unsigned vcpus = 1;
guest::Free_frames slices[guest::MAX_VCPUS]; // SMP: each vCPU's frames
volatile uint64_t *shared; // SMP: the first free frame
uint64_t arrived; // SMP: vCPUs done with a pass, over all passes
uint64_t checked; // SMP: the last pass whose shared counters vCPU 0 checked

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

uint64_t fill(const guest::Free_frames &frames)
{
    Checksum checksum;
    for (uint64_t gfn = frames.first_gfn; gfn < frames.end_gfn; ++gfn) {
        volatile uint64_t *words = page(gfn);
        uint64_t expected = page_key(gfn);
        for (uint64_t i = 0; i < WORDS_PER_PAGE; ++i, expected += WORD_STEP) {
            words[i] = expected;
            checksum.add(expected);
        }
        if ((gfn - frames.first_gfn) % CHUNK_PAGES == CHUNK_PAGES - 1)
            guest::yield();
    }
    return checksum.value;
}

// Reads every word once; returns the number of words that differ from the pattern.
uint64_t verify(const guest::Free_frames &frames, uint64_t pass, Checksum &checksum)
{
    uint64_t mismatches = 0;
    for (uint64_t gfn = frames.first_gfn; gfn < frames.end_gfn; ++gfn) {
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
        if ((gfn - frames.first_gfn) % CHUNK_PAGES == CHUNK_PAGES - 1)
            guest::yield();
    }
    return mismatches;
}

void sleep_until(uint64_t deadline)
{
    while (guest::time_ns() < deadline)
        guest::block(deadline); // no events are bound: this sleeps until the deadline
}

void single_vcpu()
{
    uint64_t filled = fill(region);
    guest::report("filled %lu pages checksum=0x%016lx", region.count(), filled);
    for (uint64_t pass = 1;; ++pass) {
        uint64_t next_pass = guest::time_ns() + PASS_PERIOD_NS;
        Checksum checksum;
        uint64_t mismatches = verify(region, pass, checksum);
        guest::report("pass %lu verified %lu pages mismatches=%lu checksum=0x%016lx time_ms=%lu", pass, region.count(),
                      mismatches, checksum.value, guest::time_ns() / guest::NS_PER_MS);
        sleep_until(next_pass);
    }
}

void add_to_shared()
{
    for (uint64_t round = 0; round < SHARED_ROUNDS; ++round) {
        for (uint64_t w = 0; w < SHARED_WORDS; ++w)
            __atomic_fetch_add(&shared[w], 1, __ATOMIC_SEQ_CST);
        if (round % 16 == 15)
            guest::yield();
    }
}

// vCPU 0, once every vCPU finished pass `pass`: each shared word holds exactly what all
// of them added in all passes so far.
void check_shared(uint64_t pass)
{
    const uint64_t expected = pass * vcpus * SHARED_ROUNDS;
    uint64_t total = 0, wrong = 0;
    for (uint64_t w = 0; w < SHARED_WORDS; ++w) {
        const uint64_t value = __atomic_load_n(&shared[w], __ATOMIC_SEQ_CST);
        total += value;
        wrong += value != expected ? 1u : 0u;
    }
    guest::report("shared pass %lu vcpus=%u total=%lu expected=%lu wrong_words=%lu", pass, vcpus, total,
                  expected * SHARED_WORDS, wrong);
}

void smp_vcpu(unsigned vcpu)
{
    const guest::Free_frames &frames = slices[vcpu];
    uint64_t filled = fill(frames);
    guest::report("vcpu %u region gfn=0x%lx-0x%lx pages=%lu filled checksum=0x%016lx", vcpu, frames.first_gfn,
                  frames.end_gfn - 1, frames.count(), filled);
    for (uint64_t pass = 1;; ++pass) {
        uint64_t next_pass = guest::time_ns() + PASS_PERIOD_NS;
        Checksum checksum;
        uint64_t mismatches = verify(frames, pass, checksum);
        add_to_shared();
        guest::report("pass %lu verified %lu pages mismatches=%lu checksum=0x%016lx time_ms=%lu vcpu=%u", pass,
                      frames.count(), mismatches, checksum.value, guest::time_ns() / guest::NS_PER_MS, vcpu);
        // A barrier per pass: nobody adds for the next pass before vCPU 0 has checked.
        __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
        if (vcpu == 0) {
            guest::wait_at_least(&arrived, pass * vcpus);
            check_shared(pass);
            __atomic_store_n(&checked, pass, __ATOMIC_RELEASE);
        } else {
            guest::wait_at_least(&checked, pass);
        }
        sleep_until(next_pass);
    }
}

} // namespace

void guest_main(const baton_start_info *)
{
    region = guest::free_frames();
    vcpus = guest::vcpu_count();
    if (region.count() < 1 + vcpus) {
        guest::result_fail("no free memory to check");
        return;
    }
    seed = mix(guest::time_ns() ^ 0x6d656d636865636b);
    guest::report("region gfn=0x%lx-0x%lx pages=%lu seed=0x%016lx", region.first_gfn, region.end_gfn - 1,
                  region.count(), seed);
    if (vcpus == 1)
        return single_vcpu();
    // The first frame is the shared page (zero: RAM past the image is zero-filled); the
    // rest is split evenly, the last vCPU taking what the division leaves.
    shared = page(region.first_gfn);
    const uint64_t first = region.first_gfn + 1, per_vcpu = (region.end_gfn - first) / vcpus;
    for (unsigned i = 0; i < vcpus; ++i)
        slices[i] = {first + i * per_vcpu, i + 1 == vcpus ? region.end_gfn : first + (i + 1) * per_vcpu};
    for (uint64_t w = 0; w < SHARED_WORDS; ++w)
        shared[w] = 0;
    const unsigned running = guest::start_vcpus(vcpus, smp_vcpu);
    if (running != vcpus) {
        guest::result_fail("only %u of %u vCPUs started", running, vcpus);
        return;
    }
    smp_vcpu(0);
}
