// SPDX-License-Identifier: MIT
// Unit tests for the frame allocator: class rules, free counts, reference counts, misuse.
#include "abi/errno.h"
#include "mm/slab.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <vector>

using namespace mm_test;

namespace {

class FramesTest : public MmTest {
protected:
    void SetUp() override { boot(); }

    u64 alloc_ephemeral(unsigned order = 0)
    {
        return frames_->alloc_frames(order, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    }
    u64 alloc_preserved(unsigned order = 0, frame_owner_t owner = 1)
    {
        return frames_->alloc_frames(order, MemClass::preserved, owner, FrameType::guest_ram);
    }
};

using FramesDeathTest = FramesTest;

} // namespace

TEST_F(FramesTest, EphemeralPrefersTheRegionThenFallsBack)
{
    u64 first = alloc_ephemeral();
    EXPECT_TRUE(frames_->in_bootmem_region(first));
    u64 region_frames = frames_->bootmem_zone().free_frames();
    for (u64 i = 0; i < region_frames; i++)
        ASSERT_TRUE(frames_->in_bootmem_region(alloc_ephemeral()));
    EXPECT_EQ(frames_->bootmem_zone().free_frames(), 0u);
    u64 fallback = alloc_ephemeral();
    ASSERT_NE(fallback, 0u);
    EXPECT_FALSE(frames_->in_bootmem_region(fallback));
}

TEST_F(FramesTest, PreservedNeverComesFromTheRegionEvenWhenNothingElseIsLeft)
{
    u64 region_free = frames_->bootmem_zone().free_frames();
    std::vector<u64> blocks;
    for (;;) {
        u64 phys = alloc_preserved(4);
        if (phys == 0)
            break;
        ASSERT_FALSE(frames_->in_bootmem_region(phys)) << std::hex << phys;
        blocks.push_back(phys);
    }
    while (u64 phys = alloc_preserved(0)) {
        ASSERT_FALSE(frames_->in_bootmem_region(phys)) << std::hex << phys;
        blocks.push_back(phys);
    }
    // The general zone is empty: a preserved request fails although the region is free.
    EXPECT_EQ(frames_->free_frame_count(MemClass::preserved), 0u);
    EXPECT_EQ(frames_->bootmem_zone().free_frames(), region_free);
    EXPECT_EQ(alloc_preserved(), 0u);
    EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), region_free);
    EXPECT_TRUE(frames_->in_bootmem_region(alloc_ephemeral())); // ephemeral still works
    for (u64 phys : blocks)
        EXPECT_TRUE(entry_at(phys).has(FRAME_PRESERVED));
}

TEST_F(FramesTest, BlocksCarryTypeOwnerAndClassOnEveryFrame)
{
    u64 phys = frames_->alloc_frames(3, MemClass::preserved, 7, FrameType::guest_ram);
    ASSERT_NE(phys, 0u);
    EXPECT_TRUE(is_aligned(phys, 8 * PAGE_SIZE));
    EXPECT_TRUE(entry_at(phys).has(FRAME_BLOCK_HEAD));
    EXPECT_EQ(entry_at(phys).order, 3);
    for (u64 offset = 0; offset < 8 * PAGE_SIZE; offset += PAGE_SIZE) {
        EXPECT_EQ(entry_at(phys + offset).type, FrameType::guest_ram);
        EXPECT_EQ(entry_at(phys + offset).owner, 7);
        EXPECT_TRUE(entry_at(phys + offset).has(FRAME_PRESERVED));
    }
    EXPECT_FALSE(entry_at(phys + PAGE_SIZE).has(FRAME_BLOCK_HEAD));
    u64 table_page = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::page_table);
    EXPECT_FALSE(entry_at(table_page).has(FRAME_PRESERVED));
    u64 iommu_table = frames_->alloc_frames(0, MemClass::preserved, 7, FrameType::page_table);
    EXPECT_TRUE(entry_at(iommu_table).has(FRAME_PRESERVED));
    EXPECT_EQ(frames_->alloc_frames(MAX_ORDER + 1, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap), 0u);
}

TEST_F(FramesTest, FreeCountsReturnToTheStartAfterAllocFreeCycles)
{
    const u64 start_ephemeral = frames_->free_frame_count(MemClass::ephemeral);
    const u64 start_preserved = frames_->free_frame_count(MemClass::preserved);
    const u64 start_region = frames_->bootmem_zone().free_frames();
    u64 state = 42;
    for (int cycle = 0; cycle < 4; cycle++) {
        std::vector<std::pair<u64, unsigned>> blocks;
        for (int i = 0; i < 400; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            unsigned order = static_cast<unsigned>((state >> 40) % 6);
            bool preserved = (state >> 20) & 1;
            u64 phys = preserved ? alloc_preserved(order) : alloc_ephemeral(order);
            ASSERT_NE(phys, 0u);
            blocks.emplace_back(phys, order);
        }
        EXPECT_LT(frames_->free_frame_count(MemClass::ephemeral), start_ephemeral);
        // Free in an interleaved order to exercise merging from both sides.
        for (usize i = 0; i < blocks.size(); i += 2)
            frames_->free_frames(blocks[i].first, blocks[i].second);
        for (usize i = 1; i < blocks.size(); i += 2)
            frames_->free_frames(blocks[i].first, blocks[i].second);
        EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), start_ephemeral);
        EXPECT_EQ(frames_->free_frame_count(MemClass::preserved), start_preserved);
        EXPECT_EQ(frames_->bootmem_zone().free_frames(), start_region);
    }
}

TEST_F(FramesTest, ReferenceCountsFreeOnTheLastPut)
{
    const u64 start = frames_->free_frame_count(MemClass::ephemeral);
    u64 phys = alloc_preserved(2);
    EXPECT_EQ(frames_->refcount(phys), 1u);
    frames_->ref_get(phys);
    frames_->ref_get(phys);
    EXPECT_EQ(frames_->refcount(phys), 3u);
    frames_->ref_put(phys);
    frames_->ref_put(phys);
    EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), start - 4);
    frames_->ref_put(phys); // the last one
    EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), start);
    EXPECT_EQ(entry_at(phys).type, FrameType::free);
}

TEST_F(FramesTest, ExtraPagesArePreservedAndFlagged)
{
    u64 shared_info = frames_->alloc_frames(0, MemClass::preserved, 3, FrameType::extra);
    ASSERT_NE(shared_info, 0u);
    EXPECT_TRUE(entry_at(shared_info).has(FRAME_EXTRA_PAGE));
    EXPECT_FALSE(frames_->in_bootmem_region(shared_info));

    u64 guest = alloc_preserved(1);
    ASSERT_EQ(frames_->set_extra_page(guest, true), 0);
    EXPECT_TRUE(entry_at(guest).has(FRAME_EXTRA_PAGE));
    EXPECT_TRUE(entry_at(guest + PAGE_SIZE).has(FRAME_EXTRA_PAGE));
    ASSERT_EQ(frames_->set_extra_page(guest, false), 0);
    EXPECT_FALSE(entry_at(guest + PAGE_SIZE).has(FRAME_EXTRA_PAGE));

    EXPECT_EQ(frames_->set_extra_page(alloc_ephemeral(), true), -BATON_EINVAL); // heap pages never
    EXPECT_EQ(frames_->set_extra_page(guest + PAGE_SIZE, true), -BATON_EINVAL); // not a block head
    EXPECT_EQ(frames_->set_extra_page(KERNEL_IMAGE.start, true), -BATON_EINVAL);
    EXPECT_EQ(frames_->set_extra_page(64 * GiB, true), -BATON_EINVAL);
}

TEST_F(FramesTest, FreeRangeGivesBackAdjacentBlocks)
{
    const u64 start = frames_->free_frame_count(MemClass::preserved);
    u64 low = alloc_preserved(4);
    u64 high = alloc_preserved(4);
    ASSERT_EQ(high, low + 16 * PAGE_SIZE) << "blocks from a fresh zone are adjacent";
    frames_->free_range({low, high + 16 * PAGE_SIZE});
    EXPECT_EQ(frames_->free_frame_count(MemClass::preserved), start);
}

TEST_F(FramesTest, TheKernelInstanceWorksToo)
{
    FrameAllocator &kernel = frame_allocator();
    ASSERT_EQ(kernel.early_init(qemu_layout()), 0);
    ASSERT_EQ(kernel.init(), 0);
    u64 phys = kernel.alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::page_table);
    EXPECT_TRUE(kernel.in_bootmem_region(phys));
    void *object = heap_alloc(100);
    ASSERT_NE(object, nullptr);
    EXPECT_TRUE(kernel.in_bootmem_region(virt_to_phys(object)));
    heap_free(object);
    kernel.free_frames(phys, 0);
}

TEST_F(FramesDeathTest, DoubleFreePanics)
{
    u64 phys = alloc_ephemeral(1);
    frames_->free_frames(phys, 1);
    EXPECT_DEATH(frames_->free_frames(phys, 1), "PANIC: free_frames: 0x[0-9a-f]+ is free \\(double free\\?\\)");
}

TEST_F(FramesDeathTest, WrongOrderPanics)
{
    u64 phys = alloc_ephemeral(2);
    EXPECT_DEATH(frames_->free_frames(phys, 1), "has order 2, freed with order 1");
}

TEST_F(FramesDeathTest, FreeingInsideABlockPanics)
{
    u64 phys = alloc_preserved(2);
    EXPECT_DEATH(frames_->free_frames(phys + PAGE_SIZE, 0),
                 "is not the start of an allocated block \\(type guest_ram\\)");
}

TEST_F(FramesDeathTest, FreeingWhatWasNeverAllocatedPanics)
{
    EXPECT_DEATH(frames_->free_frames(KERNEL_IMAGE.start, 0),
                 "not the start of an allocated block \\(type kernel_image\\)");
    EXPECT_DEATH(frames_->free_frames(frames_->table_phys(), 0), "type boot_alloc");
    EXPECT_DEATH(frames_->free_frames(100 * MiB, 0), "is free");
    EXPECT_DEATH(frames_->free_frames(64 * GiB, 0), "outside the frame table");
    EXPECT_DEATH(frames_->free_frames(alloc_ephemeral() + 8, 0), "not page aligned");
}

TEST_F(FramesDeathTest, FreeingAReferencedBlockPanics)
{
    u64 phys = alloc_preserved();
    frames_->ref_get(phys);
    EXPECT_DEATH(frames_->free_frames(phys, 0), "still has 2 references");
}

TEST_F(FramesDeathTest, ClassRulesAreEnforced)
{
    EXPECT_DEATH(frames_->alloc_frames(0, MemClass::preserved, OWNER_HYPERVISOR, FrameType::heap),
                 "heap frames cannot be preserved");
    EXPECT_DEATH(frames_->alloc_frames(0, MemClass::ephemeral, 1, FrameType::guest_ram),
                 "guest_ram frames cannot be ephemeral");
    EXPECT_DEATH(frames_->alloc_frames(0, MemClass::ephemeral, 1, FrameType::kernel_image),
                 "kernel_image frames cannot be ephemeral");
}

TEST_F(FramesDeathTest, FreeRangeMustEndOnABlockEdge)
{
    u64 phys = alloc_preserved(2);
    EXPECT_DEATH(frames_->free_range({phys, phys + 2 * PAGE_SIZE}), "runs past the end");
}

TEST_F(FramesTest, OutsideBootmemTakesOnlyTheGeneralZoneBelowTheLimit)
{
    // A next image's load slot: 2 MiB, naturally aligned, never in the region.
    constexpr unsigned SLOT_ORDER = 9;
    const u64 general_free = frames_->general_zone().free_frames();
    const u64 region_free = frames_->bootmem_zone().free_frames();
    u64 slot = frames_->alloc_outside_bootmem(SLOT_ORDER, FrameType::kernel_image, 4 * GiB);
    ASSERT_NE(slot, 0u);
    EXPECT_FALSE(frames_->bootmem_region().overlaps({slot, slot + (PAGE_SIZE << SLOT_ORDER)})) << std::hex << slot;
    EXPECT_EQ(slot % (PAGE_SIZE << SLOT_ORDER), 0u);
    EXPECT_EQ(entry_at(slot).type, FrameType::kernel_image);
    EXPECT_FALSE(entry_at(slot).has(FRAME_PRESERVED));
    EXPECT_EQ(frames_->bootmem_zone().free_frames(), region_free);
    frames_->free_frames(slot, SLOT_ORDER);
    EXPECT_EQ(frames_->general_zone().free_frames(), general_free);

    // The limit: nothing is free below 3 MiB here (low memory, the kernel image); below
    // 8 MiB a slot is, ending at or below the limit.
    EXPECT_EQ(frames_->alloc_outside_bootmem(0, FrameType::heap, 3 * MiB), 0u);
    constexpr u64 LIMIT = 8 * MiB;
    u64 low = frames_->alloc_outside_bootmem(SLOT_ORDER, FrameType::kernel_image, LIMIT);
    ASSERT_NE(low, 0u);
    EXPECT_LE(low + (PAGE_SIZE << SLOT_ORDER), LIMIT);
    frames_->free_frames(low, SLOT_ORDER);

    // With the general zone used up, nothing, although the region is free.
    std::vector<u64> blocks;
    while (u64 phys = alloc_preserved(0))
        blocks.push_back(phys);
    EXPECT_EQ(frames_->alloc_outside_bootmem(0, FrameType::heap, 4 * GiB), 0u);
    EXPECT_EQ(frames_->bootmem_zone().free_frames(), region_free);
    for (u64 phys : blocks)
        frames_->free_frames(phys, 0);
    EXPECT_EQ(frames_->general_zone().free_frames(), general_free);
}

TEST_F(FramesDeathTest, OutsideBootmemRefusesTypesThatMustBePreserved)
{
    EXPECT_DEATH(frames_->alloc_outside_bootmem(0, FrameType::guest_ram, 4 * GiB), "must be preserved");
}
