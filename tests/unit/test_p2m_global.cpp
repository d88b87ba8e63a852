// SPDX-License-Identifier: MIT
// Unit tests for lazy global type changes: they look immediate, compose, resolve, and refuse.
#include "host_platform.hpp"
#include "test_p2m_support.hpp"
#include <gtest/gtest.h>

using namespace p2m_test;

namespace {

// RAM in three places: two leaf tables near 0, and one under another top-level entry.
constexpr u64 LOW = 0;
constexpr u64 LOW_COUNT = 1024;
constexpr u64 FAR = u64{1} << 27;
constexpr u64 FAR_COUNT = 16;

class P2mGlobalTest : public P2mTest {
protected:
    void SetUp() override
    {
        P2mTest::SetUp();
        ASSERT_EQ(p2m().populate_ram(LOW, LOW_COUNT, P2mAccess::rwx), 0);
        ASSERT_EQ(p2m().populate_ram(FAR, FAR_COUNT, P2mAccess::rwx), 0);
        ASSERT_EQ(p2m().map(0xfea00, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), 0);
    }
    void TearDown() override
    {
        EXPECT_EQ(p2m().audit(), 0u);
        p2m().destroy();
        EXPECT_EQ(all_free(), free_at_start_);
    }

    // Every RAM frame has type `type` as far as lookup() can tell.
    void expect_ram_type(P2mType type)
    {
        for (u64 gfn = LOW; gfn < LOW + LOW_COUNT; gfn++)
            ASSERT_EQ(p2m().lookup(gfn).type, type) << gfn;
        for (u64 gfn = FAR; gfn < FAR + FAR_COUNT; gfn++)
            ASSERT_EQ(p2m().lookup(gfn).type, type) << gfn;
    }
    // After resolve_pending(), every leaf equals what the ranges say, without faults.
    void expect_tables_match(bool writable)
    {
        for (u64 gfn : {LOW, LOW + 600, LOW + LOW_COUNT - 1, FAR, FAR + FAR_COUNT - 1}) {
            const npt::Translation walk = p2m().translate(gfn);
            ASSERT_TRUE(walk.present && walk.user) << gfn;
            ASSERT_EQ(walk.writable, writable) << gfn;
        }
        EXPECT_TRUE(p2m().translate(0xfea00).writable) << "device memory is untouched";
    }
};

} // namespace

TEST_F(P2mGlobalTest, AChangeLooksImmediateWhileTheTablesCatchUpLazily)
{
    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    EXPECT_GT(p2m().tlb_generation(), generation) << "rights were taken away";
    expect_ram_type(P2mType::ram_ro); // at once, for every caller
    EXPECT_TRUE(p2m().has_pending());
    EXPECT_EQ(p2m().tables().stale_entries(), 2u) << "only the two top-level entries were touched";
    EXPECT_FALSE(p2m().translate(LOW).present); // hidden behind the stale mark

    // A read faults once, recomputes that leaf table and carries on read-only.
    const Access read = guest_access(p2m(), LOW + 3, false);
    EXPECT_TRUE(read.done);
    EXPECT_EQ(read.faults, 1u);
    EXPECT_FALSE(p2m().translate(LOW + 3).writable);
    EXPECT_EQ(guest_access(p2m(), LOW + 4, false).faults, 0u) << "same leaf table: already fresh";
    EXPECT_FALSE(p2m().translate(LOW + 600).present) << "the next leaf table is still stale";
    EXPECT_EQ(guest_access(p2m(), LOW + 3, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(guest_access(p2m(), FAR, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(p2m().audit(), 0u);

    p2m().resolve_pending();
    EXPECT_FALSE(p2m().has_pending());
    expect_tables_match(false);
}

TEST_F(P2mGlobalTest, ASecondChangeComposesWithAnOutstandingOne)
{
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    EXPECT_TRUE(guest_access(p2m(), LOW, false).done); // part of the first change applied
    ASSERT_TRUE(p2m().has_pending());

    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_ro, P2mType::ram_rw), 0);
    EXPECT_EQ(p2m().tlb_generation(), generation) << "only rights were added";
    expect_ram_type(P2mType::ram_rw);
    // Frames that saw the first change and frames that never did both end up writable:
    // stale entries are recomputed from the ranges as they are now.
    for (u64 gfn : {LOW, LOW + 1, LOW + 600, FAR}) {
        const Access write = guest_access(p2m(), gfn, true);
        EXPECT_TRUE(write.done) << gfn;
        EXPECT_LE(write.faults, 1u) << gfn;
    }
    EXPECT_EQ(p2m().audit(), 0u);
    p2m().resolve_pending();
    expect_tables_match(true);
}

TEST_F(P2mGlobalTest, ResolvePendingLeavesNothingToFault)
{
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_ro, P2mType::ram_rw), 0);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    p2m().resolve_pending();
    EXPECT_FALSE(p2m().has_pending());
    EXPECT_EQ(p2m().tables().stale_entries(), 0u);
    for (u64 gfn = LOW; gfn < LOW + LOW_COUNT; gfn++)
        ASSERT_EQ(guest_access(p2m(), gfn, false).faults, 0u) << gfn;
    for (u64 gfn = FAR; gfn < FAR + FAR_COUNT; gfn++)
        ASSERT_EQ(guest_access(p2m(), gfn, false).faults, 0u) << gfn;
    expect_tables_match(false);
    p2m().resolve_pending(); // idempotent
    EXPECT_FALSE(p2m().has_pending());
}

TEST_F(P2mGlobalTest, HandoverStyleResolutionLeavesExactlyWhatTheRangesSay)
{
    // Half-applied changes and log-dirty on and off, then what a handover does first:
    // resolve everything. Each leaf must then be what the ranges alone say (the next image
    // rebuilds from them), checked against an oracle written from lookup() here.
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    guest_access(p2m(), LOW + 700, false);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_ro, P2mType::ram_rw), 0);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    ASSERT_TRUE(guest_write(p2m(), LOW + 9, 1));
    guest_access(p2m(), FAR, false);
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    ASSERT_TRUE(p2m().has_pending());
    p2m().resolve_pending();
    EXPECT_FALSE(p2m().has_pending());

    auto expected_leaf = [&](u64 gfn) {
        const P2mEntry entry = p2m().lookup(gfn);
        if (entry.type == P2mType::invalid)
            return u64{0};
        const bool writable = entry.type == P2mType::ram_rw || entry.type == P2mType::mmio;
        return npt::leaf_entry({entry.mfn, true, writable, access_executes(entry.access), entry.type == P2mType::mmio});
    };
    for (u64 gfn = LOW; gfn < LOW + LOW_COUNT + 10; gfn++) {
        ASSERT_EQ(p2m().tables().leaf(gfn) & ~(npt::ACCESSED | npt::DIRTY), expected_leaf(gfn)) << gfn;
        ASSERT_EQ(p2m().translate(gfn).present, expected_leaf(gfn) != 0) << gfn;
    }
    for (u64 gfn = FAR; gfn < FAR + FAR_COUNT; gfn++)
        ASSERT_EQ(p2m().tables().leaf(gfn) & ~(npt::ACCESSED | npt::DIRTY), expected_leaf(gfn)) << gfn;
    EXPECT_EQ(p2m().tables().leaf(0xfea00), expected_leaf(0xfea00));
}

TEST_F(P2mGlobalTest, CoveredRamFollowsGlobalChanges)
{
    const u64 page = extra_page();
    ASSERT_EQ(p2m().map(LOW + 5, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    EXPECT_EQ(p2m().covered_ranges()[0].type, P2mType::ram_ro);
    EXPECT_EQ(p2m().lookup(LOW + 5).type, P2mType::ram_ro) << "the extra page is RAM too";
    ASSERT_EQ(p2m().unmap(LOW + 5, 1), 0);
    EXPECT_EQ(p2m().lookup(LOW + 5).type, P2mType::ram_ro) << "uncovered RAM comes back as the domain is now";
    EXPECT_EQ(guest_access(p2m(), LOW + 5, true).action, NpfAction::crash_access_denied);
    frames_->free_frames(frame_to_addr(page), 0);
}

TEST_F(P2mGlobalTest, MappingsMadeAfterAChangeAreNotAffectedByIt)
{
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    ASSERT_EQ(p2m().populate_ram(0x5000, 4, P2mAccess::rw), 0);
    EXPECT_EQ(p2m().lookup(0x5000).type, P2mType::ram_rw);
    const Access write = guest_access(p2m(), 0x5000, true);
    EXPECT_TRUE(write.done);
    EXPECT_EQ(write.faults, 0u);
}

TEST_F(P2mGlobalTest, PairsThatMakeNoSenseAreRefused)
{
    const auto before = ranges_of(p2m());
    const P2mType all[] = {P2mType::invalid,   P2mType::ram_rw, P2mType::ram_ro,
                           P2mType::log_dirty, P2mType::mmio,   P2mType::mmio_emulated};
    for (P2mType from : all) {
        for (P2mType to : all) {
            const bool allowed = (from == P2mType::ram_rw && to == P2mType::ram_ro) ||
                                 (from == P2mType::ram_ro && to == P2mType::ram_rw);
            if (!allowed) {
                EXPECT_EQ(p2m().change_type_global(from, to), -BATON_EINVAL)
                    << p2m_type_name(from) << " -> " << p2m_type_name(to);
            }
        }
    }
    EXPECT_EQ(ranges_of(p2m()), before);
    EXPECT_FALSE(p2m().has_pending());
}

TEST_F(P2mGlobalTest, ReadOnlyChangesAreRefusedWhileLogDirtyIsOn)
{
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    ASSERT_TRUE(guest_write(p2m(), LOW + 1, 1));
    const auto before = ranges_of(p2m());
    const u64 dirty_before = p2m().dirty_count();

    console_capture_begin();
    EXPECT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), -BATON_EBUSY);
    EXPECT_EQ(p2m().change_type_global(P2mType::ram_ro, P2mType::ram_rw), -BATON_EBUSY);
    const std::string log = console_capture_end();
    EXPECT_NE(log.find("log-dirty is on"), std::string::npos) << log;

    EXPECT_EQ(ranges_of(p2m()), before);
    EXPECT_EQ(p2m().dirty_count(), dirty_before);
    EXPECT_EQ(p2m().lookup(LOW + 1).type, P2mType::ram_rw); // dirty: writable
    EXPECT_EQ(p2m().lookup(LOW + 2).type, P2mType::log_dirty);
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    EXPECT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
}

TEST_F(P2mGlobalTest, LogDirtyModeIsEnteredAndLeftOnlyOnce)
{
    console_capture_begin();
    EXPECT_EQ(p2m().disable_log_dirty(), -BATON_EINVAL);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    const LogDirtyState state = p2m().log_dirty_state();
    EXPECT_EQ(p2m().enable_log_dirty(), -BATON_EBUSY);
    const std::string log = console_capture_end();
    EXPECT_NE(log.find("already on"), std::string::npos) << log;
    EXPECT_EQ(p2m().log_dirty_state().bitmap_phys, state.bitmap_phys) << "the bitmap was not replaced";
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    EXPECT_EQ(p2m().disable_log_dirty(), -BATON_EINVAL);
    DirtyBits bits;
    EXPECT_EQ(p2m().read_dirty(0, 64, bits, false), -BATON_EINVAL);
}

TEST_F(P2mGlobalTest, ReadOnlyRamOutsideLogDirtyStaysReadOnly)
{
    const u64 page = extra_page();
    ASSERT_EQ(p2m().map(0x4000, page, 1, P2mType::ram_ro, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    EXPECT_EQ(p2m().lookup(0x4000).type, P2mType::ram_ro);
    EXPECT_EQ(guest_access(p2m(), 0x4000, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(p2m().dirty_count(), 0u);
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    ASSERT_EQ(p2m().unmap(0x4000, 1), 0);
    frames_->free_frames(frame_to_addr(page), 0);
}
