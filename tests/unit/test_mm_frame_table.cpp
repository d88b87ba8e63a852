// SPDX-License-Identifier: MIT
// Unit tests for building the frame table: marking, boot allocations, preserved ranges.
#include "abi/errno.h"
#include "host_platform.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <string>

using namespace mm_test;

TEST(FrameTableEntry, IsSixteenBytesAndTypesHaveNames)
{
    EXPECT_EQ(sizeof(FrameEntry), 16u);
    EXPECT_STREQ(frame_type_name(FrameType::guest_ram), "guest_ram");
    EXPECT_STREQ(frame_type_name(FrameType::boot_alloc), "boot_alloc");
    EXPECT_STREQ(frame_type_name(static_cast<FrameType>(200)), "invalid");
    EXPECT_EQ(FrameTable::bytes_for(1), PAGE_SIZE);
    EXPECT_EQ(FrameTable::bytes_for(32768), 512 * KiB);
}

TEST_F(MmTest, EveryFrameIsMarkedByWhatItHolds)
{
    boot();
    const FrameTable &table = frames_->table();
    EXPECT_EQ(table.frames(), addr_to_frame(RAM_TOP));
    EXPECT_EQ(frames_->bootmem_region().start, DEFAULT_REGION.start);
    EXPECT_EQ(frames_->bootmem_region().end, DEFAULT_REGION.end);

    EXPECT_EQ(entry_at(0).type, FrameType::reserved); // low memory
    EXPECT_EQ(entry_at(0x9f000).type, FrameType::reserved); // firmware
    EXPECT_EQ(entry_at(0xf0000).type, FrameType::reserved);
    EXPECT_EQ(entry_at(KERNEL_IMAGE.start).type, FrameType::kernel_image);
    EXPECT_EQ(entry_at(KERNEL_IMAGE.end - PAGE_SIZE).type, FrameType::kernel_image);
    EXPECT_EQ(entry_at(KERNEL_IMAGE.start).owner, OWNER_HYPERVISOR);
    EXPECT_EQ(entry_at(BOOT_INFO.start).type, FrameType::boot_info);
    EXPECT_EQ(entry_at(BOOT_INFO.end).type, FrameType::boot_info); // widened to the page
    EXPECT_EQ(entry_at(MODULE.start).type, FrameType::boot_module);
    EXPECT_EQ(entry_at(MODULE.end).type, FrameType::free);

    // The frame table itself came from the boot allocator, inside the region.
    u64 table_phys = frames_->table_phys();
    EXPECT_TRUE(frames_->in_bootmem_region(table_phys));
    EXPECT_EQ(entry_at(table_phys).type, FrameType::boot_alloc);
    EXPECT_EQ(entry_at(table_phys + FrameTable::bytes_for(table.frames()) - PAGE_SIZE).type, FrameType::boot_alloc);
    EXPECT_FALSE(entry_at(table_phys).has(FRAME_PRESERVED));
    EXPECT_TRUE(frames_->boot().sealed());

    // Everything else usable is free and in a zone; nothing else is.
    u64 free_frames = 0;
    for (frame_t frame = 0; frame < table.frames(); frame++)
        free_frames += table[frame].type == FrameType::free;
    EXPECT_EQ(free_frames, frames_->free_frame_count(MemClass::ephemeral));
    // Beside the table, from boot memory too: the preserved-block index.
    const u64 index_bytes = align_up(PreservedIndex::bytes_for(table.frames()), PAGE_SIZE);
    u64 expected = usable_bytes() - 0x9f000 /* low memory */ - KERNEL_IMAGE.size() - 2 * PAGE_SIZE /* info */ -
                   MODULE.size() - FrameTable::bytes_for(table.frames()) - index_bytes;
    EXPECT_EQ(frame_to_addr(free_frames), expected);
    EXPECT_EQ(frame_to_addr(frames_->bootmem_zone().free_frames()),
              DEFAULT_REGION.size() - FrameTable::bytes_for(table.frames()) - index_bytes);
}

TEST_F(MmTest, BootAllocationsBeforeInitAreMarkedAsBootTime)
{
    ASSERT_EQ(frames_->early_init(qemu_layout()), 0);
    // E.g. page tables for the direct map, which must be below 4 GiB.
    u64 page_tables = frames_->boot().alloc(8 * PAGE_SIZE, PAGE_SIZE, 4 * GiB);
    u64 big = frames_->boot().alloc(20 * MiB); // too big for the region: from elsewhere
    ASSERT_NE(page_tables, 0u);
    ASSERT_NE(big, 0u);
    EXPECT_TRUE(frames_->in_bootmem_region(page_tables));
    EXPECT_FALSE(frames_->in_bootmem_region(big));
    ASSERT_EQ(frames_->init(), 0);
    for (u64 phys = page_tables; phys < page_tables + 8 * PAGE_SIZE; phys += PAGE_SIZE)
        EXPECT_EQ(entry_at(phys).type, FrameType::boot_alloc);
    EXPECT_EQ(entry_at(big).type, FrameType::boot_alloc);
    EXPECT_EQ(entry_at(big + 20 * MiB - PAGE_SIZE).type, FrameType::boot_alloc);
    EXPECT_EQ(frames_->boot().alloc(PAGE_SIZE), 0u); // sealed now
}

TEST_F(MmTest, EarlyInitFailsLoudlyOnAnImpossibleRegion)
{
    console_capture_begin();
    int error = frames_->early_init(qemu_layout({64 * MiB, 2 * MiB, true}));
    std::string log = console_capture_end();
    EXPECT_EQ(error, -BATON_EINVAL);
    EXPECT_NE(log.find("lu_bootmem=64M@0x200000 overlaps the kernel image (0x100000-0x300000)"), std::string::npos)
        << log;
    EXPECT_EQ(frames_->init(), -BATON_EINVAL) << "init without a successful early_init";
}

TEST_F(MmTest, EarlyInitRejectsEmptyMapsAndMalformedReservedRanges)
{
    MemoryLayout layout = qemu_layout();
    layout.memory_map_count = 0;
    console_capture_begin();
    EXPECT_EQ(frames_->early_init(layout), -BATON_EINVAL);
    layout = qemu_layout();
    ReservedRange backwards{{0x500000, 0x400000}, FrameType::boot_module, "a backwards module"};
    layout.reserved = &backwards;
    layout.reserved_count = 1;
    EXPECT_EQ(frames_->early_init(layout), -BATON_EINVAL);
    std::string log = console_capture_end();
    EXPECT_NE(log.find("no usable RAM"), std::string::npos) << log;
    EXPECT_NE(log.find("a backwards module 0x500000-0x400000 is malformed"), std::string::npos) << log;
}

TEST_F(MmTest, FixedRegionIsUsedAsGiven)
{
    boot(nullptr, 0, {32 * MiB, 64 * MiB, true});
    EXPECT_EQ(frames_->bootmem_region().start, 64 * MiB);
    EXPECT_EQ(frames_->bootmem_region().end, 96 * MiB);
    EXPECT_TRUE(frames_->in_bootmem_region(frames_->table_phys()));
}

TEST_F(MmTest, PreservedRangesAreMarkedBeforeTheZonesFillAndNeverHandedOut)
{
    const PreservedRange preserved[] = {
        {{40 * MiB, 40 * MiB + 3 * PAGE_SIZE}, 1, FrameType::guest_ram, 0},
        {{48 * MiB, 56 * MiB}, 1, FrameType::guest_ram, 0},
        {{60 * MiB, 60 * MiB + PAGE_SIZE}, 1, FrameType::extra, FRAME_EXTRA_PAGE},
        {{61 * MiB, 61 * MiB + 2 * PAGE_SIZE}, OWNER_HYPERVISOR, FrameType::record, 0},
    };
    boot(preserved, 4);
    for (const PreservedRange &range : preserved) {
        for (u64 phys = range.range.start; phys < range.range.end; phys += PAGE_SIZE) {
            EXPECT_EQ(entry_at(phys).type, range.type);
            EXPECT_EQ(entry_at(phys).owner, range.owner);
            EXPECT_TRUE(entry_at(phys).has(FRAME_PRESERVED));
            EXPECT_EQ(entry_at(phys).has(FRAME_EXTRA_PAGE), range.flags == FRAME_EXTRA_PAGE);
        }
    }
    // Cut into blocks: 3 pages are an order-1 and an order-0 block, 8 MiB one order-11.
    EXPECT_TRUE(entry_at(40 * MiB).has(FRAME_BLOCK_HEAD));
    EXPECT_EQ(entry_at(40 * MiB).order, 1);
    EXPECT_EQ(entry_at(40 * MiB + 2 * PAGE_SIZE).order, 0);
    EXPECT_EQ(entry_at(48 * MiB).order, 11);
    EXPECT_EQ(frames_->refcount(48 * MiB), 1u);

    // Drain the allocator: no frame of a preserved range ever comes out.
    u64 handed_out = 0;
    for (;;) {
        u64 phys = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
        if (phys == 0)
            break;
        for (const PreservedRange &range : preserved)
            ASSERT_FALSE(range.range.contains(phys)) << std::hex << phys;
        handed_out++;
    }
    EXPECT_GT(handed_out, 20000u);

    // Given back through free_range, the memory becomes allocatable.
    frames_->free_range(preserved[1].range);
    EXPECT_EQ(frames_->free_frame_count(MemClass::preserved), addr_to_frame(8 * MiB));
    EXPECT_EQ(frames_->alloc_frames(11, MemClass::preserved, 2, FrameType::guest_ram), 48 * MiB);
}

TEST_F(MmTest, ConfinedBootAllocatorStaysInTheRegionUntilInit)
{
    ASSERT_EQ(frames_->early_init(qemu_layout({}, true)), 0);
    EXPECT_TRUE(frames_->boot().other_free().empty());
    // Fill the region so that the frame table cannot go there.
    u64 filler = frames_->boot().alloc(DEFAULT_REGION.size() - 256 * KiB);
    EXPECT_EQ(filler, DEFAULT_REGION.start);
    EXPECT_EQ(frames_->boot().alloc(1 * MiB), 0u); // nothing outside the region yet
    // The record (read meanwhile from the region's memory) preserves 32-48 MiB and
    // 1 MiB right after the module: the lowest free memory, where the table would go.
    const PreservedRange preserved[] = {
        {{MODULE.end, MODULE.end + 1 * MiB}, 3, FrameType::page_table, 0},
        {{32 * MiB, 48 * MiB}, 3, FrameType::guest_ram, 0},
    };
    ASSERT_EQ(frames_->init(preserved, 2), 0);
    u64 table = frames_->table_phys();
    EXPECT_FALSE(frames_->in_bootmem_region(table));
    for (const PreservedRange &range : preserved)
        EXPECT_FALSE(range.range.overlaps({table, table + FrameTable::bytes_for(frames_->table().frames())}));
    EXPECT_EQ(entry_at(table).type, FrameType::boot_alloc);
    EXPECT_EQ(entry_at(32 * MiB).type, FrameType::guest_ram);
    EXPECT_EQ(table, MODULE.end + 1 * MiB);
    EXPECT_EQ(entry_at(MODULE.end).type, FrameType::page_table);
    EXPECT_TRUE(entry_at(MODULE.end).has(FRAME_PRESERVED));
}

TEST_F(MmTest, BadPreservedRangesAreRefusedWithAReason)
{
    struct Case {
        PreservedRange range;
        const char *reason;
    };
    const Case cases[] = {
        {{{20 * MiB, 21 * MiB}, 1, FrameType::guest_ram, 0}, "overlaps lu_bootmem 0x1000000-0x2000000"},
        {{{0x200000, 0x201000}, 1, FrameType::guest_ram, 0}, "overlaps the kernel image"},
        {{{0x302000, 0x303000}, 1, FrameType::guest_ram, 0}, "overlaps boot module 0"},
        {{{0x80000, 0x81000}, 1, FrameType::guest_ram, 0}, "overlaps low memory"},
        {{{RAM_TOP - PAGE_SIZE, RAM_TOP + PAGE_SIZE}, 1, FrameType::guest_ram, 0}, "is not inside usable RAM"},
        {{{40 * MiB + 0x800, 41 * MiB}, 1, FrameType::guest_ram, 0}, "is empty or not page aligned"},
        {{{40 * MiB, 41 * MiB}, 1, FrameType::heap, 0}, "type heap / flags 0x0, which cannot be preserved"},
        {{{40 * MiB, 41 * MiB}, 1, FrameType::guest_ram, FRAME_BLOCK_HEAD}, "cannot be preserved"},
    };
    for (const Case &bad : cases) {
        auto frames = std::make_unique<FrameAllocator>();
        ASSERT_EQ(frames->early_init(qemu_layout()), 0);
        console_capture_begin();
        EXPECT_EQ(frames->init(&bad.range, 1), -BATON_EINVAL) << bad.reason;
        std::string log = console_capture_end();
        EXPECT_NE(log.find(bad.reason), std::string::npos) << log;
    }
}

TEST_F(MmTest, PreservedRangesOverlappingEachOtherOrBootMemoryAreRefused)
{
    const PreservedRange overlapping[] = {
        {{40 * MiB, 44 * MiB}, 1, FrameType::guest_ram, 0},
        {{43 * MiB, 45 * MiB}, 2, FrameType::guest_ram, 0},
    };
    ASSERT_EQ(frames_->early_init(qemu_layout()), 0);
    console_capture_begin();
    EXPECT_EQ(frames_->init(overlapping, 2), -BATON_EINVAL);
    std::string log = console_capture_end();
    EXPECT_NE(log.find("0x2b00000-0x2d00000 overlaps 0x2800000-0x2c00000"), std::string::npos) << log;

    auto frames = std::make_unique<FrameAllocator>();
    ASSERT_EQ(frames->early_init(qemu_layout()), 0);
    u64 early = frames->boot().alloc(20 * MiB); // lands outside the region, at 32 MiB
    ASSERT_EQ(early, 32 * MiB);
    const PreservedRange on_boot_memory{{40 * MiB, 41 * MiB}, 1, FrameType::guest_ram, 0};
    console_capture_begin();
    EXPECT_EQ(frames->init(&on_boot_memory, 1), -BATON_EBUSY);
    log = console_capture_end();
    EXPECT_NE(log.find("overlaps boot-time allocations"), std::string::npos) << log;
}
