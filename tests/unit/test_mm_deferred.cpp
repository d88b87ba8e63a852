// SPDX-License-Identifier: MIT
// Unit tests for the deferred start-up: the frame table built by sections, free memory later.
#include "abi/errno.h"
#include "mm/memory_report.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <random>
#include <vector>

using namespace mm_test;

namespace {

// What a record could preserve on the test machine, sorted: guest RAM in odd sizes and
// places (blocks of many orders, some spanning sections), page tables, an extra page, a
// range right after the bootmem region.
const PreservedRange RECORD[] = {
    {{0x360000, 0x3a3000}, 1, FrameType::guest_ram, 0},
    {{0x3a3000, 0x3a7000}, 1, FrameType::page_table, 0},
    {{0x500000, 0x501000}, 1, FrameType::extra, FRAME_EXTRA_PAGE},
    {{DEFAULT_REGION.end, DEFAULT_REGION.end + 0x1235000}, 2, FrameType::guest_ram, 0},
    {{52 * MiB + 0x7000, 80 * MiB}, 2, FrameType::guest_ram, 0},
    {{90 * MiB, 90 * MiB + 0x3000}, OWNER_HYPERVISOR, FrameType::record, 0},
};
constexpr usize RECORD_COUNT = sizeof(RECORD) / sizeof(RECORD[0]);

// An entry as far as what it holds goes (free-list links depend on the order of frees).
struct Held {
    FrameType type;
    frame_owner_t owner;
    u8 flags;
    u8 order;
    u32 refcount;
    bool operator==(const Held &) const = default;
};

Held held(const FrameEntry &entry)
{
    bool head = entry.has(FRAME_BLOCK_HEAD);
    return {entry.type, entry.owner, static_cast<u8>(entry.flags & ~FRAME_FREE_HEAD),
            head || entry.has(FRAME_FREE_HEAD) ? entry.order : u8{0}, head ? entry.use.refcount : 0};
}

class DeferredTest : public MmTest {
protected:
    void start(StartUp start_up)
    {
        frames_ = std::make_unique<FrameAllocator>();
        ASSERT_EQ(frames_->early_init(qemu_layout({}, true)), 0);
        ASSERT_EQ(frames_->init(RECORD, RECORD_COUNT, start_up), 0);
    }

    std::vector<Held> snapshot()
    {
        std::vector<Held> entries;
        for (frame_t frame = 0; frame < frames_->table().frames(); frame++)
            entries.push_back(held(frames_->table()[frame]));
        return entries;
    }

    void give_everything()
    {
        while (frames_->give_pending(3)) {
        }
        EXPECT_EQ(frames_->pending_frames(), 0u);
    }

    static bool preserved_by_record(u64 phys)
    {
        for (const PreservedRange &range : RECORD)
            if (range.range.contains(phys))
                return true;
        return false;
    }
};

} // namespace

TEST_F(DeferredTest, BeforeAnyIsGivenOnlyTheBootmemRegionIsBuiltAndFree)
{
    start(StartUp::complete);
    const u64 complete_region_free = frames_->bootmem_zone().free_frames();
    const u64 complete_general_free = frames_->general_zone().free_frames();
    EXPECT_EQ(frames_->table().unready_sections(), 0u);

    start(StartUp::deferred);
    const FrameTable &table = frames_->table();
    const frame_t region_sections = DEFAULT_REGION.size() >> (PAGE_SHIFT + FRAME_SECTION_ORDER);
    EXPECT_EQ(table.unready_sections(), FrameTable::sections_for(table.frames()) - region_sections);
    EXPECT_EQ(frames_->bootmem_zone().free_frames(), complete_region_free);
    EXPECT_EQ(frames_->general_zone().free_frames(), 0u);
    EXPECT_EQ(frames_->pending_frames(), complete_general_free);
    // The preserved-block index is complete from the start: an update may serialize now.
    EXPECT_TRUE(frames_->preserved_index().contains(addr_to_frame(RECORD[3].range.start)));
    EXPECT_TRUE(frames_->preserved_index().contains(addr_to_frame(RECORD[1].range.start) + 3)); // page tables: 1 each

    MemoryReport report = memory_report(*frames_);
    EXPECT_EQ(report.pending_bytes, frame_to_addr(complete_general_free));
    EXPECT_GT(report.unbuilt_bytes, 100 * MiB);
    EXPECT_EQ(table.unready_sections(), FrameTable::sections_for(table.frames()) - region_sections)
        << "the report built sections";
}

TEST_F(DeferredTest, OnceEverythingIsGivenTheTableIsWhatACompleteStartUpBuilds)
{
    start(StartUp::complete);
    const std::vector<Held> complete = snapshot();
    const MemoryReport complete_report = memory_report(*frames_);
    const u64 complete_free = frames_->free_frame_count(MemClass::ephemeral);

    start(StartUp::deferred);
    // Sections built in a scattered order first, by reading entries, then all given.
    std::mt19937 random(7);
    for (int i = 0; i < 20; i++)
        (void)frames_->table()[random() % frames_->table().frames()];
    give_everything();
    EXPECT_EQ(frames_->table().unready_sections(), 0u);
    EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), complete_free);
    const std::vector<Held> deferred = snapshot();
    for (frame_t frame = 0; frame < deferred.size(); frame++)
        ASSERT_EQ(deferred[frame], complete[frame]) << "frame 0x" << std::hex << frame;
    MemoryReport report = memory_report(*frames_);
    EXPECT_EQ(report.pending_bytes, 0u);
    EXPECT_EQ(report.unbuilt_bytes, 0u);
    EXPECT_EQ(report.preserved_frames, complete_report.preserved_frames);
    EXPECT_EQ(report.free_bytes, complete_report.free_bytes);
}

// The blocks a section's filler writes are those of the greedy cut init() always made.
TEST_F(DeferredTest, PreservedRangesAreCutAsTheAllocatorCutsThemWhicheverSectionIsBuiltFirst)
{
    std::mt19937 random(11);
    for (int round = 0; round < 40; round++) {
        const frame_t first = 0x3000 + random() % 0x2000, count = 1 + random() % 0x2f00;
        const PreservedRange range{{frame_to_addr(first), frame_to_addr(first + count)}, 4, FrameType::guest_ram, 0};
        frames_ = std::make_unique<FrameAllocator>();
        ASSERT_EQ(frames_->early_init(qemu_layout({}, true)), 0);
        ASSERT_EQ(frames_->init(&range, 1, StartUp::deferred), 0);
        (void)frames_->table()[first + random() % count]; // a section in the middle first
        for (frame_t frame = first; frame < first + count;) {
            const unsigned order = largest_block_order(frame, first + count);
            const FrameEntry &head = frames_->table()[frame];
            ASSERT_TRUE(head.has(FRAME_BLOCK_HEAD)) << "round " << round << " frame 0x" << std::hex << frame;
            ASSERT_EQ(head.order, order);
            ASSERT_EQ(head.use.refcount, 1u);
            for (frame_t tail = frame + 1; tail < frame + (frame_t{1} << order); tail++)
                ASSERT_FALSE(frames_->table()[tail].has(FRAME_BLOCK_HEAD));
            frame += frame_t{1} << order;
        }
    }
}

TEST_F(DeferredTest, AllocationsNeverGetPreservedOrUnprovenMemoryAndGrowTheZonesOnDemand)
{
    start(StartUp::deferred);
    std::mt19937 random(3);
    std::vector<std::pair<u64, unsigned>> taken;
    u64 taken_frames = 0;
    for (;;) {
        const unsigned order = random() % 8;
        const MemClass mem_class = random() % 2 ? MemClass::ephemeral : MemClass::preserved;
        const u64 phys = frames_->alloc_frames(
            order, mem_class, 5, mem_class == MemClass::preserved ? FrameType::guest_ram : FrameType::heap);
        if (phys == 0)
            break;
        for (u64 at = phys; at < phys + (PAGE_SIZE << order); at += PAGE_SIZE) {
            ASSERT_FALSE(preserved_by_record(at)) << std::hex << at;
            ASSERT_FALSE(KERNEL_IMAGE.contains(at) || MODULE.contains(at) || LOW_MEMORY.contains(at)) << std::hex << at;
            ASSERT_LT(at, RAM_TOP);
        }
        taken.emplace_back(phys, order);
        taken_frames += u64{1} << order;
        if (random() % 16 == 0)
            frames_->give_pending(1); // the idle loop's share, now and then
    }
    // Memory ran out only once every section had been given.
    EXPECT_EQ(frames_->pending_frames(), 0u);
    EXPECT_EQ(frames_->table().unready_sections(), 0u);
    for (const auto &[phys, order] : taken)
        frames_->free_frames(phys, order);
    const u64 free_after = frames_->free_frame_count(MemClass::ephemeral);

    start(StartUp::complete);
    EXPECT_EQ(free_after, frames_->free_frame_count(MemClass::ephemeral)) << "every frame came back";
    EXPECT_GT(taken_frames, 0u);
}

TEST_F(DeferredTest, PreservedMemoryFreedBeforeItsSectionsAreBuiltComesBackWhole)
{
    start(StartUp::complete);
    for (const PreservedRange &range : RECORD)
        frames_->free_range(range.range);
    const u64 complete_free = frames_->free_frame_count(MemClass::ephemeral);
    const std::vector<Held> complete = snapshot();

    start(StartUp::deferred);
    for (const PreservedRange &range : RECORD) // a domain destroyed right after the update
        frames_->free_range(range.range);
    EXPECT_GT(frames_->table().unready_sections(), 0u);
    give_everything();
    EXPECT_EQ(frames_->free_frame_count(MemClass::ephemeral), complete_free);
    EXPECT_EQ(snapshot(), complete);
    EXPECT_EQ(frames_->preserved_index().count(), 0u);
}

TEST_F(DeferredTest, UnsortedOrOverlappingListsAreRefused)
{
    const PreservedRange unsorted[] = {RECORD[3], RECORD[0]};
    frames_ = std::make_unique<FrameAllocator>();
    ASSERT_EQ(frames_->early_init(qemu_layout({}, true)), 0);
    EXPECT_EQ(frames_->init(unsorted, 2, StartUp::deferred), -BATON_EINVAL);
}
