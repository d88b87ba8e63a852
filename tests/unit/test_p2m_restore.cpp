// SPDX-License-Identifier: MIT
// Unit tests for rebuilding a p2m from its ranges: a simulated live update, and rejected lists.
#include "test_p2m_support.hpp"
#include <algorithm>
#include <gtest/gtest.h>
#include <map>

using namespace p2m_test;

namespace {

constexpr u64 RAM_COUNT = 3000;
constexpr u64 HIGH_RAM = 0x10000;
constexpr u64 HIGH_COUNT = 100;
constexpr u64 SHARED_INFO_GFN = 700;
constexpr u64 EMULATED_GFN = 0xfee00;
constexpr u64 DEVICE_GFN = 0xfea00;
constexpr u64 MAGIC = 0x5a5a000000000000ul;

// Every guest frame worth comparing: RAM, the overlay, devices, and holes around them.
std::vector<u64> interesting_frames()
{
    std::vector<u64> frames;
    for (u64 gfn = 0; gfn < RAM_COUNT + 5; gfn++)
        frames.push_back(gfn);
    for (u64 gfn = HIGH_RAM - 1; gfn <= HIGH_RAM + HIGH_COUNT; gfn++)
        frames.push_back(gfn);
    for (u64 gfn : {DEVICE_GFN - 1, DEVICE_GFN, DEVICE_GFN + 3, DEVICE_GFN + 4, EMULATED_GFN, EMULATED_GFN + 1})
        frames.push_back(gfn);
    return frames;
}

class P2mRestoreTest : public P2mTest {
protected:
    // A domain with everything the record has to carry, half-way through a migration.
    void build_domain()
    {
        ASSERT_EQ(p2m().populate_ram(0, RAM_COUNT, P2mAccess::rwx), 0);
        ASSERT_EQ(p2m().populate_ram(HIGH_RAM, HIGH_COUNT, P2mAccess::rw), 0);
        shared_info_ = extra_page();
        ASSERT_EQ(p2m().map(SHARED_INFO_GFN, shared_info_, 1, P2mType::ram_rw, P2mAccess::rw), 0);
        ASSERT_EQ(p2m().map(DEVICE_GFN, DEVICE_MFN, 4, P2mType::mmio, P2mAccess::rw), 0);
        ASSERT_EQ(p2m().map(EMULATED_GFN, 0, 1, P2mType::mmio_emulated, P2mAccess::rw), 0);
        // Guest contents: each RAM frame remembers its guest frame number.
        p2m().for_each_range([&](const P2mRange &range) {
            for (u64 i = 0; range.owned() && i < range.count; i++)
                *phys_to<u64>(frame_to_addr(range.mfn + i)) = MAGIC | (range.gfn + i);
        });
        ASSERT_EQ(p2m().enable_log_dirty(), 0);
        for (u64 gfn : {u64{1}, u64{2}, u64{600}, u64{2999}, HIGH_RAM + 5})
            ASSERT_TRUE(guest_write(p2m(), gfn, 0x77, 8));
        ASSERT_TRUE(guest_access(p2m(), 100, false).done);
        EXPECT_EQ(dirty_frames(p2m(), 0, RAM_COUNT, true), (std::vector<u64>{1, 2, 600, 2999}));
        for (u64 gfn : {u64{2}, u64{5}, u64{1000}, HIGH_RAM + 1})
            ASSERT_TRUE(guest_write(p2m(), gfn, 0x78, 8));
    }

    // The old image's side of the handover: resolve, describe, list what must be kept.
    void capture()
    {
        p2m().resolve_pending();
        ranges_ = ranges_of(p2m());
        log_dirty_ = p2m().log_dirty_state();
        for (u64 gfn : interesting_frames()) {
            lookups_[gfn] = p2m().lookup(gfn);
            leaves_[gfn] = p2m().tables().leaf(gfn) & ~(npt::ACCESSED | npt::DIRTY);
        }
        dirty_ = dirty_frames(p2m(), 0, HIGH_RAM + HIGH_COUNT, false);
        ram_frames_ = p2m().ram_frames();
        for (const P2mRange &range : ranges_) {
            if (range.owned())
                preserved_.push_back({{frame_to_addr(range.mfn), frame_to_addr(range.mfn + range.count)},
                                      DOMAIN,
                                      FrameType::guest_ram,
                                      0});
        }
        preserved_.push_back({{frame_to_addr(shared_info_), frame_to_addr(shared_info_ + 1)},
                              DOMAIN,
                              FrameType::extra,
                              FRAME_EXTRA_PAGE});
        preserved_.push_back({{log_dirty_.bitmap_phys, log_dirty_.bitmap_phys + log_dirty_.bitmap_frames * PAGE_SIZE},
                              DOMAIN,
                              DIRTY_BITMAP_FRAME_TYPE,
                              0});
    }

    // The new image: an allocator confined to the bootmem region until it knows what the
    // record preserves. The old allocator's tables in that region are gone after this.
    void boot_next_image()
    {
        next_ = std::make_unique<FrameAllocator>();
        // Sorted, as a record's preserved list is.
        std::sort(preserved_.begin(), preserved_.end(),
                  [](const PreservedRange &a, const PreservedRange &b) { return a.range.start < b.range.start; });
        ASSERT_EQ(next_->early_init(mm_test::qemu_layout({}, true)), 0);
        ASSERT_EQ(next_->init(preserved_.data(), preserved_.size()), 0);
        p2m_.reset(); // the old image's p2m is not destroyed (no frames are freed): it stops existing
    }

    u64 shared_info_ = 0;
    std::vector<P2mRange> ranges_;
    LogDirtyState log_dirty_;
    std::map<u64, P2mEntry> lookups_;
    std::map<u64, u64> leaves_;
    std::vector<u64> dirty_;
    u64 ram_frames_ = 0;
    std::vector<PreservedRange> preserved_;
    std::unique_ptr<FrameAllocator> next_;
};

} // namespace

TEST_F(P2mRestoreTest, ALiveUpdateRebuildsTheSameMapAroundTheSameMemory)
{
    build_domain();
    capture();
    // Few ranges: at most one per buddy block of RAM (3000 = 7 blocks, 100 = 3), one more
    // where the overlay splits a block, the covered frame, shared info, device, emulated.
    EXPECT_LE(ranges_.size(), 7u + 3 + 1 + 4);
    boot_next_image();
    const u64 free_after_boot = next_->free_frame_count(MemClass::ephemeral);

    P2m restored(DOMAIN, *next_);
    ASSERT_EQ(restored.restore(ranges_.data(), ranges_.size(), log_dirty_), 0);
    EXPECT_EQ(restored.audit(), 0u);
    // The leaves come on first touch (not in the update's blackout); opened all at once
    // they equal the old image's.
    EXPECT_TRUE(restored.has_pending());
    restored.resolve_pending();
    EXPECT_FALSE(restored.has_pending());
    EXPECT_EQ(restored.audit(), 0u);
    EXPECT_EQ(ranges_of(restored), ranges_);
    EXPECT_EQ(restored.ram_frames(), ram_frames_);
    EXPECT_EQ(restored.log_dirty_state().bitmap_phys, log_dirty_.bitmap_phys) << "adopted in place";
    for (u64 gfn : interesting_frames()) {
        ASSERT_EQ(restored.lookup(gfn), lookups_[gfn]) << gfn;
        ASSERT_EQ(restored.tables().leaf(gfn), leaves_[gfn]) << gfn;
    }
    EXPECT_EQ(dirty_frames(restored, 0, HIGH_RAM + HIGH_COUNT, false), dirty_);

    // Guest memory is where it was, contents intact.
    restored.for_each_range([&](const P2mRange &range) {
        for (u64 i = 0; range.owned() && i < range.count; i++)
            ASSERT_EQ(*phys_to<u64>(frame_to_addr(range.mfn + i)), MAGIC | (range.gfn + i)) << range.gfn + i;
    });
    EXPECT_EQ(phys_to<u8>(frame_to_addr(restored.lookup(1000).mfn))[8], 0x78);

    // It keeps working: tracking, the overlay, faults.
    EXPECT_EQ(guest_access(restored, 3, true).faults, 1u) << "clean log_dirty frame";
    EXPECT_EQ(dirty_frames(restored, 3, 1, true), std::vector<u64>{3});
    EXPECT_EQ(guest_access(restored, EMULATED_GFN, false).action, NpfAction::emulate_mmio);
    ASSERT_EQ(restored.unmap(SHARED_INFO_GFN, 1), 0);
    EXPECT_EQ(*phys_to<u64>(frame_to_addr(restored.lookup(SHARED_INFO_GFN).mfn)), MAGIC | SHARED_INFO_GFN);

    // And the new image gets everything back at the end.
    const u64 bitmap_frames = log_dirty_.bitmap_frames;
    restored.destroy();
    next_->free_frames(frame_to_addr(shared_info_), 0);
    EXPECT_EQ(next_->free_frame_count(MemClass::ephemeral), free_after_boot + ram_frames_ + bitmap_frames + 1);
}

// restore() leaves the leaf tables unzeroed (NestedPageTable::prepare_hidden): whatever
// the new image's free memory held, a fault or the resolve fills each leaf table whole
// before anything reads it, and nothing stale shows through.
TEST_F(P2mRestoreTest, LeafTablesFromDirtyMemoryAreFilledBeforeUse)
{
    build_domain();
    capture();
    boot_next_image();
    // Every free frame of the new image now looks like a table of present, writable leaves.
    std::vector<u64> taken;
    for (u64 phys; (phys = next_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap)) != 0;) {
        u64 *words = phys_to<u64>(phys);
        for (usize i = 0; i < PAGE_SIZE / sizeof(u64); i++)
            words[i] = 0x00000000a5a5a007ul;
        taken.push_back(phys);
    }
    ASSERT_GT(taken.size(), 64u);
    for (u64 phys : taken)
        next_->free_frames(phys, 0);

    P2m restored(DOMAIN, *next_);
    ASSERT_EQ(restored.restore(ranges_.data(), ranges_.size(), log_dirty_), 0);
    EXPECT_EQ(restored.audit(), 0u);
    // Half the frames come back one nested fault at a time, the rest all at once.
    const std::vector<u64> frames = interesting_frames();
    for (usize i = 0; i < frames.size(); i += 2)
        (void)guest_access(restored, frames[i], false);
    EXPECT_EQ(restored.audit(), 0u);
    restored.resolve_pending();
    EXPECT_EQ(restored.audit(), 0u);
    for (u64 gfn : frames) {
        ASSERT_EQ(restored.lookup(gfn), lookups_[gfn]) << gfn;
        ASSERT_EQ(restored.tables().leaf(gfn) & ~(npt::ACCESSED | npt::DIRTY), leaves_[gfn]) << gfn;
    }
    restored.destroy();
}

TEST_F(P2mRestoreTest, AnEmptyDomainRestores)
{
    P2m empty(DOMAIN + 1, *frames_);
    ASSERT_EQ(empty.restore(nullptr, 0, {}), 0);
    EXPECT_TRUE(empty.ready());
    EXPECT_EQ(empty.range_count(), 0u);
    EXPECT_EQ(empty.restore(nullptr, 0, {}), -BATON_EBUSY);
    empty.destroy();
}

// Each broken list is refused before anything is built or adopted.
TEST_F(P2mRestoreTest, BrokenListsAreRefusedWithoutSideEffects)
{
    build_domain();
    capture();
    const LogDirtyState off{};
    const u64 first_mfn = ranges_[0].mfn;
    auto owned = [&](u64 gfn, u64 mfn, u64 count, P2mType type = P2mType::log_dirty, u8 flags = P2M_RANGE_OWNED) {
        return P2mRange{gfn, mfn, count, type, P2mAccess::rw, flags};
    };
    const u64 heap = addr_to_frame(frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap));
    LogDirtyState small = log_dirty_;
    small.guest_frames = 10;
    LogDirtyState foreign_bitmap = log_dirty_;
    foreign_bitmap.bitmap_phys = frame_to_addr(heap);
    foreign_bitmap.bitmap_frames = 1;

    struct Case {
        const char *what;
        std::vector<P2mRange> ranges;
        LogDirtyState log_dirty;
        int error;
    };
    const std::vector<Case> cases = {
        {"unsorted", {owned(10, first_mfn + 10, 2), owned(0, first_mfn, 2)}, log_dirty_, -BATON_EINVAL},
        {"overlapping", {owned(0, first_mfn, 4), owned(3, first_mfn + 3, 2)}, log_dirty_, -BATON_EINVAL},
        {"empty range", {owned(0, first_mfn, 0)}, log_dirty_, -BATON_EINVAL},
        {"past the limit", {owned(npt::GFN_LIMIT - 1, first_mfn, 2)}, log_dirty_, -BATON_ERANGE},
        {"wrapping", {owned(~u64{0}, first_mfn, 2)}, log_dirty_, -BATON_ERANGE},
        {"mfn too large", {{0, npt::MFN_LIMIT - 1, 2, P2mType::mmio, P2mAccess::rw, 0}}, log_dirty_, -BATON_ERANGE},
        {"owned device", {owned(0, DEVICE_MFN, 1, P2mType::mmio)}, log_dirty_, -BATON_EINVAL},
        {"covered but not owned",
         {owned(0, first_mfn, 1, P2mType::log_dirty, P2M_RANGE_COVERED)},
         log_dirty_,
         -BATON_EINVAL},
        {"covered with nothing over it",
         {owned(0, first_mfn, 1, P2mType::log_dirty, P2M_RANGE_OWNED | P2M_RANGE_COVERED)},
         log_dirty_,
         -BATON_EINVAL},
        {"covered under RAM",
         {owned(0, first_mfn, 1), owned(0, first_mfn + 1, 1, P2mType::log_dirty, P2M_RANGE_OWNED | P2M_RANGE_COVERED)},
         log_dirty_,
         -BATON_EINVAL},
        {"unknown flag",
         {owned(0, first_mfn, 1, P2mType::log_dirty, 0x80 | P2M_RANGE_OWNED)},
         log_dirty_,
         -BATON_EINVAL},
        {"invalid type", {owned(0, first_mfn, 1, P2mType::invalid, 0)}, log_dirty_, -BATON_EINVAL},
        {"unknown type", {owned(0, first_mfn, 1, static_cast<P2mType>(9), 0)}, log_dirty_, -BATON_EINVAL},
        {"write-only access",
         {{0, first_mfn, 1, P2mType::log_dirty, P2mAccess::w, P2M_RANGE_OWNED}},
         log_dirty_,
         -BATON_EINVAL},
        {"log_dirty while off", {owned(0, first_mfn, 1)}, off, -BATON_EINVAL},
        {"ram_rw while on", {owned(0, first_mfn, 1, P2mType::ram_rw)}, log_dirty_, -BATON_EINVAL},
        {"emulated with a frame", {{0, 5, 1, P2mType::mmio_emulated, P2mAccess::rw, 0}}, log_dirty_, -BATON_EINVAL},
        {"someone else's RAM", {owned(0, heap, 1)}, log_dirty_, -BATON_EPERM},
        {"RAM as a device", {{0, first_mfn, 1, P2mType::mmio, P2mAccess::rw, 0}}, log_dirty_, -BATON_EPERM},
        {"bitmap too small", {owned(0, first_mfn, 100)}, small, -BATON_EINVAL},
        {"not our bitmap", {owned(0, first_mfn, 1)}, foreign_bitmap, -BATON_EINVAL},
    };
    const u64 free_before = all_free();
    for (const Case &broken : cases) {
        P2m fresh(DOMAIN, *frames_);
        EXPECT_EQ(fresh.restore(broken.ranges.data(), broken.ranges.size(), broken.log_dirty), broken.error)
            << broken.what;
        EXPECT_FALSE(fresh.ready()) << broken.what;
        EXPECT_EQ(all_free(), free_before) << broken.what << ": nothing built, nothing freed";
    }
    P2m fresh(DOMAIN, *frames_);
    EXPECT_EQ(fresh.restore(nullptr, 3, off), -BATON_EINVAL);
    EXPECT_EQ(p2m().restore(ranges_.data(), ranges_.size(), log_dirty_), -BATON_EBUSY);
    EXPECT_EQ(frames_->refcount(frame_to_addr(first_mfn)), 1u) << "the RAM was not given away";
    EXPECT_EQ(p2m().audit(), 0u);
    frames_->free_frames(frame_to_addr(heap), 0);
    p2m().destroy();
    frames_->free_frames(frame_to_addr(shared_info_), 0);
    EXPECT_EQ(all_free(), free_at_start_);
}

TEST_F(P2mRestoreTest, RunningOutOfMemoryWhileRebuildingAdoptsNothing)
{
    build_domain();
    capture();
    boot_next_image();
    std::vector<u64> taken;
    while (u64 phys = next_->alloc_frames(0, MemClass::ephemeral, 99, FrameType::heap))
        taken.push_back(phys);
    for (unsigned spare = 0; spare < 6; spare++) { // fails at each step of the rebuild in turn
        P2m restored(DOMAIN, *next_);
        const u64 free_before = next_->free_frame_count(MemClass::ephemeral);
        EXPECT_EQ(restored.restore(ranges_.data(), ranges_.size(), log_dirty_), -BATON_ENOMEM) << spare;
        EXPECT_FALSE(restored.ready());
        EXPECT_EQ(next_->free_frame_count(MemClass::ephemeral), free_before) << spare;
        next_->free_frames(taken.back(), 0);
        taken.pop_back();
    }
    EXPECT_EQ(next_->refcount(frame_to_addr(ranges_[0].mfn)), 1u);
    for (u64 phys : taken)
        next_->free_frames(phys, 0);
    P2m restored(DOMAIN, *next_);
    ASSERT_EQ(restored.restore(ranges_.data(), ranges_.size(), log_dirty_), 0);
    EXPECT_EQ(restored.audit(), 0u);
    restored.destroy();
}
