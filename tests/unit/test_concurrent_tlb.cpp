// SPDX-License-Identifier: MIT
// Concurrency tests of the TLB shootdown protocol with threads as CPUs: no translation outlives its change.
#include "abi/errno.h"
#include "concurrency_support.hpp"
#include "dom/tlb_shootdown.hpp"
#include "lib/time.hpp"
#include <gtest/gtest.h>

using namespace concurrency_test;

namespace {

// Kicks counted per CPU (host_tlb_kick is a plain function pointer).
std::atomic<unsigned> kicks[MAX_CPU_SLOTS];

void count_kick(u32 cpu) { kicks[cpu].fetch_add(1, std::memory_order_relaxed); }

class TlbShootdownTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        for (std::atomic<unsigned> &count : kicks)
            count.store(0);
        host_tlb_kick = count_kick;
    }
    void TearDown() override { host_tlb_kick = nullptr; }

    TlbShootdown tlb_;
};

} // namespace

TEST_F(TlbShootdownTest, ACpuOutsideTheGuestIsNeitherWaitedForNorKicked)
{
    EXPECT_EQ(tlb_.enter_guest(2), 0u);
    tlb_.exit_guest(2);
    EXPECT_EQ(tlb_.cpus(), TlbShootdown::CpuMask{1} << 2);
    const u64 generation = tlb_.advance();
    EXPECT_EQ(tlb_.wait(generation, NS_PER_S), 0);
    EXPECT_EQ(kicks[2].load(), 0u);
    // Entering again, it runs at the new generation: its caller flushes.
    EXPECT_EQ(tlb_.enter_guest(2), generation);
    EXPECT_EQ(tlb_.slot(2), generation + 1);
    tlb_.exit_guest(2);
    EXPECT_EQ(tlb_.slot(2), TlbShootdown::OUTSIDE);
}

TEST_F(TlbShootdownTest, ACpuAlreadyAtTheNewGenerationIsNotWaitedFor)
{
    const u64 generation = tlb_.advance();
    EXPECT_EQ(tlb_.enter_guest(5), generation);
    EXPECT_EQ(tlb_.wait(generation, NS_PER_S), 0);
    EXPECT_EQ(kicks[5].load(), 0u);
    tlb_.exit_guest(5);
}

// A CPU that never leaves the guest: the wait gives up after its timeout and names it.
// Time moves only when the CPU is kicked (host time stands still otherwise).
TEST_F(TlbShootdownTest, ACpuThatNeverAnswersTimesOutAndIsNamed)
{
    const u64 saved = host_time_ns;
    host_tlb_kick = [](u32 cpu) {
        count_kick(cpu);
        host_time_ns += 2 * NS_PER_S;
    };
    (void)tlb_.enter_guest(3);
    (void)tlb_.enter_guest(7);
    tlb_.exit_guest(7);
    const u64 generation = tlb_.advance();
    TlbShootdown::CpuMask late = 0;
    EXPECT_EQ(tlb_.wait(generation, NS_PER_S, &late), -BATON_ETIMEDOUT);
    EXPECT_EQ(late, TlbShootdown::CpuMask{1} << 3);
    EXPECT_EQ(kicks[3].load(), 1u);
    EXPECT_EQ(kicks[7].load(), 0u);
    tlb_.exit_guest(3);
    EXPECT_EQ(tlb_.wait(generation, NS_PER_S, &late), 0);
    host_time_ns = saved;
}

// CPUs inside the guest when a change comes leave only once kicked; the change must not
// return before every one of them has left. Each CPU records when it left and the
// changer when its wait returned, on one shared clock of events.
TEST_F(TlbShootdownTest, AChangeReturnsOnlyAfterEveryCpuInsideHasLeft)
{
    constexpr unsigned ROUNDS = 200;
    std::atomic<u64> clock{0};
    std::atomic<u64> left_at[CPUS + 1];
    std::atomic<unsigned> early{0};
    Barrier inside(CPUS + 1), round_over(CPUS + 1);
    std::thread changer([&] {
        for (unsigned round = 0; round < ROUNDS; round++) {
            inside.arrive_and_wait(); // every CPU is in the guest
            const u64 generation = tlb_.advance();
            EXPECT_EQ(tlb_.wait(generation, 60 * NS_PER_S), 0);
            const u64 returned_at = clock.fetch_add(1);
            round_over.arrive_and_wait(); // every CPU has left and said when
            for (unsigned cpu = 1; cpu <= CPUS; cpu++)
                if (left_at[cpu].load() > returned_at)
                    early.fetch_add(1);
        }
    });
    run_cpus(CPUS, [&](u32 cpu) {
        for (unsigned round = 0; round < ROUNDS; round++) {
            const unsigned kicked = kicks[cpu].load();
            (void)tlb_.enter_guest(cpu);
            inside.arrive_and_wait();
            // Stay in the guest until kicked, as a CPU running guest code does until the
            // interrupt; a few yields more, so a changer that did not wait would be seen.
            while (kicks[cpu].load() == kicked)
                std::this_thread::yield();
            for (int i = 0; i < 20; i++)
                std::this_thread::yield();
            left_at[cpu].store(clock.fetch_add(1));
            tlb_.exit_guest(cpu);
            round_over.arrive_and_wait();
        }
    });
    changer.join();
    EXPECT_EQ(early.load(), 0u) << "a change returned while a CPU was still in the guest";
}

// The guarantee itself: CPUs run guest code with a cached translation, refreshed only
// when their generation moved (a flush); the changer replaces the translation, shoots
// down, and only then retires the old one. No CPU may use a retired translation.
TEST_F(TlbShootdownTest, NoCpuUsesATranslationAfterTheChangeThatRemovedItReturned)
{
    host_tlb_kick = nullptr; // the CPUs leave the guest on their own, often
    constexpr unsigned CHANGES = 300;
    std::atomic<u64> translation{1}; // what the tables say now: a version number
    std::atomic<u64> retired{0}; // every version up to this one is gone from every TLB
    std::atomic<bool> done{false};
    std::atomic<u64> stale_uses{0}, uses{0};
    Barrier start(CPUS + 1);
    std::thread changer([&] {
        host_set_cpu_index(0);
        start.arrive_and_wait();
        // At least CHANGES, and on until the CPUs have run guest code a good while.
        for (unsigned i = 0; i < CHANGES || uses.load() < 40000; i++) {
            const u64 old = translation.fetch_add(1);
            const u64 generation = tlb_.advance();
            EXPECT_EQ(tlb_.wait(generation, 60 * NS_PER_S), 0);
            retired.store(old);
        }
        done.store(true);
    });
    run_cpus(CPUS, [&](u32 cpu) {
        u64 flushed_at = ~u64{0}, cached = 0;
        start.arrive_and_wait();
        while (!done.load()) {
            const u64 generation = tlb_.enter_guest(cpu);
            if (generation != flushed_at) { // the flush, then the walk that refills the TLB
                flushed_at = generation;
                cached = translation.load();
            }
            for (int access = 0; access < 16; access++) {
                if (access % 4 == 3)
                    std::this_thread::yield(); // guest code runs a while
                uses.fetch_add(1, std::memory_order_relaxed);
                if (cached <= retired.load())
                    stale_uses.fetch_add(1);
            }
            tlb_.exit_guest(cpu);
        }
    });
    changer.join();
    EXPECT_EQ(stale_uses.load(), 0u) << "of " << uses.load() << " uses";
    EXPECT_GT(uses.load(), 0u);
}
