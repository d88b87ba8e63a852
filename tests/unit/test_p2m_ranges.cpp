// SPDX-License-Identifier: MIT
// Unit tests for the p2m range list: ordering, merging, cutting, retyping, growth.
#include "abi/errno.h"
#include "dom/p2m_ranges.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <vector>

namespace {

constexpr P2mRange ram(u64 gfn, u64 mfn, u64 count, P2mType type = P2mType::ram_rw)
{
    return {gfn, mfn, count, type, P2mAccess::rwx, P2M_RANGE_OWNED};
}

class P2mRangesTest : public MmTest {
protected:
    void SetUp() override
    {
        boot();
        free_before_ = frames_->free_frame_count(MemClass::ephemeral);
        list_.attach(frames_.get(), 3);
    }
    void TearDown() override
    {
        list_.release();
        EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), free_before_);
    }
    void add(const P2mRange &range)
    {
        ASSERT_EQ(list_.reserve(1), 0);
        list_.insert(range);
    }
    std::vector<P2mRange> all() const { return {list_.begin(), list_.end()}; }

    u64 free_before_ = 0;
    P2mRangeList list_;
};

} // namespace

TEST_F(P2mRangesTest, NeighboursThatContinueEachOtherMerge)
{
    add(ram(10, 110, 5));
    add(ram(0, 100, 10)); // gfn and mfn continue: one range
    EXPECT_EQ(all(), (std::vector<P2mRange>{ram(0, 100, 15)}));
    add(ram(15, 500, 5)); // gfn continues, mfn does not
    add(ram(20, 505, 5, P2mType::ram_ro)); // mfn continues, type differs
    add(ram(30, 520, 5)); // a gap
    EXPECT_EQ(list_.count(), 4u);
    add(ram(25, 515, 5)); // fills the gap exactly but the type breaks it on the left
    EXPECT_EQ(all(), (std::vector<P2mRange>{ram(0, 100, 15), ram(15, 500, 5), ram(20, 505, 5, P2mType::ram_ro),
                                            ram(25, 515, 10)}));
}

TEST_F(P2mRangesTest, FrameLessRangesMergeOnGuestFramesAlone)
{
    const P2mRange emulated{0x100, 0, 4, P2mType::mmio_emulated, P2mAccess::rw, 0};
    add(emulated);
    add({0x104, 0, 4, P2mType::mmio_emulated, P2mAccess::rw, 0});
    ASSERT_EQ(list_.count(), 1u);
    EXPECT_EQ(list_[0].count, 8u);
    EXPECT_EQ(list_[0].mfn_at(0x105), 0u);
}

TEST_F(P2mRangesTest, FindAndOverlaps)
{
    add(ram(0, 100, 10));
    add(ram(20, 300, 10));
    EXPECT_EQ(list_.find(0)->mfn_at(0), 100u);
    EXPECT_EQ(list_.find(9)->mfn_at(9), 109u);
    EXPECT_EQ(list_.find(10), nullptr);
    EXPECT_EQ(list_.find(25)->mfn_at(25), 305u);
    EXPECT_EQ(list_.find(30), nullptr);
    EXPECT_EQ(list_.find(3)->gfn, 0u); // after a hit elsewhere: the hint must not mislead
    EXPECT_FALSE(list_.overlaps(10, 10));
    EXPECT_TRUE(list_.overlaps(10, 11));
    EXPECT_TRUE(list_.overlaps(5, 1));
    EXPECT_FALSE(list_.overlaps(30, 100));
    EXPECT_EQ(list_.first_ending_after(10), 1u);
    EXPECT_EQ(list_.first_ending_after(9), 0u);
}

TEST_F(P2mRangesTest, RemoveTrimsSplitsAndErases)
{
    add(ram(0, 100, 10));
    add(ram(20, 300, 10));
    add(ram(40, 500, 10));
    ASSERT_EQ(list_.reserve(1), 0);
    list_.remove(3, 2); // splits the first
    EXPECT_EQ(all(), (std::vector<P2mRange>{ram(0, 100, 3), ram(5, 105, 5), ram(20, 300, 10), ram(40, 500, 10)}));
    list_.remove(8, 37); // trims one, erases one, trims another
    EXPECT_EQ(all(), (std::vector<P2mRange>{ram(0, 100, 3), ram(5, 105, 3), ram(45, 505, 5)}));
    list_.remove(100, 5); // nothing there
    list_.remove(0, 100);
    EXPECT_TRUE(list_.empty());
}

TEST_F(P2mRangesTest, ForEachInClipsPieces)
{
    add(ram(0, 100, 10));
    add(ram(20, 300, 10));
    std::vector<P2mRange> pieces;
    list_.for_each_in(5, 20, [&](const P2mRange &piece) { pieces.push_back(piece); });
    EXPECT_EQ(pieces, (std::vector<P2mRange>{ram(5, 105, 5), ram(20, 300, 5)}));
}

TEST_F(P2mRangesTest, RetypeMergesWhatNowAgrees)
{
    add(ram(0, 100, 10));
    add(ram(10, 110, 10, P2mType::ram_ro));
    add(ram(20, 120, 10));
    add(ram(40, 500, 10, P2mType::mmio));
    list_.retype(P2mType::ram_ro, P2mType::ram_rw);
    EXPECT_EQ(all(), (std::vector<P2mRange>{ram(0, 100, 30), ram(40, 500, 10, P2mType::mmio)}));
    list_.retype(P2mType::ram_rw, P2mType::log_dirty);
    EXPECT_EQ(list_[0].type, P2mType::log_dirty);
    EXPECT_EQ(list_[1].type, P2mType::mmio);
}

TEST_F(P2mRangesTest, StorageGrowsAndKeepsEverything)
{
    const usize many = 1000; // several pages of ranges
    for (usize i = 0; i < many; i++)
        add(ram(i * 2, i * 7, 1)); // never mergeable
    ASSERT_EQ(list_.count(), many);
    for (usize i = 0; i < many; i++) {
        ASSERT_EQ(list_[i], ram(i * 2, i * 7, 1));
        ASSERT_EQ(list_.find(i * 2), &list_[i]);
        ASSERT_EQ(list_.find(i * 2 + 1), nullptr);
    }
}

TEST_F(P2mRangesTest, ReserveFailsCleanlyWhenMemoryIsGone)
{
    add(ram(0, 100, 1));
    std::vector<u64> taken;
    while (u64 phys = frames_->alloc_frames(0, MemClass::ephemeral, 99, FrameType::heap))
        taken.push_back(phys);
    const usize per_page = PAGE_SIZE / sizeof(P2mRange);
    EXPECT_EQ(list_.reserve(per_page - 1), 0); // still fits the page it has
    EXPECT_EQ(list_.reserve(per_page), -BATON_ENOMEM);
    EXPECT_EQ(all(), (std::vector<P2mRange>{ram(0, 100, 1)}));
    for (u64 phys : taken)
        frames_->free_frames(phys, 0);
    EXPECT_EQ(list_.reserve(per_page), 0);
}

TEST_F(P2mRangesTest, ClipAdvancesMachineFrames)
{
    const P2mRange range = ram(10, 1000, 20);
    EXPECT_EQ(P2mRangeList::clip(range, 15, 25), ram(15, 1005, 10));
    EXPECT_EQ(P2mRangeList::clip(range, 0, 100), range);
}

using P2mRangesDeathTest = P2mRangesTest;

TEST_F(P2mRangesDeathTest, InsertWithoutReservePanics) { EXPECT_DEATH(list_.insert(ram(0, 1, 1)), "reserve"); }
