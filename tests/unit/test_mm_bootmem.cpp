// SPDX-License-Identifier: MIT
// Unit tests for the boot allocator.
#include "abi/errno.h"
#include "host_platform.hpp"
#include "mm/bootmem.hpp"
#include <gtest/gtest.h>
#include <memory>
#include <string>

namespace {

constexpr PhysRange REGION{16 * MiB, 20 * MiB};

class BootAllocatorTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        boot_->reset(REGION);
        ASSERT_EQ(boot_->add_free({1 * MiB, 32 * MiB}), 0);
    }
    std::unique_ptr<BootAllocator> boot_ = std::make_unique<BootAllocator>();
};

} // namespace

TEST_F(BootAllocatorTest, FreeMemoryIsSplitAtTheRegionEdges)
{
    ASSERT_EQ(boot_->region_free().count(), 1u);
    EXPECT_EQ(boot_->region_free()[0].start, REGION.start);
    EXPECT_EQ(boot_->region_free()[0].end, REGION.end);
    EXPECT_EQ(boot_->other_free().total_bytes(), 27 * MiB); // 1-16 MiB and 20-32 MiB
    EXPECT_FALSE(boot_->other_free().overlaps(REGION));
}

TEST_F(BootAllocatorTest, RegionIsTriedFirstThenTheRest)
{
    EXPECT_EQ(boot_->alloc(PAGE_SIZE), REGION.start);
    EXPECT_EQ(boot_->alloc(PAGE_SIZE), REGION.start + PAGE_SIZE);
    // What does not fit in what is left of the region comes from the lowest other range.
    EXPECT_EQ(boot_->alloc(8 * MiB), 1 * MiB);
    // Small requests still go to the region while it has room.
    EXPECT_EQ(boot_->alloc(100), REGION.start + 2 * PAGE_SIZE); // rounded up to a page
    EXPECT_EQ(boot_->allocated_bytes(), 8 * MiB + 3 * PAGE_SIZE);
    EXPECT_TRUE(boot_->allocated().covers({REGION.start, REGION.start + 3 * PAGE_SIZE}));
    EXPECT_TRUE(boot_->allocated().covers({1 * MiB, 9 * MiB}));
}

TEST_F(BootAllocatorTest, AlignmentGapsStayFree)
{
    EXPECT_EQ(boot_->alloc(PAGE_SIZE), REGION.start);
    u64 aligned = boot_->alloc(2 * MiB, 2 * MiB);
    EXPECT_EQ(aligned, REGION.start + 2 * MiB);
    // The gap between the two is handed out next, not lost.
    EXPECT_EQ(boot_->alloc(PAGE_SIZE), REGION.start + PAGE_SIZE);
    EXPECT_EQ(boot_->alloc(PAGE_SIZE, 3 * PAGE_SIZE), 0u); // not a power of two
    EXPECT_EQ(boot_->alloc(PAGE_SIZE, 16), 0u); // below a page
}

TEST_F(BootAllocatorTest, LimitKeepsAllocationsLow)
{
    // Under a 4 MiB limit nothing in the region qualifies: the low range serves it.
    EXPECT_EQ(boot_->alloc(PAGE_SIZE, PAGE_SIZE, 4 * MiB), 1 * MiB);
    EXPECT_EQ(boot_->alloc(4 * MiB, PAGE_SIZE, 4 * MiB), 0u);
}

TEST_F(BootAllocatorTest, ExhaustionReturnsZero)
{
    EXPECT_EQ(boot_->alloc(16 * MiB), 0u); // larger than any single free range
    EXPECT_EQ(boot_->alloc(4 * MiB), REGION.start);
    EXPECT_EQ(boot_->alloc(15 * MiB), 1 * MiB);
    EXPECT_EQ(boot_->alloc(12 * MiB), REGION.end);
    EXPECT_EQ(boot_->alloc(PAGE_SIZE), 0u);
    EXPECT_EQ(boot_->allocated_bytes(), 31 * MiB);
    EXPECT_EQ(boot_->alloc(0), 0u);
    EXPECT_EQ(boot_->alloc(~u64{0}), 0u);
}

TEST_F(BootAllocatorTest, ExcludeTakesMemoryAwayButNotWhatWasHandedOut)
{
    u64 first = boot_->alloc(PAGE_SIZE);
    EXPECT_EQ(boot_->exclude({first, first + PAGE_SIZE}), -BATON_EBUSY);
    EXPECT_EQ(boot_->exclude({REGION.start, REGION.end}), -BATON_EBUSY); // and changes nothing
    EXPECT_EQ(boot_->region_free().total_bytes(), REGION.size() - PAGE_SIZE);
    ASSERT_EQ(boot_->exclude({first + PAGE_SIZE, REGION.end}), 0); // the rest of the region
    ASSERT_EQ(boot_->exclude({1 * MiB, 16 * MiB}), 0);
    EXPECT_EQ(boot_->alloc(PAGE_SIZE), REGION.end); // only 20-32 MiB is left
    EXPECT_EQ(boot_->add_free({first, first + 2 * PAGE_SIZE}), -BATON_EBUSY);
}

TEST_F(BootAllocatorTest, SealedAllocatorRefuses)
{
    boot_->seal();
    console_capture_begin();
    EXPECT_EQ(boot_->alloc(PAGE_SIZE), 0u);
    std::string log = console_capture_end();
    EXPECT_NE(log.find("after the frame table was built"), std::string::npos) << log;
}

TEST(BootAllocator, FrameZeroIsNeverHandedOutAndNoRegionWorks)
{
    auto boot = std::make_unique<BootAllocator>();
    boot->reset({});
    ASSERT_EQ(boot->add_free({0, 0x10800}), 0);
    EXPECT_TRUE(boot->region_free().empty());
    EXPECT_EQ(boot->alloc(PAGE_SIZE), PAGE_SIZE);
    EXPECT_EQ(boot->other_free().highest_end(), 0x10000u); // aligned inward
}
