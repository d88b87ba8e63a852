// SPDX-License-Identifier: MIT
// Unit tests for the choice of the live-update bootmem region.
#include "abi/errno.h"
#include "mm/bootmem_region.hpp"
#include <gtest/gtest.h>
#include <string>

namespace {

// 1 MiB..128 MiB of RAM with the kernel at 1-3 MiB and low memory in use.
class BootmemRegionTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        EXPECT_EQ(usable_.add({0, 0x9f000}), 0);
        EXPECT_EQ(usable_.add({1 * MiB, 128 * MiB}), 0);
        EXPECT_EQ(free_.assign(usable_), 0);
        for (const NamedRange &named : in_use_)
            EXPECT_EQ(free_.subtract(named.range), 0);
    }

    int choose(BootmemRequest request) { return choose_bootmem_region(usable_, free_, in_use_, 2, request, &choice_); }

    FixedRangeSet<16> usable_;
    FixedRangeSet<16> free_;
    NamedRange in_use_[2] = {{{0, 1 * MiB}, "low memory"}, {{1 * MiB, 3 * MiB}, "the kernel image"}};
    BootmemChoice choice_;
};

} // namespace

TEST(BootmemRequestText, FormatsBackToCommandLineForm)
{
    char text[64];
    format_bootmem_request(text, sizeof(text), {64 * MiB, 0x4000000, true});
    EXPECT_STREQ(text, "lu_bootmem=64M@0x4000000");
    format_bootmem_request(text, sizeof(text), {2 * GiB, 0, false});
    EXPECT_STREQ(text, "lu_bootmem=2G");
    format_bootmem_request(text, sizeof(text), {1536 * KiB, 0, false});
    EXPECT_STREQ(text, "lu_bootmem=1536K");
}

TEST(BootmemRequestText, DefaultSizeIsAnEighthClamped)
{
    EXPECT_EQ(default_bootmem_size(64 * MiB), BOOTMEM_DEFAULT_MIN);
    EXPECT_EQ(default_bootmem_size(255 * MiB), 32 * MiB); // 31.9 MiB rounded up to 2 MiB
    EXPECT_EQ(default_bootmem_size(511 * MiB + 512 * KiB), 64 * MiB);
    EXPECT_EQ(default_bootmem_size(256 * MiB), 32 * MiB);
    EXPECT_EQ(default_bootmem_size(64 * GiB), BOOTMEM_DEFAULT_MAX);
}

TEST_F(BootmemRegionTest, DefaultIsLowestAlignedFitAboveTheFloor)
{
    ASSERT_EQ(choose({}), 0) << choice_.reason;
    // 127.6 MiB of RAM: an eighth is under the minimum, so 16 MiB at 16 MiB.
    EXPECT_EQ(choice_.region.start, 16 * MiB);
    EXPECT_EQ(choice_.region.end, 32 * MiB);

    EXPECT_EQ(free_.subtract({17 * MiB, 18 * MiB}), 0); // something in use there: next aligned spot
    ASSERT_EQ(choose({}), 0) << choice_.reason;
    EXPECT_EQ(choice_.region.start, 18 * MiB);
}

TEST_F(BootmemRegionTest, DefaultFallsBackBelowTheFloor)
{
    free_.intersect({0, 20 * MiB}); // above 16 MiB only 4 MiB are left
    ASSERT_EQ(choose({8 * MiB, 0, false}), 0) << choice_.reason;
    EXPECT_EQ(choice_.region.start, 4 * MiB); // lowest 2 MiB-aligned spot past the kernel
    EXPECT_EQ(choice_.region.size(), 8 * MiB);
}

TEST_F(BootmemRegionTest, SizeIsRoundedUpToTwoMiB)
{
    ASSERT_EQ(choose({3 * MiB, 0, false}), 0) << choice_.reason;
    EXPECT_EQ(choice_.region.size(), 4 * MiB);
    EXPECT_TRUE(is_aligned(choice_.region.start, BOOTMEM_ALIGN));
}

TEST_F(BootmemRegionTest, FixedAddressIsHonoured)
{
    ASSERT_EQ(choose({64 * MiB, 0x4000000, true}), 0) << choice_.reason;
    EXPECT_EQ(choice_.region.start, 0x4000000u);
    EXPECT_EQ(choice_.region.end, 0x8000000u);
}

TEST_F(BootmemRegionTest, FixedAddressOverlappingTheKernelIsRefusedWithAReason)
{
    EXPECT_EQ(choose({64 * MiB, 0x200000, true}), -BATON_EINVAL);
    EXPECT_STREQ(choice_.reason, "lu_bootmem=64M@0x200000 overlaps the kernel image (0x100000-0x300000)");
    EXPECT_TRUE(choice_.region.empty());
}

TEST_F(BootmemRegionTest, FixedAddressOutsideRamIsRefused)
{
    EXPECT_EQ(choose({64 * MiB, 0x6000000, true}), -BATON_EINVAL); // runs past 128 MiB
    EXPECT_STREQ(choice_.reason, "lu_bootmem=64M@0x6000000 is not inside usable RAM");
}

TEST_F(BootmemRegionTest, FixedAddressMisalignedOrWrappingIsRefused)
{
    EXPECT_EQ(choose({16 * MiB, 0x4100000, true}), -BATON_EINVAL);
    EXPECT_STREQ(choice_.reason, "lu_bootmem=16M@0x4100000: the address is not 2 MiB aligned");
    EXPECT_EQ(choose({16 * MiB, 0xffffffffffe00000, true}), -BATON_EINVAL);
    EXPECT_NE(std::string(choice_.reason).find("wraps around"), std::string::npos) << choice_.reason;
}

TEST_F(BootmemRegionTest, FixedAddressOverUnnamedUsedMemoryIsRefused)
{
    EXPECT_EQ(free_.subtract({40 * MiB, 41 * MiB}), 0);
    EXPECT_EQ(choose({16 * MiB, 32 * MiB, true}), -BATON_EINVAL);
    EXPECT_STREQ(choice_.reason, "lu_bootmem=16M@0x2000000 overlaps memory already in use");
}

TEST_F(BootmemRegionTest, TooLargeIsRefusedWithTheSize)
{
    EXPECT_EQ(choose({1 * GiB, 0, false}), -BATON_ENOMEM);
    EXPECT_STREQ(choice_.reason, "lu_bootmem=1G: no free range of 1 GiB");
    EXPECT_EQ(choose({~u64{0}, 0, false}), -BATON_EINVAL);
}
