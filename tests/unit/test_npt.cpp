// SPDX-License-Identifier: MIT
// Unit tests for the AMD64 nested page-table format and table manager.
#include "abi/errno.h"
#include "arch/x86_64/svm/npt.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <map>

using namespace npt;

namespace {

// A p2m stand-in: an explicit map of guest frames to mappings.
struct FakeP2m {
    std::map<u64, Mapping> frames;
    mutable u64 calls = 0;

    static Mapping leaf(const void *self, u64 gfn)
    {
        const FakeP2m *fake = static_cast<const FakeP2m *>(self);
        fake->calls++;
        auto found = fake->frames.find(gfn);
        return found == fake->frames.end() ? Mapping{} : found->second;
    }
    LeafSource source() const { return {&FakeP2m::leaf, this}; }
    void map(u64 gfn, u64 count, u64 mfn, bool writable = true)
    {
        for (u64 i = 0; i < count; i++)
            frames[gfn + i] = {mfn + i, true, writable, false, false};
    }
};

class NptTest : public MmTest {
protected:
    void SetUp() override
    {
        boot();
        free_before_ = frames_->free_frame_count(MemClass::ephemeral);
        ASSERT_EQ(tables_.init(frames_.get(), 5), 0);
    }
    void TearDown() override
    {
        tables_.destroy();
        EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), free_before_);
    }
    // Writes the fake's mappings for [gfn, gfn + count) into the tables.
    void install(u64 gfn, u64 count)
    {
        ASSERT_EQ(tables_.prepare(gfn, count), 0);
        tables_.sync(gfn, count, fake_.source());
    }
    const u64 *table_at(u64 phys) const { return phys_to<u64>(phys); }

    u64 free_before_ = 0;
    FakeP2m fake_;
    NestedPageTable tables_;
};

} // namespace

TEST(NptFormat, LeavesAlwaysCarryPresentAndUser)
{
    const u64 writable = leaf_entry({0x1234, true, true, true, false});
    EXPECT_EQ(writable, (u64{0x1234} << 12) | PRESENT | USER | WRITABLE);
    const u64 read_only = leaf_entry({0x1234, true, false, true, false});
    EXPECT_EQ(read_only & WRITABLE, 0u);
    EXPECT_NE(read_only & USER, 0u);
    const u64 no_exec = leaf_entry({0x1234, true, true, false, false});
    EXPECT_NE(no_exec & NO_EXECUTE, 0u);
    const u64 device = leaf_entry({0xfea00, true, true, false, true});
    EXPECT_EQ(device & (CACHE_DISABLE | WRITE_THROUGH), CACHE_DISABLE | WRITE_THROUGH);
    EXPECT_EQ(leaf_entry({0x1234, false, true, true, false}), 0u);
    // Only 40 bits of frame number fit (52-bit machine addresses).
    EXPECT_EQ(leaf_entry({MFN_LIMIT - 1, true, false, true, false}) & ADDRESS_MASK, (MFN_LIMIT - 1) << 12);
    EXPECT_EQ(table_entry(0x5000), 0x5000u | PRESENT | WRITABLE | USER);
}

TEST(NptFormat, DecodeIsTheInverseOfEncode)
{
    const Mapping cases[] = {
        {0x1, true, false, false, false},
        {0xfffffffff, true, true, true, false},
        {0xfea00, true, true, false, true},
    };
    for (const Mapping &mapping : cases)
        EXPECT_EQ(decode_leaf(leaf_entry(mapping)), mapping);
    EXPECT_EQ(decode_leaf(0), Mapping{});
    EXPECT_EQ(decode_leaf(leaf_entry(cases[0]) | ACCESSED | DIRTY), cases[0]);
}

TEST(NptFormat, IndexesSplitAGuestFrameIntoFourLevels)
{
    const u64 gfn = (u64{3} << 27) | (u64{5} << 18) | (u64{7} << 9) | 11;
    EXPECT_EQ(index_at(gfn, 4), 3u);
    EXPECT_EQ(index_at(gfn, 3), 5u);
    EXPECT_EQ(index_at(gfn, 2), 7u);
    EXPECT_EQ(index_at(gfn, 1), 11u);
    EXPECT_EQ(index_at(GFN_LIMIT - 1, 4), 511u);
}

TEST(NptFormat, DecodesNestedFaultErrorCodes)
{
    // What QEMU reported for a first fetch through entries without U/S.
    const FaultInfo fetch = decode_fault(0x100000005);
    EXPECT_TRUE(fetch.present);
    EXPECT_TRUE(fetch.user);
    EXPECT_FALSE(fetch.write);
    EXPECT_TRUE(fetch.final_address);
    EXPECT_FALSE(fetch.guest_table_walk);
    const FaultInfo walk_write = decode_fault(0x200000006);
    EXPECT_TRUE(walk_write.write);
    EXPECT_FALSE(walk_write.present);
    EXPECT_TRUE(walk_write.guest_table_walk);
    EXPECT_TRUE(decode_fault(0x10).fetch);
    EXPECT_TRUE(decode_fault(0x8).reserved_bit);
}

TEST_F(NptTest, BuildsFourLevelsWithUserAtEveryLevel)
{
    const u64 gfn = (u64{1} << 27) + (u64{2} << 18) + (u64{3} << 9) + 4; // all indexes nonzero
    fake_.map(gfn, 1, 0x4242);
    install(gfn, 1);
    EXPECT_EQ(tables_.table_frames(), 4u);

    u64 table = tables_.root();
    for (unsigned level = 4; level >= 2; level--) {
        const u64 entry = table_at(table)[index_at(gfn, level)];
        EXPECT_EQ(entry & (PRESENT | WRITABLE | USER), PRESENT | WRITABLE | USER) << "level " << level;
        EXPECT_EQ(entry & NO_EXECUTE, 0u);
        table = entry & ADDRESS_MASK;
    }
    const u64 leaf = table_at(table)[index_at(gfn, 1)];
    EXPECT_EQ(leaf, leaf_entry(fake_.frames[gfn]));
    EXPECT_EQ(tables_.leaf(gfn), leaf);

    const Translation walk = tables_.translate(gfn);
    EXPECT_TRUE(walk.present);
    EXPECT_TRUE(walk.user);
    EXPECT_TRUE(walk.writable);
    EXPECT_FALSE(walk.executable);
    EXPECT_EQ(walk.mfn, 0x4242u);
    EXPECT_FALSE(tables_.translate(gfn + 1).present);
    EXPECT_FALSE(tables_.translate(gfn + 512).present);
    EXPECT_EQ(tables_.audit(fake_.source()), 0u);
}

TEST_F(NptTest, RightsAreTheAndOfAllLevels)
{
    fake_.map(100, 1, 0x500);
    install(100, 1);
    // Clearing R/W or U/S in an upper entry restricts the leaf, as on real hardware.
    u64 *top = phys_to<u64>(tables_.root());
    top[0] &= ~WRITABLE;
    EXPECT_FALSE(tables_.translate(100).writable);
    EXPECT_EQ(tables_.audit(fake_.source()), 1u);
    top[0] &= ~USER;
    EXPECT_FALSE(tables_.translate(100).user);
    top[0] |= WRITABLE | USER | NO_EXECUTE;
    fake_.frames[100].executable = true;
    tables_.sync(100, 1, fake_.source());
    EXPECT_FALSE(tables_.translate(100).executable);
    top[0] &= ~NO_EXECUTE;
    EXPECT_TRUE(tables_.translate(100).executable);
}

TEST_F(NptTest, PrepareSharesTablesAndSyncFillsOnlyTheSpan)
{
    fake_.map(0, 2048, 0x10000);
    install(0, 1024);
    EXPECT_EQ(tables_.table_frames(), 1u + 1 + 1 + 2); // root, PDPT, PD, two leaf tables
    EXPECT_TRUE(tables_.translate(1023).present);
    EXPECT_FALSE(tables_.translate(1024).present); // mapped in the fake, not synced yet
    EXPECT_FALSE(tables_.has_leaf_table(1024));
    install(1024, 1024);
    EXPECT_EQ(tables_.table_frames(), 1u + 1 + 1 + 4);
    EXPECT_EQ(tables_.translate(2047).mfn, 0x10000u + 2047);
    EXPECT_EQ(tables_.audit(fake_.source()), 0u);
}

TEST_F(NptTest, StaleMarksHideSubtreesUntilOpened)
{
    fake_.map(0, 1024, 0x10000); // two leaf tables
    fake_.map(u64{1} << 27, 1, 0x20000); // under a second top-level entry
    install(0, 1024);
    install(u64{1} << 27, 1);

    tables_.mark_all_stale();
    EXPECT_EQ(tables_.stale_entries(), 2u);
    EXPECT_FALSE(tables_.translate(0).present);
    EXPECT_FALSE(tables_.translate(u64{1} << 27).present);
    EXPECT_NE(tables_.leaf(5) & PRESENT, 0u); // the stale leaf is still there, unreachable
    EXPECT_EQ(tables_.audit(fake_.source()), 0u); // hidden entries are not wrong

    // The p2m changed while stale: frame 5 became read-only.
    fake_.frames[5].writable = false;
    fake_.calls = 0;
    EXPECT_EQ(tables_.refresh(5, fake_.source()), Refresh::changed);
    // One level opened per step: the PDPT's entry went stale, then the PD's; the
    // first leaf table was recomputed whole, the second is still behind a stale mark.
    EXPECT_EQ(fake_.calls, 512u + 1);
    EXPECT_FALSE(tables_.translate(5).writable);
    EXPECT_TRUE(tables_.translate(6).writable);
    EXPECT_FALSE(tables_.translate(600).present);
    EXPECT_FALSE(tables_.translate(u64{1} << 27).present);
    EXPECT_EQ(tables_.stale_entries(), 2u); // the PD entry of 512..1023 and the second root entry
    EXPECT_EQ(tables_.refresh(5, fake_.source()), Refresh::unchanged);

    tables_.resolve_all(fake_.source());
    EXPECT_EQ(tables_.stale_entries(), 0u);
    EXPECT_TRUE(tables_.translate(600).present);
    EXPECT_EQ(tables_.translate(u64{1} << 27).mfn, 0x20000u);
    EXPECT_EQ(tables_.audit(fake_.source()), 0u);
}

TEST_F(NptTest, RefreshReportsAMissingTableForAMappedFrame)
{
    fake_.map(9000, 1, 0x30000);
    EXPECT_EQ(tables_.refresh(9000, fake_.source()), Refresh::missing_table);
    EXPECT_EQ(tables_.refresh(9001, fake_.source()), Refresh::unchanged); // nothing there, nothing needed
}

TEST_F(NptTest, HardwareAccessedAndDirtyBitsAreNotChanges)
{
    fake_.map(7, 1, 0x777);
    install(7, 1);
    u64 table = tables_.root();
    for (unsigned level = 4; level >= 2; level--)
        table = phys_to<u64>(table)[index_at(7, level)] & ADDRESS_MASK;
    phys_to<u64>(table)[7] |= ACCESSED | DIRTY;
    EXPECT_EQ(tables_.refresh(7, fake_.source()), Refresh::unchanged);
    EXPECT_EQ(tables_.audit(fake_.source()), 0u);
}

TEST_F(NptTest, AuditFindsALeafThatDisagrees)
{
    fake_.map(40, 4, 0x900);
    install(40, 4);
    fake_.frames[41].writable = false; // the p2m changed and nobody told the tables
    EXPECT_EQ(tables_.audit(fake_.source()), 1u);
    tables_.sync(41, 1, fake_.source());
    EXPECT_EQ(tables_.audit(fake_.source()), 0u);
}

TEST_F(NptTest, PrepareRunningOutOfMemoryKeepsWhatItBuilt)
{
    std::vector<std::pair<u64, unsigned>> taken;
    while (u64 phys = frames_->alloc_frames(0, MemClass::ephemeral, 99, FrameType::heap))
        taken.push_back({phys, 0});
    EXPECT_EQ(tables_.prepare(0, 1), -BATON_ENOMEM);
    EXPECT_EQ(tables_.table_frames(), 1u);
    frames_->free_frames(taken.back().first, 0); // room for one more table: still not enough
    taken.pop_back();
    EXPECT_EQ(tables_.prepare(0, 1), -BATON_ENOMEM);
    EXPECT_EQ(tables_.table_frames(), 2u);
    for (const auto &[phys, order] : taken)
        frames_->free_frames(phys, order);
    EXPECT_EQ(tables_.prepare(0, 1), 0);
    EXPECT_EQ(tables_.table_frames(), 4u);
}

TEST_F(NptTest, InitTwiceIsRefused) { EXPECT_EQ(tables_.init(frames_.get(), 5), -BATON_EBUSY); }

TEST_F(NptTest, DestroyFreesEveryTableIncludingStaleOnes)
{
    fake_.map(0, 600, 0x10000);
    fake_.map(u64{5} << 27, 1, 0x20000);
    install(0, 600);
    install(u64{5} << 27, 1);
    tables_.mark_all_stale();
    tables_.refresh(0, fake_.source());
    EXPECT_GT(tables_.table_frames(), 5u);
    // TearDown destroys and checks that every frame came back.
}

using NptDeathTest = NptTest;

TEST_F(NptDeathTest, SyncOfAMappedFrameWithoutTablesPanics)
{
    fake_.map(3000, 1, 0x1000);
    EXPECT_DEATH(tables_.sync(3000, 1, fake_.source()), "no table");
}
