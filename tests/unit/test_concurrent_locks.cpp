// SPDX-License-Identifier: MIT
// Concurrency tests of the reader-writer lock and of the mm lock-order checker, one record per thread.
#include "concurrency_support.hpp"
#include "mm/mm_lock.hpp"
#include <gtest/gtest.h>

using namespace concurrency_test;

TEST(RwSpinlock, ReadersHoldItTogether)
{
    RwSpinlock lock;
    Barrier all_in(CPUS);
    std::atomic<unsigned> most_seen{0};
    run_cpus(CPUS, [&](u32) {
        lock.lock_shared();
        all_in.arrive_and_wait(); // would never return if one reader excluded another
        most_seen.store(lock.readers(), std::memory_order_relaxed);
        all_in.arrive_and_wait();
        lock.unlock_shared();
    });
    EXPECT_EQ(most_seen.load(), CPUS);
    EXPECT_FALSE(lock.is_locked());
}

// Writers keep two plain counters equal; readers, which share the lock, must never see
// them differ (a reader inside a write, or two writers at once, would).
TEST(RwSpinlock, WritersExcludeReadersAndEachOther)
{
    RwSpinlock lock;
    u64 first = 0, second = 0; // plain: only the lock orders them
    std::atomic<u64> torn{0};
    constexpr unsigned ROUNDS = 2000;
    run_cpus(CPUS, [&](u32 cpu) {
        for (unsigned i = 0; i < ROUNDS; i++) {
            if ((cpu + i) % 3 == 0) {
                lock.lock();
                first++;
                second++;
                lock.unlock();
            } else {
                lock.lock_shared();
                if (first != second)
                    torn.fetch_add(1, std::memory_order_relaxed);
                lock.unlock_shared();
            }
        }
    });
    EXPECT_EQ(torn.load(), 0u);
    EXPECT_EQ(first, second);
    EXPECT_GT(first, 0u);
}

// A writer waiting for readers bars new ones: a reader arriving after it cannot get in
// until the writer has been and gone.
TEST(RwSpinlock, AWaitingWriterBarsNewReaders)
{
    RwSpinlock lock;
    lock.lock_shared();
    std::atomic<bool> written{false};
    std::thread writer([&] {
        lock.lock();
        written.store(true, std::memory_order_relaxed);
        lock.unlock();
    });
    while (!lock.writer_waiting())
        std::this_thread::yield(); // until the writer has announced itself
    std::atomic<bool> late_reader_saw_write{false};
    std::thread reader([&] {
        lock.lock_shared();
        late_reader_saw_write.store(written.load(std::memory_order_relaxed), std::memory_order_relaxed);
        lock.unlock_shared();
    });
    lock.unlock_shared();
    writer.join();
    reader.join();
    EXPECT_TRUE(late_reader_saw_write.load());
}

// ---- the order checker under concurrency --------------------------------------------------

// Every thread takes its own domain's locks in order, read and write sides mixed, round
// after round; each sees only its own locks in its record.
TEST(MmLockConcurrency, EachThreadKeepsItsOwnRecord)
{
    MmLock frames(MmLockLevel::page_alloc, "frames");
    Barrier round(CPUS);
    std::atomic<unsigned> wrong_counts{0};
    run_cpus(CPUS, [&](u32 cpu) {
        MmRwLock p2m(MmLockLevel::p2m, "p2m", static_cast<frame_owner_t>(cpu));
        MmLock dirty(MmLockLevel::log_dirty, "log-dirty", static_cast<frame_owner_t>(cpu));
        for (unsigned i = 0; i < 200; i++) {
            round.arrive_and_wait(); // everyone holds locks at the same time
            {
                const bool read = (i + cpu) % 2 == 0;
                if (read)
                    p2m.lock_shared();
                else
                    p2m.lock();
                MmLockGuard d(dirty);
                MmLockGuard f(frames);
                if (mm_locks_held() != 3)
                    wrong_counts.fetch_add(1, std::memory_order_relaxed);
                if (read)
                    p2m.unlock_shared();
                else
                    p2m.unlock();
            }
            if (mm_locks_held() != 0)
                wrong_counts.fetch_add(1, std::memory_order_relaxed);
        }
    });
    EXPECT_EQ(wrong_counts.load(), 0u);
}

// A shared lock taken by many threads at once is recorded once per thread, and each
// thread's release forgets only its own.
TEST(MmLockConcurrency, OneReadLockHeldByManyThreads)
{
    MmRwLock p2m(MmLockLevel::p2m, "p2m", 3);
    Barrier all_in(CPUS);
    std::atomic<unsigned> wrong{0};
    run_cpus(CPUS, [&](u32) {
        MmReadGuard hold(p2m);
        all_in.arrive_and_wait();
        if (mm_locks_held() != 1)
            wrong.fetch_add(1, std::memory_order_relaxed);
        all_in.arrive_and_wait();
    });
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_FALSE(p2m.is_locked());
}

// One thread inverts the order while the others take the same locks correctly: the panic
// names the inverting thread's two locks, not what the others hold.
TEST(MmLockConcurrencyDeathTest, AnInversionOnOneThreadIsCaughtWhileOthersRun)
{
    EXPECT_DEATH(
        {
            MmLock frames(MmLockLevel::page_alloc, "frames");
            MmRwLock p2m(MmLockLevel::p2m, "p2m", 4);
            Barrier start(CPUS);
            run_cpus(CPUS, [&](u32 cpu) {
                start.arrive_and_wait();
                for (unsigned i = 0; i < 100; i++) {
                    if (cpu == 3 && i == 50) {
                        MmLockGuard f(frames);
                        MmReadGuard p(p2m); // the inversion
                    }
                    MmReadGuard p(p2m);
                    MmLockGuard f(frames);
                }
            });
        },
        "PANIC: mm lock order: taking p2m lock 'p2m' of d4 while holding page_alloc lock 'frames': levels must "
        "rise.*\\[taking a read side\\]");
}

TEST(MmLockConcurrencyDeathTest, AReadLockIsNotUpgraded)
{
    MmRwLock p2m(MmLockLevel::p2m, "p2m", 4);
    EXPECT_DEATH(
        {
            MmReadGuard read(p2m);
            MmWriteGuard write(p2m);
        },
        "taking p2m lock 'p2m' of d4 while holding p2m lock 'p2m' of d4: this CPU holds its read side: a read "
        "lock is not upgraded");
    EXPECT_DEATH(
        {
            MmReadGuard read(p2m);
            MmReadGuard again(p2m);
        },
        "this CPU already holds it");
}
