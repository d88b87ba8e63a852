// SPDX-License-Identifier: MIT
// Unit tests for range sets and the memory-map sanitizer.
#include "abi/errno.h"
#include "host_platform.hpp"
#include "mm/usable_ram.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

std::vector<std::pair<u64, u64>> ranges_of(const RangeSet &set)
{
    std::vector<std::pair<u64, u64>> out;
    for (const PhysRange &range : set)
        out.emplace_back(range.start, range.end);
    return out;
}

using Ranges = std::vector<std::pair<u64, u64>>;

} // namespace

TEST(RangeSet, AddSortsAndMergesOverlappingAndTouching)
{
    FixedRangeSet<8> set;
    ASSERT_EQ(set.add({0x5000, 0x6000}), 0);
    ASSERT_EQ(set.add({0x1000, 0x2000}), 0);
    ASSERT_EQ(set.add({0x3000, 0x4000}), 0);
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1000, 0x2000}, {0x3000, 0x4000}, {0x5000, 0x6000}}));
    ASSERT_EQ(set.add({0x2000, 0x3000}), 0); // touches both neighbours
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1000, 0x4000}, {0x5000, 0x6000}}));
    ASSERT_EQ(set.add({0x800, 0x7000}), 0); // swallows everything
    EXPECT_EQ(ranges_of(set), (Ranges{{0x800, 0x7000}}));
    ASSERT_EQ(set.add({0x100, 0x100}), 0); // empty: ignored
    EXPECT_EQ(set.count(), 1u);
    EXPECT_EQ(set.total_bytes(), 0x6800u);
    EXPECT_EQ(set.highest_end(), 0x7000u);
}

TEST(RangeSet, SubtractTrimsSplitsAndRemoves)
{
    FixedRangeSet<8> set;
    EXPECT_EQ(set.add({0x1000, 0x9000}), 0);
    EXPECT_EQ(set.add({0xa000, 0xc000}), 0);
    ASSERT_EQ(set.subtract({0x3000, 0x4000}), 0); // split
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1000, 0x3000}, {0x4000, 0x9000}, {0xa000, 0xc000}}));
    ASSERT_EQ(set.subtract({0x8000, 0xb000}), 0); // trims two ranges
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1000, 0x3000}, {0x4000, 0x8000}, {0xb000, 0xc000}}));
    ASSERT_EQ(set.subtract({0x0, 0x3000}), 0); // removes a whole range
    EXPECT_EQ(ranges_of(set), (Ranges{{0x4000, 0x8000}, {0xb000, 0xc000}}));
    ASSERT_EQ(set.subtract({0x8000, 0xb000}), 0); // only touches: nothing changes
    EXPECT_EQ(ranges_of(set), (Ranges{{0x4000, 0x8000}, {0xb000, 0xc000}}));
}

TEST(RangeSet, FullSetRefusesAndStaysUnchanged)
{
    FixedRangeSet<2> set;
    EXPECT_EQ(set.add({0x1000, 0x2000}), 0);
    EXPECT_EQ(set.add({0x3000, 0x8000}), 0);
    EXPECT_EQ(set.add({0x9000, 0xa000}), -BATON_ENOSPC);
    EXPECT_EQ(set.subtract({0x4000, 0x5000}), -BATON_ENOSPC);
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1000, 0x2000}, {0x3000, 0x8000}}));
    EXPECT_EQ(set.add({0x2000, 0x3000}), 0); // merging needs no room
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1000, 0x8000}}));
}

TEST(RangeSet, IntersectAlignCoverAndOverlap)
{
    FixedRangeSet<8> set;
    EXPECT_EQ(set.add({0x800, 0x2800}), 0);
    EXPECT_EQ(set.add({0x4000, 0x4800}), 0);
    EXPECT_EQ(set.add({0x6000, 0x9000}), 0);
    EXPECT_TRUE(set.covers({0x6000, 0x9000}));
    EXPECT_FALSE(set.covers({0x2000, 0x4100}));
    EXPECT_TRUE(set.overlaps({0x2000, 0x4100}));
    EXPECT_FALSE(set.overlaps({0x2800, 0x4000}));
    set.align_inward(0x1000);
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1000, 0x2000}, {0x6000, 0x9000}}));
    set.intersect({0x1800, 0x7000});
    EXPECT_EQ(ranges_of(set), (Ranges{{0x1800, 0x2000}, {0x6000, 0x7000}}));

    FixedRangeSet<8> copy;
    ASSERT_EQ(copy.assign(set), 0);
    ASSERT_EQ(copy.subtract_all(set), 0);
    EXPECT_TRUE(copy.empty());
    FixedRangeSet<1> small;
    EXPECT_EQ(small.assign(set), -BATON_ENOSPC);
}

TEST(MemoryMapSanitizer, UnsortedOverlappingEntriesMerge)
{
    const MemoryMapEntry map[] = {
        {0x200000, 0x100000, 1},
        {0x0, 0x9fc00, 1},
        {0x100000, 0x180000, 1}, // overlaps the first one
        {0x2ff000, 0x1000, 1}, // inside, adds nothing
    };
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable;
    ASSERT_EQ(sanitize_memory_map(map, 4, usable), 0);
    EXPECT_EQ(ranges_of(usable), (Ranges{{0x0, 0x9f000}, {0x100000, 0x300000}}));
    EXPECT_EQ(ram_frame_extent(usable), 0x300u);
}

TEST(MemoryMapSanitizer, ReservedWinsAndIsWidenedToPages)
{
    const MemoryMapEntry map[] = {
        {0x100000, 0x1000000, 1},
        {0x400800, 0x100, 2}, // inside available: one whole page goes
        {0x800000, 0x1000, 4}, // ACPI NVS
        {0x10ff000, 0x2000, 3}, // straddles the end
    };
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable;
    ASSERT_EQ(sanitize_memory_map(map, 4, usable), 0);
    EXPECT_EQ(ranges_of(usable), (Ranges{{0x100000, 0x400000}, {0x401000, 0x800000}, {0x801000, 0x10ff000}}));
}

TEST(MemoryMapSanitizer, AvailableAlignedInwardAfterMerging)
{
    // Two entries split at an odd address: merged first, so no page is lost between them.
    const MemoryMapEntry map[] = {
        {0x100800, 0x1000, 1}, {0x101800, 0x2000, 1}, {0x200000, 0x800, 1}, // less than a page once aligned: gone
    };
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable;
    ASSERT_EQ(sanitize_memory_map(map, 3, usable), 0);
    EXPECT_EQ(ranges_of(usable), (Ranges{{0x101000, 0x103000}}));
}

TEST(MemoryMapSanitizer, ZeroLengthAndUnknownTypes)
{
    const MemoryMapEntry map[] = {
        {0x100000, 0x400000, 1}, {0x200000, 0, 2}, // zero length: ignored, does not punch a hole
        {0x300000, 0x1000, 0}, // type 0: unknown, treated as reserved
        {0x380000, 0x1000, 12}, // unknown as well
        {0x600000, 0, 1}, // zero-length available: nothing
    };
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable;
    console_capture_begin();
    ASSERT_EQ(sanitize_memory_map(map, 5, usable), 0);
    std::string log = console_capture_end();
    EXPECT_EQ(ranges_of(usable), (Ranges{{0x100000, 0x300000}, {0x301000, 0x380000}, {0x381000, 0x500000}}));
    EXPECT_NE(log.find("unknown type 0 at 0x300000"), std::string::npos) << log;
    EXPECT_NE(log.find("unknown type 12 at 0x380000"), std::string::npos) << log;
}

TEST(MemoryMapSanitizer, OverflowingEntriesAreClippedNeverWrap)
{
    const MemoryMapEntry map[] = {
        {0x100000, 0x100000, 1},
        {0xfffffffffffff000, 0x2000, 1}, // wraps to 0x1000: must not become low RAM
        {0x8000000, ~u64{0}, 1}, // overflows: clipped at the 52-bit limit
        {0x10000000, ~u64{0} - 0x1000, 2}, // reserved and overflowing: clipped, still wins
        {PHYS_ADDR_LIMIT + 0x1000, 0x1000, 1}, // above the limit: ignored
    };
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable;
    console_capture_begin();
    ASSERT_EQ(sanitize_memory_map(map, 5, usable), 0);
    std::string log = console_capture_end();
    EXPECT_EQ(ranges_of(usable), (Ranges{{0x100000, 0x200000}, {0x8000000, 0x10000000}}));
    EXPECT_NE(log.find("wraps around"), std::string::npos) << log;
    EXPECT_NE(log.find("above the physical address limit"), std::string::npos) << log;
}

TEST(MemoryMapSanitizer, EmptyMapGivesNoRam)
{
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable;
    EXPECT_EQ(usable.add({0x1000, 0x2000}), 0); // stale content is cleared
    ASSERT_EQ(sanitize_memory_map(nullptr, 0, usable), 0);
    EXPECT_TRUE(usable.empty());
    EXPECT_EQ(ram_frame_extent(usable), 0u);
}

TEST(MemoryMapSanitizer, FullMapOfSplitsFitsTheDocumentedCapacity)
{
    // One big available entry punched by MAX-1 reserved pages: every punch splits.
    std::vector<MemoryMapEntry> map;
    map.push_back({0x100000, 0x10000000, 1});
    for (usize i = 1; i < MAX_MEMORY_MAP_ENTRIES; i++)
        map.push_back({0x100000 + i * 0x10000, 0x1000, 2});
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable;
    ASSERT_EQ(sanitize_memory_map(map.data(), map.size(), usable), 0);
    EXPECT_EQ(usable.count(), MAX_MEMORY_MAP_ENTRIES);
    FixedRangeSet<16> small;
    EXPECT_EQ(sanitize_memory_map(map.data(), map.size(), small), -BATON_ENOSPC);
}
