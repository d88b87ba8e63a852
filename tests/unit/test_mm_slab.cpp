// SPDX-License-Identifier: MIT
// Unit tests for the small-object heap.
#include "mm/slab.hpp"
#include "test_mm_support.hpp"
#include <algorithm>
#include <cstring>
#include <gtest/gtest.h>
#include <vector>

using namespace mm_test;

namespace {

class SlabTest : public MmTest {
protected:
    void SetUp() override { boot(); }
    SlabHeap heap_{frames_.get()};
};

using SlabDeathTest = SlabTest;

struct Allocation {
    u8 *pointer;
    usize size;
    u8 pattern;
};

} // namespace

TEST(SlabClasses, SizesAndObjectsPerPage)
{
    EXPECT_EQ(SlabHeap::class_size(0), 16u);
    EXPECT_EQ(SlabHeap::class_size(SLAB_CLASS_COUNT - 1), 2048u);
    EXPECT_EQ(SlabHeap::objects_per_page(0), 255u); // 256 fit, one index is the end marker
    EXPECT_EQ(SlabHeap::objects_per_page(1), 128u);
    EXPECT_EQ(SlabHeap::objects_per_page(SLAB_CLASS_COUNT - 1), 2u);
}

TEST_F(SlabTest, ManySizesKeepTheirContentsAndComeFromTheRegion)
{
    const u64 start = frames_->free_frame_count(MemClass::ephemeral);
    std::vector<Allocation> allocations;
    const usize sizes[] = {1,   8,   16,   17,   31,   32,   48,   64,   100,  128,   200,   256,
                           500, 512, 1000, 1024, 1500, 2048, 2049, 4096, 5000, 20000, 100000};
    for (int round = 0; round < 40; round++) {
        for (usize size : sizes) {
            u8 *pointer = static_cast<u8 *>(heap_.alloc(size));
            ASSERT_NE(pointer, nullptr) << size;
            EXPECT_TRUE(frames_->in_bootmem_region(virt_to_phys(pointer)));
            EXPECT_EQ(reinterpret_cast<uptr>(pointer) % (size >= 16 ? 16 : 1), 0u);
            u8 pattern = static_cast<u8>(allocations.size() * 7 + 1);
            memset(pointer, pattern, size);
            allocations.push_back({pointer, size, pattern});
        }
    }
    // No two allocations overlap.
    std::vector<Allocation> sorted = allocations;
    std::sort(sorted.begin(), sorted.end(), [](auto &a, auto &b) { return a.pointer < b.pointer; });
    for (usize i = 1; i < sorted.size(); i++)
        ASSERT_LE(sorted[i - 1].pointer + sorted[i - 1].size, sorted[i].pointer);
    // Free every other one, check the rest survived, then free those too.
    for (usize i = 0; i < allocations.size(); i += 2)
        heap_.free(allocations[i].pointer);
    for (usize i = 1; i < allocations.size(); i += 2) {
        const Allocation &a = allocations[i];
        ASSERT_TRUE(std::all_of(a.pointer, a.pointer + a.size, [&](u8 b) { return b == a.pattern; })) << a.size;
        heap_.free(a.pointer);
    }
    // At most one empty page per class stays cached; everything else went back.
    u64 cached = 0;
    for (unsigned size_class = 0; size_class < SLAB_CLASS_COUNT; size_class++) {
        EXPECT_LE(heap_.slab_pages(size_class), 1u) << size_class;
        cached += heap_.slab_pages(size_class);
    }
    EXPECT_EQ(heap_.large_blocks(), 0u);
    EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral) + cached, start);
}

TEST_F(SlabTest, FreedObjectsAreReused)
{
    void *a = heap_.alloc(64);
    void *b = heap_.alloc(64);
    EXPECT_EQ(static_cast<u8 *>(b) - static_cast<u8 *>(a), 64);
    heap_.free(a);
    EXPECT_EQ(heap_.alloc(40), a); // same class, most recently freed first
    EXPECT_EQ(heap_.slab_pages(2), 1u);
}

TEST_F(SlabTest, FullPagesLeaveAndRejoinThePartialList)
{
    std::vector<void *> objects;
    for (unsigned i = 0; i < 2 * SlabHeap::objects_per_page(7) + 1; i++)
        objects.push_back(heap_.alloc(2048));
    EXPECT_EQ(heap_.slab_pages(7), 3u);
    heap_.free(objects[0]); // a full page gets a free object again
    EXPECT_EQ(heap_.alloc(2048), objects[0]);
    for (void *object : objects)
        heap_.free(object);
    EXPECT_EQ(heap_.slab_pages(7), 1u);
}

TEST_F(SlabTest, LargeAllocationsAreWholePageBlocks)
{
    u8 *block = static_cast<u8 *>(heap_.alloc(3 * PAGE_SIZE + 1));
    ASSERT_NE(block, nullptr);
    u64 phys = virt_to_phys(block);
    EXPECT_TRUE(is_aligned(phys, PAGE_SIZE));
    EXPECT_EQ(entry_at(phys).order, 2); // 4 pages
    EXPECT_EQ(entry_at(phys).type, FrameType::heap);
    EXPECT_EQ(heap_.large_blocks(), 1u);
    heap_.free(block);
    EXPECT_EQ(entry_at(phys).type, FrameType::free);
}

TEST_F(SlabTest, ZallocZeroesRecycledMemory)
{
    for (usize size : {24ul, 700ul, 9000ul}) {
        u8 *dirty = static_cast<u8 *>(heap_.alloc(size));
        memset(dirty, 0xa5, size);
        heap_.free(dirty);
        u8 *clean = static_cast<u8 *>(heap_.zalloc(size));
        ASSERT_EQ(clean, dirty) << "expected the same memory back for size " << size;
        EXPECT_TRUE(std::all_of(clean, clean + size, [](u8 b) { return b == 0; })) << size;
        heap_.free(clean);
    }
}

TEST_F(SlabTest, ZeroSizedAndImpossibleRequestsReturnNull)
{
    EXPECT_EQ(heap_.alloc(0), nullptr);
    EXPECT_EQ(heap_.alloc(2 * GiB), nullptr);
    EXPECT_EQ(heap_.alloc(512 * MiB), nullptr); // fits no zone of this machine
    heap_.free(nullptr); // a no-op, like free(NULL)
}

TEST_F(SlabDeathTest, DoubleFreeOfAnObjectPanics)
{
    void *keep = heap_.alloc(32); // keeps the page alive after the victim is freed
    void *victim = heap_.alloc(32);
    heap_.free(victim);
    EXPECT_DEATH(heap_.free(victim), "heap_free: double free of 0x");
    heap_.free(keep);
}

TEST_F(SlabDeathTest, DoubleFreeOfALargeBlockPanics)
{
    void *block = heap_.alloc(10000);
    heap_.free(block);
    EXPECT_DEATH(heap_.free(block), "points into a free frame");
}

TEST_F(SlabDeathTest, ForeignPointersPanic)
{
    int on_the_stack = 0;
    EXPECT_DEATH(heap_.free(&on_the_stack), "is not a heap pointer");
    EXPECT_DEATH(heap_.free(phys_to_virt(KERNEL_IMAGE.start + 64)), "not a heap pointer \\(frame type kernel_image\\)");
    u8 *object = static_cast<u8 *>(heap_.alloc(128));
    EXPECT_DEATH(heap_.free(object + 8), "is not the start of a 128-byte object");
    u8 *block = static_cast<u8 *>(heap_.alloc(3 * PAGE_SIZE));
    EXPECT_DEATH(heap_.free(block + PAGE_SIZE), "inside a heap block, not its start");
}

TEST_F(SlabDeathTest, SlabPagesCannotBeFreedBehindTheHeapsBack)
{
    void *object = heap_.alloc(16);
    u64 page = align_down(virt_to_phys(object), PAGE_SIZE);
    EXPECT_DEATH(frames_->free_frames(page, 0), "is a slab page");
    EXPECT_DEATH(frames_->ref_get(page), "is a slab page");
}
