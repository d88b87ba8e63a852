// SPDX-License-Identifier: MIT
// Unit tests for the mm locks: the spinlock, the level order, the cross-domain rule, and
// the locks the frame allocator, the heap and the p2m really take.
#include "mm/mm_lock.hpp"
#include "mm/slab.hpp"
#include "test_p2m_support.hpp"
#include <atomic>
#include <gtest/gtest.h>
#include <string>
#include <thread>

using namespace p2m_test;

namespace {

// What the panic says when `taking` follows `held` out of order.
std::string order_panic(const char *taking, const char *held)
{
    return std::string("PANIC: mm lock order: taking ") + taking + " while holding " + held;
}

} // namespace

// ---- the spinlock ------------------------------------------------------------------------

TEST(Spinlock, TryLockFailsWhileHeld)
{
    Spinlock lock;
    EXPECT_FALSE(lock.is_locked());
    ASSERT_TRUE(lock.try_lock());
    EXPECT_TRUE(lock.is_locked());
    EXPECT_FALSE(lock.try_lock());
    lock.unlock();
    EXPECT_TRUE(lock.try_lock());
    lock.unlock();
}

TEST(Spinlock, ExcludesAnotherThread)
{
    Spinlock lock;
    u64 counter = 0; // plain: only the lock keeps the two threads' increments apart
    constexpr unsigned ROUNDS = 200000;
    auto work = [&] {
        for (unsigned i = 0; i < ROUNDS; i++) {
            lock.lock();
            counter++;
            lock.unlock();
        }
    };
    std::thread other(work);
    work();
    other.join();
    EXPECT_EQ(counter, 2u * ROUNDS);
}

// ---- the level order ---------------------------------------------------------------------

TEST(MmLockOrder, LevelsAreDocumentedOutermostFirst)
{
    const char *expected[] = {"hypervisor", "p2m", "altp2m_list", "altp2m", "log_dirty", "heap", "page_alloc"};
    ASSERT_EQ(std::size(MM_LOCK_LEVELS), std::size(expected));
    for (usize i = 0; i < std::size(expected); i++) {
        EXPECT_STREQ(mm_lock_level_name(MM_LOCK_LEVELS[i]), expected[i]);
        if (i > 0) {
            EXPECT_LT(MM_LOCK_LEVELS[i - 1], MM_LOCK_LEVELS[i]);
        }
    }
}

TEST(MmLockOrder, EveryLevelInOrderNests)
{
    ASSERT_TRUE(MM_LOCK_CHECKS) << "the unit tests build with BATON_DEBUG_LOCKS";
    MmLock p2m(MmLockLevel::p2m, "p2m", 3), list(MmLockLevel::altp2m_list, "views", 3),
        view(MmLockLevel::altp2m, "view 1", 3), dirty(MmLockLevel::log_dirty, "log-dirty", 3),
        heap(MmLockLevel::heap, "heap"), pages(MmLockLevel::page_alloc, "frames");
    {
        MmLockGuard a(p2m), b(list), c(view), d(dirty), e(heap), f(pages);
        EXPECT_EQ(mm_locks_held(), 6u);
        EXPECT_TRUE(p2m.is_locked() && pages.is_locked());
    }
    EXPECT_EQ(mm_locks_held(), 0u);
    EXPECT_FALSE(p2m.is_locked() || pages.is_locked());
    // Levels may be skipped, and locks released in any order.
    p2m.lock();
    dirty.lock();
    pages.lock();
    p2m.unlock();
    pages.unlock();
    EXPECT_EQ(mm_locks_held(), 1u);
    heap.lock(); // above the one still held
    heap.unlock();
    dirty.unlock();
    EXPECT_EQ(mm_locks_held(), 0u);
}

TEST(MmLockOrder, ALockIsTakenAgainAfterItsRelease)
{
    MmLock pages(MmLockLevel::page_alloc, "frames");
    for (int i = 0; i < 3; i++) {
        MmLockGuard hold(pages);
        EXPECT_EQ(mm_locks_held(), 1u);
    }
    EXPECT_EQ(mm_locks_held(), 0u);
}

TEST(MmLockOrder, TryLockTakesAFreeLockAndRecordsIt)
{
    MmLock hypervisor(MmLockLevel::hypervisor, "hypervisor");
    ASSERT_TRUE(hypervisor.try_lock());
    EXPECT_EQ(mm_locks_held(), 1u);
    bool other_got_it = true;
    std::thread other([&] { other_got_it = hypervisor.try_lock(); }); // held: no spinning, no record
    other.join();
    EXPECT_FALSE(other_got_it);
    hypervisor.unlock();
    EXPECT_EQ(mm_locks_held(), 0u);
}

TEST(MmLockDeathTest, TryLockIsOrderCheckedToo)
{
    MmLock hypervisor(MmLockLevel::hypervisor, "hypervisor"), p2m(MmLockLevel::p2m, "p2m", 3);
    EXPECT_DEATH(
        {
            MmLockGuard hold(p2m);
            (void)hypervisor.try_lock();
        },
        order_panic("hypervisor lock 'hypervisor'", "p2m lock 'p2m' of d3") + ": levels must rise");
}

TEST(MmLockOrder, EachThreadHasItsOwnRecord)
{
    MmLock mine(MmLockLevel::page_alloc, "frames"), theirs(MmLockLevel::p2m, "p2m", 1);
    MmLockGuard hold(mine);
    // Another CPU holding nothing may take a lock that ranks below one held here.
    std::thread other([&] {
        EXPECT_EQ(mm_locks_held(), 0u);
        MmLockGuard its(theirs);
        EXPECT_EQ(mm_locks_held(), 1u);
    });
    other.join();
    EXPECT_EQ(mm_locks_held(), 1u);
}

TEST(MmLockDeathTest, EveryInversionIsCaughtWithBothLevelsNamed)
{
    for (usize outer = 0; outer < std::size(MM_LOCK_LEVELS); outer++) {
        for (usize inner = outer + 1; inner < std::size(MM_LOCK_LEVELS); inner++) {
            const MmLockLevel low = MM_LOCK_LEVELS[outer], high = MM_LOCK_LEVELS[inner];
            const std::string low_level = mm_lock_level_name(low), high_level = mm_lock_level_name(high);
            MmLock first(high, "held one", 4), second(low, "wanted one", 4);
            EXPECT_DEATH(
                {
                    MmLockGuard hold(first);
                    MmLockGuard take(second);
                },
                order_panic((low_level + " lock 'wanted one' of d4").c_str(),
                            (high_level + " lock 'held one' of d4").c_str()) +
                    ": levels must rise: hypervisor, p2m, altp2m_list, altp2m, log_dirty, heap, page_alloc")
                << low_level << " after " << high_level;
        }
    }
}

TEST(MmLockDeathTest, TheInversionIsReportedAgainstTheInnermostLockHeld)
{
    MmLock p2m(MmLockLevel::p2m, "p2m", 2), dirty(MmLockLevel::log_dirty, "log-dirty", 2),
        heap(MmLockLevel::heap, "heap"), view(MmLockLevel::altp2m, "view 0", 2);
    EXPECT_DEATH(
        {
            MmLockGuard a(p2m);
            MmLockGuard b(dirty);
            MmLockGuard c(heap);
            MmLockGuard d(view);
        },
        order_panic("altp2m lock 'view 0' of d2", "heap lock 'heap'") + ": levels must rise");
}

TEST(MmLockDeathTest, TakingAHeldLockAgainPanicsInsteadOfSpinning)
{
    MmLock p2m(MmLockLevel::p2m, "p2m", 5);
    EXPECT_DEATH(
        {
            MmLockGuard hold(p2m);
            MmLockGuard again(p2m);
        },
        order_panic("p2m lock 'p2m' of d5", "p2m lock 'p2m' of d5") + ": this CPU already holds it");
}

TEST(MmLockDeathTest, TwoLocksOfOneLevelAndDomainAreRefused)
{
    MmLock one(MmLockLevel::altp2m, "view 0", 5), two(MmLockLevel::altp2m, "view 1", 5);
    EXPECT_DEATH(
        {
            MmLockGuard hold(one);
            MmLockGuard take(two);
        },
        order_panic("altp2m lock 'view 1' of d5", "altp2m lock 'view 0' of d5") +
            ": one lock of a level per domain at a time");
    MmLock frames(MmLockLevel::page_alloc, "frames"), other(MmLockLevel::page_alloc, "other frames");
    EXPECT_DEATH(
        {
            MmLockGuard hold(frames);
            MmLockGuard take(other);
        },
        order_panic("page_alloc lock 'other frames'", "page_alloc lock 'frames'"));
}

TEST(MmLockDeathTest, ReleasingALockNotHeldPanics)
{
    MmLock dirty(MmLockLevel::log_dirty, "log-dirty", 1);
    EXPECT_DEATH(dirty.unlock(), "PANIC: mm lock order: releasing log_dirty lock 'log-dirty' of d1, which this CPU "
                                 "does not hold");
}

TEST(MmLockDeathTest, TheRecordHasABound)
{
    MmLock locks[] = {{MmLockLevel::p2m, "p2m", 1}, {MmLockLevel::p2m, "p2m", 2}, {MmLockLevel::p2m, "p2m", 3},
                      {MmLockLevel::p2m, "p2m", 4}, {MmLockLevel::p2m, "p2m", 5}, {MmLockLevel::p2m, "p2m", 6},
                      {MmLockLevel::p2m, "p2m", 7}, {MmLockLevel::p2m, "p2m", 8}, {MmLockLevel::p2m, "p2m", 9}};
    EXPECT_DEATH(
        {
            for (MmLock &lock : locks)
                lock.lock();
        },
        "taking p2m lock 'p2m' of d9 with 8 mm locks held already");
}

// ---- locks of other domains: within a level, by domain id ---------------------------------

TEST(MmLockCrossDomain, AControlOperationTakesAnotherDomainsLocks)
{
    // No current domain, or domain 9 acting on domain 4 while holding none of its own:
    // nothing is held, so any domain's locks may be taken, in level order.
    MmLock p2m(MmLockLevel::p2m, "p2m", 4), dirty(MmLockLevel::log_dirty, "log-dirty", 4);
    MmLock pages(MmLockLevel::page_alloc, "frames");
    MmLockGuard a(p2m), b(dirty), c(pages);
    EXPECT_EQ(mm_locks_held(), 3u);
}

TEST(MmLockCrossDomain, TwoDomainsAtOneLevelGoInDomainIdOrder)
{
    MmLock low(MmLockLevel::p2m, "p2m", 2), high(MmLockLevel::p2m, "p2m", 5);
    MmLock low_dirty(MmLockLevel::log_dirty, "log-dirty", 2), high_dirty(MmLockLevel::log_dirty, "log-dirty", 5);
    {
        MmLockGuard a(low), b(high);
    }
    {
        // Levels first: domain 5's p2m, then domain 2's bitmap, is in order.
        MmLockGuard a(high), b(low_dirty);
    }
    {
        MmLockGuard a(low), b(high), c(low_dirty), d(high_dirty);
        EXPECT_EQ(mm_locks_held(), 4u);
    }
    EXPECT_EQ(mm_locks_held(), 0u);
}

TEST(MmLockCrossDomainDeathTest, AHigherDomainThenALowerOneIsCaught)
{
    MmLock low(MmLockLevel::p2m, "p2m", 2), high(MmLockLevel::p2m, "p2m", 5);
    EXPECT_DEATH(
        {
            MmLockGuard a(high);
            MmLockGuard b(low);
        },
        order_panic("p2m lock 'p2m' of d2", "p2m lock 'p2m' of d5") +
            ": locks of one level are taken in domain-id order");
    MmLock low_dirty(MmLockLevel::log_dirty, "log-dirty", 2), high_dirty(MmLockLevel::log_dirty, "log-dirty", 5);
    EXPECT_DEATH(
        {
            MmLockGuard a(high_dirty);
            MmLockGuard b(low_dirty);
        },
        "domain-id order");
}

TEST(MmLockCrossDomainDeathTest, ALevelInversionIsCaughtWhateverTheDomains)
{
    // p2m of X, then page allocation, then p2m of a domain that the id order allows.
    MmLock x(MmLockLevel::p2m, "p2m", 2), y(MmLockLevel::p2m, "p2m", 5), pages(MmLockLevel::page_alloc, "frames");
    EXPECT_DEATH(
        {
            MmLockGuard a(x);
            MmLockGuard b(pages);
            MmLockGuard c(y);
        },
        order_panic("p2m lock 'p2m' of d5", "page_alloc lock 'frames'") + ": levels must rise");
    // And the same level twice for one domain.
    MmLock x_again(MmLockLevel::p2m, "p2m (alias)", 2);
    EXPECT_DEATH(
        {
            MmLockGuard a(x);
            MmLockGuard b(x_again);
        },
        "one lock of a level per domain at a time");
}

// ---- the locks the real code takes -----------------------------------------------------

class MmLockedCodeTest : public P2mTest {};
using MmLockedCodeDeathTest = MmLockedCodeTest;

TEST_F(MmLockedCodeTest, EveryP2mOperationReturnsWithNoLockHeld)
{
    ASSERT_EQ(p2m().populate_ram(0, 1024, P2mAccess::rwx), 0);
    EXPECT_EQ(mm_locks_held(), 0u);
    EXPECT_EQ(p2m().populate_ram(0, 1, P2mAccess::rwx), -BATON_EEXIST) << "an early return";
    EXPECT_EQ(mm_locks_held(), 0u);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    EXPECT_EQ(p2m().enable_log_dirty(), -BATON_EBUSY);
    EXPECT_TRUE(guest_write(p2m(), 9, 1)); // nested fault: p2m, then log-dirty
    const u64 page = extra_page();
    ASSERT_EQ(p2m().map(100, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_EQ(dirty_frames(p2m(), 0, 1024, true), (std::vector<u64>{9, 100}));
    p2m().mark_dirty(5);
    EXPECT_EQ(p2m().dirty_count(), 1u);
    ASSERT_EQ(p2m().unmap(100, 1), 0);
    EXPECT_EQ(ranges_of(p2m()).size(), p2m().range_count());
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    EXPECT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    p2m().resolve_pending();
    EXPECT_EQ(p2m().audit(), 0u);
    EXPECT_EQ(mm_locks_held(), 0u);
    p2m().destroy();
    frames_->free_frames(frame_to_addr(page), 0);
    EXPECT_EQ(mm_locks_held(), 0u);
    EXPECT_EQ(all_free(), free_at_start_);
}

TEST_F(MmLockedCodeTest, AControlOperationOnALaterDomainMayHoldItsOwnP2m)
{
    ASSERT_EQ(p2m().populate_ram(0, 16, P2mAccess::rwx), 0);
    MmLock lower_domain(MmLockLevel::p2m, "p2m", DOMAIN - 1);
    MmLockGuard hold(lower_domain);
    EXPECT_EQ(p2m().lookup(3).type, P2mType::ram_rw);
    EXPECT_EQ(mm_locks_held(), 1u);
    p2m().destroy();
}

TEST_F(MmLockedCodeDeathTest, P2mOperationsTakeTheP2mLock)
{
    ASSERT_EQ(p2m().populate_ram(0, 16, P2mAccess::rwx), 0);
    const std::string p2m_lock = "p2m lock 'p2m' of d" + std::to_string(DOMAIN);
    // Under page allocation (a p2m call from inside the allocator, say).
    MmLock pages(MmLockLevel::page_alloc, "frames");
    EXPECT_DEATH(
        {
            MmLockGuard hold(pages);
            p2m().lookup(0);
        },
        order_panic(p2m_lock.c_str(), "page_alloc lock 'frames'"));
    // Under a later domain's p2m lock: a control operation for domain 9 holding its own.
    MmLock later_domain(MmLockLevel::p2m, "p2m", DOMAIN + 2);
    EXPECT_DEATH(
        {
            MmLockGuard hold(later_domain);
            (void)p2m().populate_ram(100, 1, P2mAccess::rw); // dies taking the lock
        },
        order_panic(p2m_lock.c_str(), "p2m lock 'p2m' of d9") + ": locks of one level are taken in domain-id order");
    // Under the domain's own bitmap lock (a marker calling back into the p2m).
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    MmLock dirty(MmLockLevel::log_dirty, "log-dirty", DOMAIN);
    EXPECT_DEATH(
        {
            MmLockGuard hold(dirty);
            p2m().mark_dirty(1);
        },
        order_panic(p2m_lock.c_str(), ("log_dirty lock 'log-dirty' of d" + std::to_string(DOMAIN)).c_str()));
    DirtyBits bits;
    EXPECT_DEATH(
        {
            MmLockGuard hold(pages);
            (void)p2m().read_dirty(0, 16, bits, true); // dies taking the lock
        },
        order_panic(p2m_lock.c_str(), "page_alloc lock 'frames'"));
    p2m().destroy();
}

TEST_F(MmLockedCodeDeathTest, TheBitmapTakesTheLogDirtyLock)
{
    ASSERT_EQ(p2m().populate_ram(0, 16, P2mAccess::rwx), 0);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    // A p2m lock of the domain held around it is in order (the nested-fault path); a
    // page-allocation lock is not.
    DirtyBitmap bitmap;
    bitmap.attach(frames_.get(), DOMAIN);
    MmLock p2m_lock(MmLockLevel::p2m, "p2m", DOMAIN);
    {
        MmLockGuard hold(p2m_lock);
        ASSERT_EQ(bitmap.enable(64), 0);
        EXPECT_TRUE(bitmap.set(3));
    }
    MmLock pages(MmLockLevel::page_alloc, "frames");
    EXPECT_DEATH(
        {
            MmLockGuard hold(pages);
            (void)bitmap.set(4); // dies taking the lock: the result is never seen
        },
        order_panic("log_dirty lock 'log-dirty' of d7", "page_alloc lock 'frames'"));
    bitmap.disable();
    p2m().destroy();
}

TEST_F(MmLockedCodeDeathTest, TheAllocatorAndTheHeapTakeTheirLocks)
{
    MmLock pages(MmLockLevel::page_alloc, "other frames");
    EXPECT_DEATH(
        {
            MmLockGuard hold(pages);
            frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
        },
        order_panic("page_alloc lock 'frames'", "page_alloc lock 'other frames'"));
    SlabHeap heap(frames_.get());
    EXPECT_DEATH(
        {
            MmLockGuard hold(pages);
            heap.alloc(32);
        },
        order_panic("heap lock 'heap'", "page_alloc lock 'other frames'"));
    // The heap itself takes page allocation inside its own lock: in order.
    void *object = heap.alloc(32);
    ASSERT_NE(object, nullptr);
    heap.free(object);
    EXPECT_EQ(mm_locks_held(), 0u);
}
