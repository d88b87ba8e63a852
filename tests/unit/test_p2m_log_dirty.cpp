// SPDX-License-Identifier: MIT
// Unit tests for log-dirty mode: write faults, peek and clean, coverage, and no lost writes.
#include "dom/guest_memory.hpp"
#include "test_p2m_support.hpp"
#include <algorithm>
#include <atomic>
#include <gtest/gtest.h>
#include <set>
#include <thread>

using namespace p2m_test;

namespace {

constexpr u64 RAM = 2048;

class P2mLogDirtyTest : public P2mTest {
protected:
    void SetUp() override
    {
        P2mTest::SetUp();
        ASSERT_EQ(p2m().populate_ram(0, RAM, P2mAccess::rwx), 0);
        ASSERT_EQ(p2m().enable_log_dirty(), 0);
        p2m().resolve_pending();
    }
    void TearDown() override
    {
        EXPECT_EQ(p2m().audit(), 0u);
        p2m().destroy();
        EXPECT_EQ(all_free(), free_at_start_);
    }
    std::vector<u64> peek() { return dirty_frames(p2m(), 0, RAM, false); }
    std::vector<u64> clean() { return dirty_frames(p2m(), 0, RAM, true); }
};

using Frames = std::vector<u64>;

} // namespace

TEST_F(P2mLogDirtyTest, EnablingWriteProtectsAllRam)
{
    EXPECT_TRUE(p2m().log_dirty_enabled());
    EXPECT_EQ(p2m().dirty_count(), 0u);
    EXPECT_TRUE(peek().empty());
    for (u64 gfn = 0; gfn < RAM; gfn++) {
        ASSERT_EQ(p2m().lookup(gfn).type, P2mType::log_dirty);
        const npt::Translation walk = p2m().translate(gfn);
        ASSERT_TRUE(walk.present && walk.user && !walk.writable);
    }
    const LogDirtyState state = p2m().log_dirty_state();
    EXPECT_TRUE(state.enabled);
    EXPECT_GE(state.guest_frames, RAM);
    EXPECT_GE(state.bitmap_frames * DIRTY_BITS_PER_FRAME, state.guest_frames);
    const FrameEntry &bitmap = frames_->table()[addr_to_frame(state.bitmap_phys)];
    EXPECT_TRUE(bitmap.has(FRAME_PRESERVED)) << "the next image adopts the bitmap in place";
    EXPECT_EQ(bitmap.type, FrameType::log_dirty_bitmap) << "its own type, not mistaken for a record";
    EXPECT_EQ(bitmap.owner, DOMAIN);
    EXPECT_FALSE(frames_->in_bootmem_region(state.bitmap_phys));
}

TEST_F(P2mLogDirtyTest, AFirstWriteMarksTheFrameAndMakesItWritable)
{
    const Access write = guest_access(p2m(), 17, true);
    EXPECT_TRUE(write.done);
    EXPECT_EQ(write.faults, 1u);
    EXPECT_EQ(p2m().lookup(17).type, P2mType::ram_rw) << "written since the last clean";
    EXPECT_TRUE(p2m().translate(17).writable);
    EXPECT_EQ(guest_access(p2m(), 17, true).faults, 0u) << "later writes run at full speed";
    EXPECT_EQ(peek(), Frames{17});
    // Reads and fetches never dirty anything.
    EXPECT_TRUE(guest_access(p2m(), 18, false).done);
    EXPECT_TRUE(guest_access(p2m(), 19, false, true).done);
    EXPECT_EQ(peek(), Frames{17});
    EXPECT_EQ(p2m().dirty_count(), 1u);
}

TEST_F(P2mLogDirtyTest, PeekLeavesBitsCleanClearsAndProtectsAgain)
{
    for (u64 gfn : {3, 64, 1000, 2047})
        ASSERT_TRUE(guest_write(p2m(), gfn, 1));
    EXPECT_EQ(peek(), (Frames{3, 64, 1000, 2047}));
    EXPECT_EQ(peek(), (Frames{3, 64, 1000, 2047})) << "peek does not consume";
    EXPECT_TRUE(p2m().translate(64).writable);

    const u64 generation = p2m().tlb_generation();
    EXPECT_EQ(clean(), (Frames{3, 64, 1000, 2047}));
    EXPECT_GT(p2m().tlb_generation(), generation) << "cleaned frames may sit writable in a TLB";
    EXPECT_TRUE(peek().empty());
    for (u64 gfn : {3, 64, 1000, 2047}) {
        EXPECT_FALSE(p2m().translate(gfn).writable) << gfn;
        EXPECT_EQ(p2m().lookup(gfn).type, P2mType::log_dirty) << gfn;
    }
    ASSERT_TRUE(guest_write(p2m(), 64, 2));
    EXPECT_EQ(peek(), Frames{64});
    EXPECT_EQ(p2m().tlb_generation() - generation, 1u) << "write faults add rights: no flush";
}

TEST_F(P2mLogDirtyTest, WritesBetweenPeekAndCleanAreNotLost)
{
    ASSERT_TRUE(guest_write(p2m(), 10, 1));
    EXPECT_EQ(peek(), Frames{10});
    ASSERT_TRUE(guest_write(p2m(), 11, 1)); // after the peek, before the clean
    EXPECT_EQ(clean(), (Frames{10, 11}));
    ASSERT_TRUE(guest_write(p2m(), 10, 2)); // after the clean: faults again
    ASSERT_TRUE(guest_write(p2m(), 12, 2));
    EXPECT_EQ(clean(), (Frames{10, 12}));
    EXPECT_TRUE(clean().empty());
}

TEST_F(P2mLogDirtyTest, WindowsReadAndCleanOnlyTheirOwnBits)
{
    // 68 and 140 share bitmap words with the window [69, 134) but lie outside it.
    for (u64 gfn : {5, 68, 70, 71, 130, 140, 200})
        ASSERT_TRUE(guest_write(p2m(), gfn, 1));
    // An unaligned window: output bit i is frame 69 + i.
    DirtyBits bits;
    std::fill(std::begin(bits.words), std::end(bits.words), ~u64{0});
    ASSERT_EQ(p2m().read_dirty(69, 65, bits, true), 3);
    EXPECT_EQ(bits.first_gfn, 69u);
    EXPECT_EQ(bits.count, 65u);
    EXPECT_EQ(bits.words[0], (u64{1} << 1) | (u64{1} << 2) | (u64{1} << 61));
    EXPECT_EQ(bits.words[1], 0u) << "bits past the window are zero";
    EXPECT_TRUE(bits.dirty(70) && bits.dirty(130) && !bits.dirty(68) && !bits.dirty(140));
    EXPECT_EQ(peek(), (Frames{5, 68, 140, 200}));
    EXPECT_TRUE(p2m().translate(68).writable) << "outside the window: untouched";
    EXPECT_TRUE(p2m().translate(140).writable);
    EXPECT_FALSE(p2m().translate(70).writable);
    // Windows beyond the bitmap read as clean; bounds are checked.
    bits.words[0] = ~u64{0};
    EXPECT_EQ(p2m().read_dirty(RAM * 100, 64, bits, true), 0);
    EXPECT_EQ(bits.words[0], 0u);
    EXPECT_EQ(p2m().read_dirty(0, 0, bits, false), 0);
    EXPECT_EQ(p2m().read_dirty(npt::GFN_LIMIT - 10, 64, bits, false), -BATON_ERANGE);
    EXPECT_EQ(p2m().read_dirty(~u64{0} - 10, 64, bits, false), -BATON_ERANGE);
    EXPECT_EQ(peek(), (Frames{5, 68, 140, 200}));
}

// The bounce-buffer contract: a read takes at most DIRTY_READ_MAX_FRAMES, fills the
// caller's DirtyBits under the locks and returns with none held.
TEST_F(P2mLogDirtyTest, ReadsAreBoundedAndReturnWithNoLockHeld)
{
    for (u64 gfn : {0, 1000, 2047})
        ASSERT_TRUE(guest_write(p2m(), gfn, 1));
    auto bits = std::make_unique<DirtyBits>();
    EXPECT_EQ(p2m().read_dirty(0, DIRTY_READ_MAX_FRAMES + 1, *bits, true), -BATON_E2BIG);
    EXPECT_EQ(peek(), (Frames{0, 1000, 2047})) << "a refused read cleans nothing";
    EXPECT_EQ(mm_locks_held(), 0u);

    ASSERT_EQ(p2m().read_dirty(0, DIRTY_READ_MAX_FRAMES, *bits, false), 3) << "the bound itself is fine";
    EXPECT_EQ(mm_locks_held(), 0u) << "peek returns with no mm lock held";
    ASSERT_EQ(p2m().read_dirty(0, DIRTY_READ_MAX_FRAMES, *bits, true), 3);
    EXPECT_EQ(mm_locks_held(), 0u) << "clean returns with no mm lock held";
    EXPECT_TRUE(bits->dirty(0) && bits->dirty(1000) && bits->dirty(2047) && !bits->dirty(1));
    EXPECT_TRUE(peek().empty());
}

// What the bounce buffer is for: the reader hands the bits on through a path that marks
// pages dirty itself (here into the same domain's memory, as a hypercall returning the
// bitmap to its caller would). Were the read still holding the p2m or log-dirty lock,
// the order check would stop it; the copy is recorded like any hypervisor write.
TEST_F(P2mLogDirtyTest, TheCopyIsHandedOnWithoutTheLocks)
{
    for (u64 gfn : {3, 64})
        ASSERT_TRUE(guest_write(p2m(), gfn, 1));
    auto bits = std::make_unique<DirtyBits>();
    ASSERT_EQ(p2m().read_dirty(0, RAM, *bits, true), 2);
    const u64 destination = frame_to_addr(1500);
    ASSERT_EQ(copy_to_guest(p2m(), destination, bits->words, sizeof(bits->words)), 0);
    EXPECT_EQ(peek(), Frames{1500}) << "the copy into the guest is itself a tracked write";
    const u64 *in_guest = phys_to<u64>(frame_to_addr(p2m().lookup(1500).mfn));
    EXPECT_EQ(in_guest[0], u64{1} << 3);
    EXPECT_EQ(in_guest[1], u64{1}) << "frame 64";
}

// Readers and writers through the p2m's real locks on two threads: a hypervisor writer
// marks frames (p2m lock, then log-dirty lock) while a reader cleans window by window
// into its bounce buffer. Nothing deadlocks and every marked frame is reported.
TEST_F(P2mLogDirtyTest, MarkingAndCleaningConcurrentlyLoseNothing)
{
    constexpr unsigned ROUNDS = 20000;
    std::atomic<bool> started{false}, done{false};
    std::vector<bool> written(RAM, false);
    std::thread writer([&] {
        while (!started)
            ;
        u64 state = 777;
        for (unsigned i = 0; i < ROUNDS; i++) {
            state = state * 6364136223846793005ul + 1442695040888963407ul;
            const u64 gfn = (state >> 33) % RAM;
            p2m().mark_dirty(gfn);
            written[gfn] = true;
        }
        done = true;
    });
    std::vector<bool> reported(RAM, false);
    auto bits = std::make_unique<DirtyBits>();
    unsigned cleans = 0;
    auto clean_once = [&] {
        for (u64 first = 0; first < RAM; first += 1024) {
            ASSERT_GE(p2m().read_dirty(first, 1024, *bits, true), 0);
            bits->for_each_dirty([&](u64 gfn) { reported[gfn] = true; });
        }
        cleans++;
    };
    started = true;
    while (!done)
        clean_once();
    writer.join();
    clean_once();
    EXPECT_EQ(p2m().dirty_count(), 0u);
    EXPECT_EQ(reported, written);
    EXPECT_GT(cleans, 1u) << "the two threads hardly overlapped";
    EXPECT_EQ(mm_locks_held(), 0u);
}

TEST_F(P2mLogDirtyTest, CleanBehindAStaleMarkStillProtects)
{
    ASSERT_TRUE(guest_write(p2m(), 600, 1));
    // A global change leaves the tables stale; the clean must not be undone later.
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    ASSERT_TRUE(guest_write(p2m(), 601, 1));
    ASSERT_TRUE(p2m().has_pending());
    EXPECT_EQ(clean(), Frames{601});
    EXPECT_FALSE(p2m().translate(601).writable);
    p2m().resolve_pending();
    EXPECT_FALSE(p2m().translate(601).writable);
    EXPECT_FALSE(p2m().translate(600).writable) << "re-enabling starts with a clean slate";
}

TEST_F(P2mLogDirtyTest, NewRamIsDirtyAndTheBitmapGrowsToCoverIt)
{
    const LogDirtyState before = p2m().log_dirty_state();
    const u64 far = before.bitmap_frames * DIRTY_BITS_PER_FRAME + 1000; // past the bitmap
    ASSERT_TRUE(guest_write(p2m(), 7, 1));
    ASSERT_EQ(p2m().populate_ram(far, 4, P2mAccess::rw), 0);
    const LogDirtyState after = p2m().log_dirty_state();
    EXPECT_GE(after.guest_frames, far + 4);
    EXPECT_NE(after.bitmap_phys, before.bitmap_phys);
    EXPECT_EQ(p2m().lookup(far).type, P2mType::ram_rw) << "log_dirty, already dirty";
    EXPECT_EQ(p2m().visible_ranges()[p2m().visible_ranges().count() - 1].type, P2mType::log_dirty);
    EXPECT_EQ(dirty_frames(p2m(), 0, far + 4, false), (Frames{7, far, far + 1, far + 2, far + 3}))
        << "old bits survive the move";
    EXPECT_EQ(guest_access(p2m(), far, true).faults, 0u);
}

TEST_F(P2mLogDirtyTest, MappingChangesMarkTheFramesTheyTouch)
{
    const u64 page = extra_page();
    ASSERT_EQ(p2m().map(100, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_EQ(p2m().lookup(100).type, P2mType::ram_rw);
    EXPECT_EQ(p2m().visible_ranges()[1].type, P2mType::log_dirty) << "tracked like RAM";
    EXPECT_EQ(clean(), Frames{100});
    EXPECT_FALSE(p2m().translate(100).writable);
    EXPECT_EQ(p2m().covered_ranges()[0].type, P2mType::log_dirty);

    p2m().mark_dirty(100); // the hypervisor wrote the page itself
    EXPECT_EQ(peek(), Frames{100});
    EXPECT_TRUE(p2m().translate(100).writable);
    EXPECT_EQ(clean(), Frames{100});

    ASSERT_EQ(p2m().unmap(100, 1), 0); // the RAM underneath is back: it changed too
    EXPECT_EQ(peek(), Frames{100});
    EXPECT_EQ(p2m().translate(100).mfn, p2m().lookup(100).mfn);
    EXPECT_EQ(clean(), Frames{100});

    // An extra page over a hole: when it goes, its contents vanish from the guest's view.
    ASSERT_EQ(p2m().map(RAM + 10, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_EQ(clean(), Frames{}) << "outside the window read here";
    EXPECT_EQ(dirty_frames(p2m(), RAM + 10, 1, true), Frames{RAM + 10});
    ASSERT_EQ(p2m().unmap(RAM + 10, 1), 0);
    EXPECT_EQ(dirty_frames(p2m(), RAM + 10, 1, true), Frames{RAM + 10});

    ASSERT_EQ(p2m().map(0x3000, DEVICE_MFN, 4, P2mType::mmio, P2mAccess::rw), 0);
    EXPECT_TRUE(peek().empty()) << "device memory is not tracked";
    EXPECT_TRUE(p2m().translate(0x3000).writable);
    ASSERT_EQ(p2m().unmap(0x3000, 4), 0);
    frames_->free_frames(frame_to_addr(page), 0);
}

TEST_F(P2mLogDirtyTest, DisablingRestoresFullSpeedAndFreesTheBitmap)
{
    ASSERT_TRUE(guest_write(p2m(), 1, 1));
    const u64 bitmap_frames = p2m().log_dirty_state().bitmap_frames;
    const u64 free_before = all_free();
    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    EXPECT_EQ(all_free(), free_before + bitmap_frames);
    EXPECT_EQ(p2m().tlb_generation(), generation) << "only rights were added";
    EXPECT_FALSE(p2m().log_dirty_state().enabled);
    for (u64 gfn = 0; gfn < RAM; gfn++)
        ASSERT_EQ(p2m().lookup(gfn).type, P2mType::ram_rw);
    // Stale tables: one fault per leaf table at most, then no more.
    unsigned faults = 0;
    for (u64 gfn = 0; gfn < RAM; gfn++)
        faults += guest_access(p2m(), gfn, true).faults;
    EXPECT_EQ(faults, RAM / 512);
    ASSERT_EQ(p2m().enable_log_dirty(), 0); // TearDown: destroy with log-dirty on
}

TEST_F(P2mLogDirtyTest, BitmapMemoryRunningOutRefusesCleanly)
{
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    auto taken = exhaust(MemClass::preserved);
    EXPECT_EQ(p2m().enable_log_dirty(), -BATON_ENOMEM);
    EXPECT_FALSE(p2m().log_dirty_enabled());
    EXPECT_EQ(p2m().lookup(0).type, P2mType::ram_rw);
    give_back(taken);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    // Growing the bitmap for far RAM fails the populate, not the tracking.
    const u64 far = p2m().log_dirty_state().bitmap_frames * DIRTY_BITS_PER_FRAME;
    taken = exhaust(MemClass::preserved);
    EXPECT_EQ(p2m().populate_ram(far, 1, P2mAccess::rw), -BATON_ENOMEM);
    EXPECT_EQ(p2m().lookup(far).type, P2mType::invalid);
    EXPECT_TRUE(p2m().log_dirty_enabled());
    give_back(taken);
}

// The bitmap on its own, under real concurrency: one thread sets bits as write faults
// would, another cleans. Every bit set is reported by exactly one clean or still set.
TEST(DirtyBitmapConcurrency, NoBitIsLostOrReportedTwice)
{
    SimulatedRam ram(256 * MiB);
    auto frames = std::make_unique<FrameAllocator>();
    ASSERT_EQ(frames->early_init(mm_test::qemu_layout()), 0);
    ASSERT_EQ(frames->init(), 0);
    DirtyBitmap bitmap;
    bitmap.attach(frames.get(), DOMAIN);
    constexpr u64 FRAMES = 4096;
    ASSERT_EQ(bitmap.enable(FRAMES), 0);

    constexpr unsigned ROUNDS = 200000;
    std::atomic<bool> started{false}, done{false};
    unsigned cleans = 0;
    std::vector<unsigned> set_count(FRAMES, 0);
    std::thread writer([&] {
        while (!started)
            ;
        u64 state = 12345;
        for (unsigned i = 0; i < ROUNDS; i++) {
            state = state * 6364136223846793005ul + 1442695040888963407ul;
            const u64 gfn = (state >> 33) % FRAMES;
            if (bitmap.set(gfn))
                set_count[gfn]++; // only the setter of a clear bit counts it
        }
        done = true;
    });
    std::vector<unsigned> reported(FRAMES, 0);
    auto bits = std::make_unique<DirtyBits>();
    auto clean_once = [&] {
        bitmap.read(0, FRAMES, *bits, true);
        bits->for_each_dirty([&](u64 gfn) { reported[gfn]++; });
        cleans++;
    };
    started = true;
    while (!done)
        clean_once();
    writer.join();
    clean_once();
    EXPECT_EQ(bitmap.count(), 0u);
    u64 total = 0;
    for (u64 gfn = 0; gfn < FRAMES; gfn++) {
        ASSERT_EQ(reported[gfn], set_count[gfn]) << gfn;
        total += reported[gfn];
    }
    EXPECT_GT(total, FRAMES / 2);
    EXPECT_GT(cleans, 10u) << "the two threads hardly overlapped";
    bitmap.disable();
}
