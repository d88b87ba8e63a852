// SPDX-License-Identifier: MIT
// Unit tests for the buddy zones: split, merge, exhaustion, fragmentation, zone edges.
#include "mm/buddy.hpp"
#include <algorithm>
#include <gtest/gtest.h>
#include <set>
#include <vector>

namespace {

// A zone over a frame table that lives in ordinary memory: the buddy allocator touches
// only entries, never the frames themselves.
class BuddyTest : public ::testing::Test {
protected:
    void make_zone(frame_t frames, frame_t hole_first = 0, frame_t hole_end = 0)
    {
        entries_.assign(frames, FrameEntry{});
        table_.init(entries_.data(), frames);
        zone_.init(&table_, "test", 0, frames, hole_first, hole_end);
    }

    std::vector<FrameEntry> entries_;
    FrameTable table_;
    BuddyZone zone_;
};

} // namespace

TEST_F(BuddyTest, AddFreeCutsIntoAlignedBlocks)
{
    make_zone(2048);
    zone_.add_free(3, 1030); // 3, 4-7, 8-15, ..., 512-1023, 1024-1027, 1028-1029
    EXPECT_EQ(zone_.free_frames(), 1027u);
    EXPECT_EQ(zone_.largest_free_order(), 9);
    EXPECT_EQ(zone_.free_blocks(0), 1u);
    EXPECT_EQ(zone_.free_blocks(2), 2u);
    EXPECT_EQ(zone_.free_blocks(1), 1u);
    EXPECT_EQ(table_[3].type, FrameType::free);
    EXPECT_TRUE(table_[512].has(FRAME_FREE_HEAD));
    EXPECT_EQ(table_[512].order, 9);
    EXPECT_EQ(table_[2].type, FrameType::reserved); // never given to the zone
}

TEST_F(BuddyTest, SplitOnAllocAndMergeBackOnFree)
{
    make_zone(1024);
    zone_.add_free(0, 1024);
    ASSERT_EQ(zone_.free_blocks(10), 1u);
    frame_t frame = zone_.alloc(0);
    EXPECT_EQ(frame, 0u);
    // One block of every order below 10 is left over from the split.
    for (unsigned order = 0; order < 10; order++)
        EXPECT_EQ(zone_.free_blocks(order), 1u) << order;
    EXPECT_EQ(zone_.free_blocks(10), 0u);
    EXPECT_EQ(zone_.free_frames(), 1023u);
    EXPECT_EQ(zone_.alloc(0), 1u); // the buddy of the first
    zone_.free(0, 0);
    zone_.free(1, 0);
    EXPECT_EQ(zone_.free_blocks(10), 1u);
    EXPECT_EQ(zone_.free_frames(), 1024u);
    EXPECT_EQ(zone_.largest_free_order(), 10);
}

TEST_F(BuddyTest, ExhaustionFailsAndEveryFrameIsHandedOutOnce)
{
    make_zone(256);
    zone_.add_free(5, 200);
    std::set<frame_t> seen;
    for (;;) {
        frame_t frame = zone_.alloc(0);
        if (frame == NO_FRAME)
            break;
        EXPECT_GE(frame, 5u);
        EXPECT_LT(frame, 200u);
        EXPECT_TRUE(seen.insert(frame).second) << "frame " << frame << " handed out twice";
    }
    EXPECT_EQ(seen.size(), 195u);
    EXPECT_EQ(zone_.free_frames(), 0u);
    EXPECT_EQ(zone_.largest_free_order(), -1);
    EXPECT_EQ(zone_.alloc(0), NO_FRAME);
}

TEST_F(BuddyTest, FragmentationBlocksLargeAllocationsUntilEverythingMerges)
{
    make_zone(1024);
    zone_.add_free(0, 1024);
    std::vector<frame_t> frames;
    for (int i = 0; i < 1024; i++)
        frames.push_back(zone_.alloc(0));
    ASSERT_EQ(zone_.alloc(0), NO_FRAME);
    std::sort(frames.begin(), frames.end());
    for (usize i = 0; i < frames.size(); i += 2)
        zone_.free(frames[i], 0);
    // Half the memory is free but no two free frames are buddies.
    EXPECT_EQ(zone_.free_frames(), 512u);
    EXPECT_EQ(zone_.free_blocks(0), 512u);
    EXPECT_EQ(zone_.alloc(1), NO_FRAME);
    EXPECT_EQ(zone_.alloc(10), NO_FRAME);
    for (usize i = 1; i < frames.size(); i += 2)
        zone_.free(frames[i], 0);
    EXPECT_EQ(zone_.free_blocks(0), 0u);
    EXPECT_EQ(zone_.free_blocks(10), 1u);
    EXPECT_EQ(zone_.alloc(10), 0u);
}

TEST_F(BuddyTest, MixedOrdersRoundTrip)
{
    make_zone(4096);
    zone_.add_free(0, 4096);
    std::vector<std::pair<frame_t, unsigned>> blocks;
    u64 state = 12345;
    for (int i = 0; i < 300; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        unsigned order = static_cast<unsigned>((state >> 33) % 5);
        frame_t frame = zone_.alloc(order);
        if (frame == NO_FRAME)
            continue;
        EXPECT_EQ(frame & ((frame_t{1} << order) - 1), 0u) << "block not naturally aligned";
        blocks.emplace_back(frame, order);
    }
    ASSERT_FALSE(blocks.empty());
    u64 used = 0;
    for (auto [frame, order] : blocks)
        used += frame_t{1} << order;
    EXPECT_EQ(zone_.free_frames(), 4096 - used);
    std::reverse(blocks.begin(), blocks.end());
    for (auto [frame, order] : blocks)
        zone_.free(frame, order);
    EXPECT_EQ(zone_.free_frames(), 4096u);
    EXPECT_EQ(zone_.free_blocks(12), 1u);
}

TEST_F(BuddyTest, BlocksNeverMergeAcrossTheHole)
{
    // Frames 512-1023 belong to another zone: 0-511 and 1024-2047 must stay apart.
    make_zone(2048, 512, 1024);
    zone_.add_free(0, 512);
    zone_.add_free(1024, 2048);
    EXPECT_EQ(zone_.largest_free_order(), 10);
    EXPECT_EQ(zone_.free_blocks(9), 1u);
    EXPECT_EQ(zone_.free_blocks(10), 1u);
    EXPECT_FALSE(zone_.owns(600));
    // A free block of the same order in the hole (another zone's) is not a buddy either.
    BuddyZone other;
    other.init(&table_, "other", 512, 1024);
    other.add_free(512, 1024);
    EXPECT_EQ(zone_.free_blocks(11), 0u);
    EXPECT_EQ(zone_.free_blocks(9), 1u);
    EXPECT_EQ(zone_.alloc(11), NO_FRAME);
    frame_t frame = zone_.alloc(9);
    zone_.free(frame, 9);
    EXPECT_EQ(zone_.free_blocks(9), 1u);
    EXPECT_EQ(other.free_blocks(9), 1u);
}

TEST_F(BuddyTest, OneGiBBlocks)
{
    // 2 GiB of frames: two blocks of the maximal order.
    make_zone(frame_t{1} << 19);
    zone_.add_free(0, frame_t{1} << 19);
    EXPECT_EQ(zone_.free_blocks(MAX_ORDER), 2u);
    EXPECT_EQ(PAGE_SIZE << MAX_ORDER, 1 * GiB);
    EXPECT_EQ(zone_.alloc(MAX_ORDER + 1), NO_FRAME);
    frame_t first = zone_.alloc(MAX_ORDER);
    frame_t second = zone_.alloc(MAX_ORDER);
    EXPECT_NE(first, NO_FRAME);
    EXPECT_NE(second, NO_FRAME);
    EXPECT_EQ(zone_.alloc(MAX_ORDER), NO_FRAME);
    EXPECT_EQ(zone_.alloc(0), NO_FRAME);
    zone_.free(first, MAX_ORDER);
    frame_t small = zone_.alloc(0);
    EXPECT_EQ(small, first);
    zone_.free(small, 0);
    EXPECT_EQ(zone_.free_blocks(MAX_ORDER), 1u);
}

TEST(BuddyOrder, LargestBlockOrder)
{
    EXPECT_EQ(largest_block_order(0, 1), 0u);
    EXPECT_EQ(largest_block_order(0, 1024), 10u);
    EXPECT_EQ(largest_block_order(512, 2048), 9u);
    EXPECT_EQ(largest_block_order(1024, 1030), 2u);
    EXPECT_EQ(largest_block_order(0, frame_t{1} << 30), MAX_ORDER);
}

TEST_F(BuddyTest, AllocationBelowALimitTakesOnlyBlocksThatEndBelowIt)
{
    make_zone(4096);
    zone_.add_free(0, 4096); // two order-11 blocks: 0-2047, 2048-4095
    // Fill the low half with small blocks in use, except one frame at 100 and one order-2
    // block at 1000, so the free lists hold high blocks first.
    std::vector<frame_t> taken;
    for (frame_t frame; (frame = zone_.alloc(0, 2048)) != NO_FRAME;)
        taken.push_back(frame);
    EXPECT_EQ(taken.size(), 2048u) << "every frame below the limit, none above";
    for (frame_t frame : taken)
        ASSERT_LT(frame, 2048u);
    EXPECT_EQ(zone_.free_frames(), 2048u);
    zone_.free(100, 0);
    for (frame_t frame = 1000; frame < 1004; frame++)
        zone_.free(frame, 0); // merges into one order-2 block
    EXPECT_EQ(zone_.alloc(3, 2048), NO_FRAME) << "no order-3 block ends below the limit";
    EXPECT_EQ(zone_.alloc(2, 2048), 1000u);
    EXPECT_EQ(zone_.alloc(0, 2048), 100u);
    EXPECT_EQ(zone_.alloc(0, 2048), NO_FRAME);
    // Without a limit the high half serves as before.
    EXPECT_GE(zone_.alloc(3), 2048u);
}
