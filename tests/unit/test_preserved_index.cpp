// SPDX-License-Identifier: MIT
// Unit tests for the preserved-block index and its cross-check against the frame table.
#include "test_mm_support.hpp"
#include "update/preserved_scan.hpp"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <gtest/gtest.h>
#include <map>
#include <random>
#include <set>
#include <vector>

using namespace mm_test;

namespace {

// The preserved block heads as the frame table has them (a walk over every frame).
std::set<frame_t> heads_in_table(const FrameAllocator &frames)
{
    std::set<frame_t> heads;
    const FrameTable &table = frames.table();
    for (frame_t frame = 0; frame < table.frames(); frame++)
        if (table[frame].has(FRAME_BLOCK_HEAD) && table[frame].has(FRAME_PRESERVED))
            heads.insert(frame);
    return heads;
}

std::set<frame_t> heads_in_index(const FrameAllocator &frames)
{
    std::set<frame_t> heads;
    const PreservedIndex &index = frames.preserved_index();
    for (frame_t frame = index.next(0); frame != NO_FRAME; frame = index.next(frame + 1))
        heads.insert(frame);
    EXPECT_EQ(heads.size(), index.count());
    return heads;
}

std::vector<PreservedRun> runs_of(const FrameAllocator &frames, PreservedSource source)
{
    std::vector<PreservedRun> runs;
    for_each_preserved_run(frames, source, [&](const PreservedRun &run) { runs.push_back(run); });
    return runs;
}

std::string why(const PreservedCheck &check)
{
    char text[256];
    describe_preserved_check(check, text, sizeof(text));
    return text;
}

class PreservedIndexTest : public MmTest {
protected:
    void SetUp() override { boot(); }

    void expect_index_matches_table()
    {
        EXPECT_EQ(heads_in_index(*frames_), heads_in_table(*frames_));
        PreservedCheck check = check_preserved_runs_agree(*frames_);
        EXPECT_TRUE(check.agree) << why(check);
        EXPECT_EQ(runs_of(*frames_, PreservedSource::index), runs_of(*frames_, PreservedSource::frame_table));
    }
};

} // namespace

TEST(PreservedIndexBitmap, FollowsASetThroughRandomChanges)
{
    for (frame_t frames : {frame_t{1}, frame_t{63}, frame_t{64}, frame_t{65}, frame_t{4097}, frame_t{300000}}) {
        std::vector<u64> words(PreservedIndex::bytes_for(frames) / sizeof(u64), ~u64{0});
        PreservedIndex index;
        index.init(words.data(), frames);
        EXPECT_EQ(index.next(0), NO_FRAME);
        std::set<frame_t> model;
        std::mt19937_64 random(frames);
        for (int step = 0; step < 4000; step++) {
            frame_t frame = random() % frames;
            if (random() % 3 == 0) {
                index.erase(frame);
                model.erase(frame);
            } else {
                index.insert(frame);
                model.insert(frame);
            }
            frame_t from = random() % (frames + 1);
            auto expected = model.lower_bound(from);
            ASSERT_EQ(index.next(from), expected == model.end() ? NO_FRAME : *expected) << frames << " " << from;
            ASSERT_EQ(index.contains(frame), model.count(frame) == 1);
        }
        EXPECT_EQ(index.count(), model.size());
        std::vector<frame_t> listed;
        for (frame_t frame = index.next(0); frame != NO_FRAME; frame = index.next(frame + 1))
            listed.push_back(frame);
        EXPECT_EQ(listed, std::vector<frame_t>(model.begin(), model.end()));
        for (frame_t frame : listed)
            index.erase(frame);
        EXPECT_EQ(index.next(0), NO_FRAME);
        EXPECT_EQ(index.count(), 0u);
    }
}

TEST(PreservedIndexBitmap, CostsABitPerFrameAndCoversTheLargestTable)
{
    EXPECT_EQ(PreservedIndex::bytes_for(64), 8u);
    EXPECT_EQ(PreservedIndex::bytes_for(65), 24u); // two words, and one above them
    // 1 GiB of frames: 4096 words, 64 above them, 1 at the top.
    EXPECT_EQ(PreservedIndex::bytes_for(GiB / PAGE_SIZE), (4096u + 64 + 1) * 8);
    EXPECT_LT(PreservedIndex::bytes_for(FrameTable::MAX_FRAMES), FrameTable::MAX_FRAMES / 8 * 64 / 63 + 64);
}

TEST_F(PreservedIndexTest, AllocationsAndFreesKeepTheIndex)
{
    EXPECT_EQ(frames_->preserved_index().count(), 0u);
    u64 ram = frames_->alloc_frames(4, MemClass::preserved, 1, FrameType::guest_ram);
    u64 heap = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    u64 extra = frames_->alloc_frames(0, MemClass::preserved, 1, FrameType::extra);
    u64 table = frames_->alloc_frames(0, MemClass::preserved, OWNER_HYPERVISOR, FrameType::page_table);
    u64 nested = frames_->alloc_frames(0, MemClass::ephemeral, 1, FrameType::page_table);
    ASSERT_TRUE(ram != 0 && heap != 0 && extra != 0 && table != 0 && nested != 0);
    EXPECT_EQ(heads_in_index(*frames_),
              (std::set<frame_t>{addr_to_frame(ram), addr_to_frame(extra), addr_to_frame(table)}));
    expect_index_matches_table();

    frames_->free_frames(ram, 4);
    frames_->ref_get(extra);
    frames_->ref_put(extra);
    EXPECT_TRUE(frames_->preserved_index().contains(addr_to_frame(extra))) << "still referenced";
    frames_->ref_put(extra); // the last reference frees it
    EXPECT_EQ(heads_in_index(*frames_), std::set<frame_t>{addr_to_frame(table)});
    expect_index_matches_table();
    frames_->free_frames(table, 0);
    frames_->free_frames(nested, 0);
    frames_->free_frames(heap, 0);
    EXPECT_EQ(frames_->preserved_index().count(), 0u);
}

TEST_F(PreservedIndexTest, BuddySplitsAndMergesLeaveOnlyAllocatedHeads)
{
    // Split a large block into preserved pieces of every order, free them so they merge
    // back, then take the merged block whole: the index follows the heads, not the zone.
    std::vector<std::pair<u64, unsigned>> blocks;
    for (unsigned order = 0; order <= 6; order++)
        blocks.push_back({frames_->alloc_frames(order, MemClass::preserved, 2, FrameType::guest_ram), order});
    expect_index_matches_table();
    for (auto [phys, order] : blocks)
        frames_->free_frames(phys, order);
    EXPECT_EQ(frames_->preserved_index().count(), 0u);
    u64 whole = frames_->alloc_frames(7, MemClass::preserved, 2, FrameType::guest_ram);
    ASSERT_NE(whole, 0u);
    EXPECT_EQ(heads_in_index(*frames_), std::set<frame_t>{addr_to_frame(whole)});
    expect_index_matches_table();
}

TEST_F(PreservedIndexTest, RandomPatternsAgreeWithTheFrameTable)
{
    std::mt19937_64 random(7);
    const FrameType types[] = {FrameType::guest_ram, FrameType::extra, FrameType::page_table,
                               FrameType::log_dirty_bitmap, FrameType::heap};
    std::vector<std::pair<u64, unsigned>> live;
    for (int step = 0; step < 3000; step++) {
        if (!live.empty() && random() % 5 < 2) {
            usize victim = random() % live.size();
            frames_->free_frames(live[victim].first, live[victim].second);
            live[victim] = live.back();
            live.pop_back();
        } else {
            FrameType type = types[random() % 5];
            unsigned order = static_cast<unsigned>(random() % 5);
            MemClass mem_class = type == FrameType::heap || (type == FrameType::page_table && random() % 2 == 0)
                                     ? MemClass::ephemeral
                                     : MemClass::preserved;
            auto owner = static_cast<frame_owner_t>(random() % 3);
            u64 phys = frames_->alloc_frames(order, mem_class, owner, type);
            if (phys != 0)
                live.push_back({phys, order});
            if (phys != 0 && type == FrameType::guest_ram && random() % 4 == 0) {
                ASSERT_EQ(frames_->set_extra_page(phys, true), 0);
            }
        }
        if (step % 500 == 0)
            expect_index_matches_table();
    }
    expect_index_matches_table();
    EXPECT_GT(runs_of(*frames_, PreservedSource::index).size(), 10u);
}

TEST_F(PreservedIndexTest, ALeakedBlockIsStillListed)
{
    // Allocated and forgotten by its owner: still preserved, so still in the record.
    u64 leaked = frames_->alloc_frames(2, MemClass::preserved, 3, FrameType::guest_ram);
    ASSERT_NE(leaked, 0u);
    std::vector<PreservedRun> runs = runs_of(*frames_, PreservedSource::index);
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].range.start, leaked);
    EXPECT_EQ(runs[0].range.end, leaked + 4 * PAGE_SIZE);
    EXPECT_EQ(runs[0].owner, 3u);
    expect_index_matches_table();
}

TEST_F(PreservedIndexTest, TheCrossCheckCatchesABlockTheIndexMissed)
{
    u64 ram = frames_->alloc_frames(3, MemClass::preserved, 1, FrameType::guest_ram);
    u64 behind = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    ASSERT_TRUE(ram != 0 && behind != 0);
    // Made preserved in the frame table behind the allocator's back.
    frames_->table().mark_block(addr_to_frame(behind), 0, FrameType::guest_ram, 4, FRAME_PRESERVED);
    PreservedCheck check = check_preserved_runs_agree(*frames_);
    EXPECT_FALSE(check.agree);
    const PreservedRun planted{{behind, behind + PAGE_SIZE}, FrameType::guest_ram, 4, 0};
    EXPECT_TRUE(check.has_walked && check.walked == planted) << why(check);
    EXPECT_NE(why(check).find("differs"), std::string::npos) << why(check);
    EXPECT_NE(why(check).find("owner 0x4"), std::string::npos) << why(check);
}

TEST_F(PreservedIndexTest, TheCrossCheckCatchesAStaleOrMissingIndexEntry)
{
    u64 a = frames_->alloc_frames(0, MemClass::preserved, 1, FrameType::extra);
    u64 b = frames_->alloc_frames(1, MemClass::preserved, 1, FrameType::guest_ram);
    ASSERT_TRUE(a != 0 && b != 0);
    EXPECT_TRUE(check_preserved_runs_agree(*frames_).agree);
    frames_->preserved_index_for_test().erase(addr_to_frame(b)); // forgotten by the index
    PreservedCheck missing = check_preserved_runs_agree(*frames_);
    EXPECT_FALSE(missing.agree) << why(missing);
    frames_->preserved_index_for_test().insert(addr_to_frame(b));
    u64 heap = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    frames_->preserved_index_for_test().insert(addr_to_frame(heap)); // an ephemeral block listed
    PreservedCheck stale = check_preserved_runs_agree(*frames_);
    EXPECT_FALSE(stale.agree) << why(stale);
    EXPECT_TRUE(stale.has_indexed);
    EXPECT_EQ(stale.indexed.type, FrameType::heap);
}

TEST_F(PreservedIndexTest, ARecordsRangesAreIndexedAtInitAndDroppedByFreeRange)
{
    const PreservedRange preserved[] = {
        {{40 * MiB, 40 * MiB + 3 * PAGE_SIZE}, 1, FrameType::guest_ram, 0}, // cut into 2 + 1 frames
        {{40 * MiB + 3 * PAGE_SIZE, 40 * MiB + 4 * PAGE_SIZE}, 1, FrameType::extra, FRAME_EXTRA_PAGE},
        {{48 * MiB, 48 * MiB + 4 * PAGE_SIZE}, OWNER_HYPERVISOR, FrameType::page_table, 0}, // single frames
        {{64 * MiB, 66 * MiB}, OWNER_HYPERVISOR, FrameType::record, 0},
    };
    frames_ = std::make_unique<FrameAllocator>();
    boot(preserved, sizeof(preserved) / sizeof(preserved[0]));
    EXPECT_EQ(frames_->preserved_index().count(), 2u + 1 + 4 + 1);
    expect_index_matches_table();
    std::vector<PreservedRun> runs = runs_of(*frames_, PreservedSource::index);
    ASSERT_EQ(runs.size(), 4u);
    for (usize i = 0; i < runs.size(); i++) {
        EXPECT_EQ(runs[i].range.start, preserved[i].range.start) << i;
        EXPECT_EQ(runs[i].range.end, preserved[i].range.end) << i;
        EXPECT_EQ(runs[i].type, preserved[i].type) << i;
        EXPECT_EQ(runs[i].flags, preserved[i].flags) << i;
    }
    frames_->free_range(preserved[0].range);
    frames_->free_range(preserved[2].range);
    EXPECT_EQ(frames_->preserved_index().count(), 2u);
    expect_index_matches_table();
    frames_->free_range(preserved[1].range);
    frames_->free_range(preserved[3].range);
    EXPECT_EQ(frames_->preserved_index().count(), 0u);
    EXPECT_TRUE(runs_of(*frames_, PreservedSource::frame_table).empty());
}

namespace {

// The same few guests on machines of different sizes: the time to list the preserved
// runs from the index and by the frame-table walk. With `fragment`, free memory is
// first cut into single frames (half of it held as heap pages), as a long-running host
// may leave it: the walk then steps over every other frame.
struct ListingTimes {
    double index_us = 0, walk_us = 0;
    usize runs = 0;
};

template <typename List>
double best_of(int rounds, List &&list)
{
    double best = 1e30;
    for (int round = 0; round < rounds; round++) {
        auto start = std::chrono::steady_clock::now();
        list();
        double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
        best = us < best ? us : best;
    }
    return best;
}

ListingTimes time_listing(u64 ram_bytes, bool fragment)
{
    SimulatedRam ram(ram_bytes);
    const MemoryMapEntry map[] = {{0, 0x9f000, 1}, {MiB, ram_bytes - MiB, 1}};
    const ReservedRange reserved[] = {{{MiB, 3 * MiB}, FrameType::kernel_image, "the kernel image"}};
    MemoryLayout layout;
    layout.memory_map = map;
    layout.memory_map_count = 2;
    layout.reserved = reserved;
    layout.reserved_count = 1;
    auto frames = std::make_unique<FrameAllocator>();
    EXPECT_EQ(frames->early_init(layout), 0);
    EXPECT_EQ(frames->init(), 0);
    // Three guests of 128 MiB in four blocks each, a shared-info page, a dirty bitmap,
    // 16 IOMMU table pages and 64 nested table pages; the IOMMU root, a record, a kit.
    for (frame_owner_t guest = 1; guest <= 3; guest++) {
        for (int block = 0; block < 4; block++)
            EXPECT_NE(frames->alloc_frames(13, MemClass::preserved, guest, FrameType::guest_ram), 0u);
        EXPECT_NE(frames->alloc_frames(0, MemClass::preserved, guest, FrameType::extra), 0u);
        EXPECT_NE(frames->alloc_frames(1, MemClass::preserved, guest, FrameType::log_dirty_bitmap), 0u);
        for (int page = 0; page < 16; page++)
            EXPECT_NE(frames->alloc_frames(0, MemClass::preserved, guest, FrameType::page_table), 0u);
        for (int page = 0; page < 64; page++)
            EXPECT_NE(frames->alloc_frames(0, MemClass::ephemeral, guest, FrameType::page_table), 0u);
    }
    EXPECT_NE(frames->alloc_frames(0, MemClass::preserved, OWNER_HYPERVISOR, FrameType::page_table), 0u);
    EXPECT_NE(frames->alloc_frames(5, MemClass::preserved, OWNER_HYPERVISOR, FrameType::record), 0u);
    EXPECT_NE(frames->alloc_frames(4, MemClass::preserved, OWNER_HYPERVISOR, FrameType::rollback_kit), 0u);
    if (fragment) {
        std::vector<u64> pages;
        while (u64 phys = frames->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap))
            pages.push_back(phys);
        for (usize i = 0; i < pages.size(); i += 2)
            frames->free_frames(pages[i], 0);
    }
    PreservedCheck check = check_preserved_runs_agree(*frames);
    EXPECT_TRUE(check.agree) << why(check);
    ListingTimes times;
    times.runs = runs_of(*frames, PreservedSource::index).size();
    usize sink = 0;
    times.index_us = best_of(
        5, [&] { for_each_preserved_run(*frames, PreservedSource::index, [&](const PreservedRun &) { sink++; }); });
    times.walk_us = best_of(5, [&] {
        for_each_preserved_run(*frames, PreservedSource::frame_table, [&](const PreservedRun &) { sink++; });
    });
    EXPECT_EQ(sink, 10 * times.runs);
    return times;
}

} // namespace

// Prints the figures; the fragmented machines (slow to set up) only with BATON_BENCH=1.
TEST(PreservedListingCost, GrowsWithTheRecordNotWithRam)
{
    const bool bench = std::getenv("BATON_BENCH") != nullptr;
    for (bool fragment : {false, true}) {
        if (fragment && !bench)
            continue;
        for (u64 gib : {u64{1}, u64{16}}) {
            ListingTimes times = time_listing(gib * GiB, fragment);
            std::printf("preserved listing, %2lu GiB%s: %zu runs, index %.1f us, frame-table walk %.1f us\n", gib,
                        fragment ? " (fragmented)" : "", times.runs, times.index_us, times.walk_us);
            EXPECT_GT(times.runs, 3u);
        }
    }
}
