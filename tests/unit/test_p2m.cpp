// SPDX-License-Identifier: MIT
// Unit tests for the p2m: populating RAM, mapping, overlays, lookups, faults, bounds, teardown.
#include "test_p2m_support.hpp"
#include <gtest/gtest.h>

using namespace p2m_test;

namespace {

class P2mBasicTest : public P2mTest {
protected:
    void TearDown() override
    {
        EXPECT_EQ(p2m().audit(), 0u);
        p2m().destroy();
        EXPECT_EQ(all_free(), free_at_start_) << "destroy must return every frame";
    }
};

} // namespace

TEST_F(P2mBasicTest, PopulatedRamIsMappedZeroedAndFewRanges)
{
    ASSERT_EQ(p2m().populate_ram(0x100, 1000, P2mAccess::rwx), 0);
    EXPECT_EQ(p2m().ram_frames(), 1000u);
    // 1000 = 512 + 256 + 128 + 64 + 32 + 8: at most that many blocks, fewer if they merged.
    EXPECT_LE(p2m().range_count(), 6u);
    u64 total = 0;
    for (const P2mRange &range : ranges_of(p2m())) {
        EXPECT_EQ(range.type, P2mType::ram_rw);
        EXPECT_TRUE(range.owned());
        total += range.count;
    }
    EXPECT_EQ(total, 1000u);

    for (u64 gfn = 0x100; gfn < 0x100 + 1000; gfn++) {
        const P2mEntry entry = p2m().lookup(gfn);
        ASSERT_EQ(entry.type, P2mType::ram_rw);
        ASSERT_TRUE(entry.owned);
        const FrameEntry &frame = frames_->table()[entry.mfn];
        ASSERT_EQ(frame.type, FrameType::guest_ram);
        ASSERT_EQ(frame.owner, DOMAIN);
        ASSERT_TRUE(frame.has(FRAME_PRESERVED));
        ASSERT_FALSE(frames_->in_bootmem_region(frame_to_addr(entry.mfn))) << "guest RAM in the bootmem region";
        const npt::Translation walk = p2m().translate(gfn);
        ASSERT_TRUE(walk.present && walk.user && walk.writable && walk.executable);
        ASSERT_EQ(walk.mfn, entry.mfn);
    }
    const u8 *first = phys_to<u8>(frame_to_addr(p2m().lookup(0x100).mfn));
    for (u64 i = 0; i < PAGE_SIZE; i++)
        ASSERT_EQ(first[i], 0u);
    EXPECT_EQ(p2m().lookup(0xff).type, P2mType::invalid);
    EXPECT_EQ(p2m().lookup(0x100 + 1000).type, P2mType::invalid);
    // Every access goes through without a single nested fault.
    EXPECT_EQ(guest_access(p2m(), 0x200, true).faults, 0u);
}

TEST_F(P2mBasicTest, AccessRightsShapeTheLeaves)
{
    ASSERT_EQ(p2m().populate_ram(0, 16, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().populate_ram(16, 16, P2mAccess::rx), 0);
    EXPECT_FALSE(p2m().translate(0).executable);
    EXPECT_TRUE(p2m().translate(0).writable);
    EXPECT_TRUE(p2m().translate(16).executable);
    EXPECT_FALSE(p2m().translate(16).writable);

    EXPECT_EQ(guest_access(p2m(), 0, false, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(guest_access(p2m(), 16, true).action, NpfAction::crash_access_denied);
    EXPECT_TRUE(guest_access(p2m(), 16, false, true).done);
}

TEST_F(P2mBasicTest, BadArgumentsChangeNothing)
{
    ASSERT_EQ(p2m().populate_ram(0, 8, P2mAccess::rwx), 0);
    const auto before = ranges_of(p2m());
    const u64 free_before = all_free();

    EXPECT_EQ(p2m().populate_ram(100, 0, P2mAccess::rwx), -BATON_EINVAL);
    EXPECT_EQ(p2m().populate_ram(~u64{0} - 2, 8, P2mAccess::rwx), -BATON_ERANGE); // wraps
    EXPECT_EQ(p2m().populate_ram(npt::GFN_LIMIT - 4, 8, P2mAccess::rwx), -BATON_ERANGE);
    EXPECT_EQ(p2m().populate_ram(npt::GFN_LIMIT, 1, P2mAccess::rwx), -BATON_ERANGE);
    EXPECT_EQ(p2m().populate_ram(100, 1, static_cast<P2mAccess>(2)), -BATON_EINVAL); // write-only
    EXPECT_EQ(p2m().populate_ram(100, 1, static_cast<P2mAccess>(9)), -BATON_EINVAL);
    EXPECT_EQ(p2m().populate_ram(4, 8, P2mAccess::rwx), -BATON_EEXIST);
    EXPECT_EQ(p2m().map(100, DEVICE_MFN, 1, P2mType::log_dirty, P2mAccess::rw), -BATON_EINVAL);
    EXPECT_EQ(p2m().map(100, DEVICE_MFN, 1, P2mType::invalid, P2mAccess::rw), -BATON_EINVAL);
    EXPECT_EQ(p2m().map(100, DEVICE_MFN, 1, static_cast<P2mType>(42), P2mAccess::rw), -BATON_EINVAL);
    EXPECT_EQ(p2m().map(100, npt::MFN_LIMIT - 1, 2, P2mType::mmio, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(p2m().map(100, ~u64{0}, 2, P2mType::mmio, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(p2m().map(~u64{0}, DEVICE_MFN, 2, P2mType::mmio, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(p2m().unmap(~u64{0}, 2), -BATON_ERANGE);
    EXPECT_EQ(p2m().unmap(5, 0), -BATON_EINVAL);

    EXPECT_EQ(ranges_of(p2m()), before);
    EXPECT_EQ(all_free(), free_before);
    EXPECT_EQ(p2m().lookup(~u64{0}).type, P2mType::invalid);
    EXPECT_EQ(p2m().handle_nested_fault(frame_to_addr(npt::GFN_LIMIT + 5), false, false), NpfAction::crash_not_mapped);
    EXPECT_FALSE(p2m().translate(npt::GFN_LIMIT + 5).present) << "no wrap-around to guest frame 5";
}

TEST_F(P2mBasicTest, AConfiguredLimitIsEnforced)
{
    P2m small(DOMAIN, *frames_, 0x1000);
    ASSERT_EQ(small.create(), 0);
    EXPECT_EQ(small.gfn_limit(), 0x1000u);
    EXPECT_EQ(small.populate_ram(0xfff, 2, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(small.populate_ram(0xfff, 1, P2mAccess::rw), 0);
    EXPECT_EQ(small.lookup(0x1000).type, P2mType::invalid);
    small.destroy();
    EXPECT_EQ(P2m(DOMAIN, *frames_, ~u64{0}).gfn_limit(), npt::GFN_LIMIT);
}

TEST_F(P2mBasicTest, CallsBeforeCreateAreRefused)
{
    P2m fresh(DOMAIN, *frames_);
    EXPECT_FALSE(fresh.ready());
    EXPECT_EQ(fresh.populate_ram(0, 1, P2mAccess::rw), -BATON_EINVAL);
    EXPECT_EQ(fresh.map(0, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), -BATON_EINVAL);
    EXPECT_EQ(fresh.unmap(0, 1), -BATON_EINVAL);
    EXPECT_EQ(fresh.enable_log_dirty(), -BATON_EINVAL);
    EXPECT_EQ(fresh.change_type_global(P2mType::ram_rw, P2mType::ram_ro), -BATON_EINVAL);
    EXPECT_EQ(fresh.handle_nested_fault(0, false, false), NpfAction::crash_internal);
    EXPECT_EQ(fresh.nested_root(), 0u);
    fresh.destroy(); // harmless
    EXPECT_EQ(p2m().create(), -BATON_EBUSY);
}

TEST_F(P2mBasicTest, NestedRootIsTheTopTable)
{
    ASSERT_NE(p2m().nested_root(), 0u);
    EXPECT_TRUE(is_aligned(p2m().nested_root(), PAGE_SIZE));
    const FrameEntry &root = frames_->table()[addr_to_frame(p2m().nested_root())];
    EXPECT_EQ(root.type, FrameType::page_table);
    EXPECT_EQ(root.owner, DOMAIN);
    EXPECT_FALSE(root.has(FRAME_PRESERVED)) << "nested tables are ephemeral";
}

TEST_F(P2mBasicTest, DeviceMemoryIsMappedUncachedAndOnlyOutsideManagedRam)
{
    ASSERT_EQ(p2m().map(0xfea00, DEVICE_MFN, 4, P2mType::mmio, P2mAccess::rw), 0);
    const npt::Translation walk = p2m().translate(0xfea01);
    EXPECT_TRUE(walk.present && walk.user && walk.writable && walk.uncached);
    EXPECT_FALSE(walk.executable);
    EXPECT_EQ(walk.mfn, DEVICE_MFN + 1);
    EXPECT_EQ(p2m().lookup(0xfea03), (P2mEntry{DEVICE_MFN + 3, P2mType::mmio, P2mAccess::rw, false}));
    EXPECT_EQ(p2m().ram_frames(), 0u);

    EXPECT_EQ(p2m().map(0x10, FIRMWARE_MFN, 1, P2mType::mmio, P2mAccess::r), 0); // reserved: allowed
    const u64 kernel_frame = mm_test::KERNEL_IMAGE.first_frame();
    EXPECT_EQ(p2m().map(0x20, kernel_frame, 1, P2mType::mmio, P2mAccess::rw), -BATON_EPERM);
    const u64 heap = addr_to_frame(frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap));
    EXPECT_EQ(p2m().map(0x20, heap, 1, P2mType::mmio, P2mAccess::rw), -BATON_EPERM);
    EXPECT_EQ(p2m().map(0x20, heap, 1, P2mType::ram_rw, P2mAccess::rw), -BATON_EPERM);
    frames_->free_frames(frame_to_addr(heap), 0);
    // A second mapping over a device mapping is refused, not stacked.
    EXPECT_EQ(p2m().map(0xfea02, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), -BATON_EEXIST);
    EXPECT_EQ(p2m().unmap(0xfea00, 4), 0);
    EXPECT_EQ(p2m().lookup(0xfea01).type, P2mType::invalid);
    EXPECT_FALSE(p2m().translate(0xfea01).present);
}

TEST_F(P2mBasicTest, PopulatedRamCannotBeAliasedOrUnmapped)
{
    ASSERT_EQ(p2m().populate_ram(0, 4, P2mAccess::rw), 0);
    const u64 mfn = p2m().lookup(1).mfn;
    EXPECT_EQ(p2m().map(100, mfn, 1, P2mType::ram_rw, P2mAccess::rw), -BATON_EPERM);
    EXPECT_EQ(p2m().unmap(0, 1), -BATON_EPERM);
    EXPECT_EQ(p2m().unmap(2, 10), -BATON_EPERM);
    EXPECT_EQ(p2m().lookup(2).type, P2mType::ram_rw);
    EXPECT_EQ(p2m().unmap(50, 10), 0); // a hole: nothing to do
}

TEST_F(P2mBasicTest, ExtraPageOverRamIsCoveredAndRestoredOnUnmap)
{
    ASSERT_EQ(p2m().populate_ram(0, 512, P2mAccess::rwx), 0);
    const P2mEntry ram_before = p2m().lookup(0x42);
    ASSERT_TRUE(guest_write(p2m(), 0x42, 0xab));
    const auto ranges_before = ranges_of(p2m());

    const u64 shared_info = extra_page();
    ASSERT_EQ(p2m().map(0x42, shared_info, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_EQ(p2m().lookup(0x42), (P2mEntry{shared_info, P2mType::ram_rw, P2mAccess::rw, false}));
    EXPECT_EQ(p2m().translate(0x42).mfn, shared_info);
    EXPECT_EQ(p2m().lookup(0x41), (P2mEntry{ram_before.mfn - 1, P2mType::ram_rw, P2mAccess::rwx, true}));
    EXPECT_EQ(p2m().ram_frames(), 512u) << "covered RAM still belongs to the domain";
    ASSERT_EQ(p2m().covered_ranges().count(), 1u);
    EXPECT_EQ(p2m().covered_ranges()[0].gfn, 0x42u);
    EXPECT_TRUE(p2m().covered_ranges()[0].covered());
    EXPECT_EQ(p2m().range_count(), 4u); // RAM below, the page, RAM above, the covered frame
    EXPECT_EQ(p2m().audit(), 0u);

    // Moving the page elsewhere: unmap restores the RAM with its contents.
    ASSERT_EQ(p2m().unmap(0x42, 1), 0);
    EXPECT_EQ(p2m().lookup(0x42), ram_before);
    EXPECT_EQ(p2m().translate(0x42).mfn, ram_before.mfn);
    EXPECT_EQ(phys_to<u8>(frame_to_addr(ram_before.mfn))[0], 0xab);
    EXPECT_EQ(ranges_of(p2m()), ranges_before) << "the RAM range merged back whole";
    EXPECT_EQ(p2m().covered_ranges().count(), 0u);
    frames_->free_frames(frame_to_addr(shared_info), 0);
}

TEST_F(P2mBasicTest, OverlaySpanningRamAndHolesUncoversOnlyTheRam)
{
    ASSERT_EQ(p2m().populate_ram(0, 4, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().map(2, 0, 6, P2mType::mmio_emulated, P2mAccess::rw), 0); // over 2..3 and a hole
    EXPECT_EQ(guest_access(p2m(), 3, false).action, NpfAction::emulate_mmio);
    EXPECT_EQ(guest_access(p2m(), 7, true).action, NpfAction::emulate_mmio);
    EXPECT_EQ(p2m().lookup(5).type, P2mType::mmio_emulated);
    ASSERT_EQ(p2m().unmap(3, 3), 0); // part of the overlay
    EXPECT_EQ(p2m().lookup(2).type, P2mType::mmio_emulated);
    EXPECT_EQ(p2m().lookup(3).type, P2mType::ram_rw);
    EXPECT_EQ(p2m().lookup(4).type, P2mType::invalid);
    EXPECT_EQ(p2m().lookup(6).type, P2mType::mmio_emulated);
    EXPECT_TRUE(guest_access(p2m(), 3, true).done);
    EXPECT_EQ(p2m().audit(), 0u);
    ASSERT_EQ(p2m().unmap(0, 100), -BATON_EPERM); // RAM in the span
    ASSERT_EQ(p2m().unmap(2, 1), 0);
    ASSERT_EQ(p2m().unmap(6, 2), 0);
    EXPECT_EQ(p2m().range_count(), 1u);
}

TEST_F(P2mBasicTest, ReadOnlyExtraPagesRejectWrites)
{
    const u64 page = extra_page();
    ASSERT_EQ(p2m().map(0x300, page, 1, P2mType::ram_ro, P2mAccess::rw), 0);
    EXPECT_TRUE(guest_access(p2m(), 0x300, false).done);
    EXPECT_FALSE(p2m().translate(0x300).writable);
    EXPECT_EQ(guest_access(p2m(), 0x300, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(guest_access(p2m(), 0x301, false).action, NpfAction::crash_not_mapped);
    EXPECT_EQ(p2m().unmap(0x300, 1), 0);
    frames_->free_frames(frame_to_addr(page), 0);
}

TEST_F(P2mBasicTest, NoRightsMeansNotPresent)
{
    ASSERT_EQ(p2m().populate_ram(0, 1, P2mAccess::n), 0);
    EXPECT_FALSE(p2m().translate(0).present);
    EXPECT_EQ(guest_access(p2m(), 0, false).action, NpfAction::crash_access_denied);
}

TEST_F(P2mBasicTest, AFaultOnAnUpToDateEntryAsksForATlbFlush)
{
    ASSERT_EQ(p2m().populate_ram(0, 1, P2mAccess::rw), 0);
    const u64 generation = p2m().tlb_generation();
    EXPECT_EQ(p2m().handle_nested_fault(0x10, true, false), NpfAction::retry);
    EXPECT_EQ(p2m().tlb_generation(), generation + 1);
}

TEST_F(P2mBasicTest, RemovingRightsMovesTheTlbGeneration)
{
    ASSERT_EQ(p2m().populate_ram(0, 8, P2mAccess::rw), 0);
    u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().map(0x100, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), 0);
    EXPECT_EQ(p2m().tlb_generation(), generation) << "a new mapping takes nothing away";
    const u64 page = extra_page();
    ASSERT_EQ(p2m().map(3, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_GT(p2m().tlb_generation(), generation) << "covered RAM must leave the TLB";
    generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().unmap(0x100, 1), 0);
    EXPECT_GT(p2m().tlb_generation(), generation);
    ASSERT_EQ(p2m().unmap(3, 1), 0);
    frames_->free_frames(frame_to_addr(page), 0);
}

TEST_F(P2mBasicTest, DestroyReturnsEverythingWithOverlaysAndLogDirty)
{
    ASSERT_EQ(p2m().populate_ram(0, 3000, P2mAccess::rwx), 0);
    ASSERT_EQ(p2m().populate_ram(u64{1} << 20, 10, P2mAccess::rwx), 0); // above 4 GiB
    ASSERT_EQ(p2m().map(0xfea00, DEVICE_MFN, 16, P2mType::mmio, P2mAccess::rw), 0);
    const u64 page = extra_page();
    ASSERT_EQ(p2m().map(700, page, 1, P2mType::ram_rw, P2mAccess::rw), 0); // splits a block
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    ASSERT_TRUE(guest_write(p2m(), 5, 1));
    EXPECT_EQ(p2m().audit(), 0u);
    p2m().destroy();
    EXPECT_FALSE(p2m().ready());
    frames_->free_frames(frame_to_addr(page), 0);
    EXPECT_EQ(all_free(), free_at_start_);
    ASSERT_EQ(p2m().create(), 0); // reusable; TearDown checks the rest
}

TEST_F(P2mBasicTest, PopulateRunningOutOfMemoryFreesWhatItTook)
{
    ASSERT_EQ(p2m().populate_ram(0, 8, P2mAccess::rw), 0);
    auto taken = exhaust(MemClass::preserved, 100);
    const u64 free_before = all_free();
    const auto ranges_before = ranges_of(p2m());
    // Half way: 100 frames exist, 1000 are asked for.
    EXPECT_EQ(p2m().populate_ram(8, 1000, P2mAccess::rw), -BATON_ENOMEM);
    EXPECT_EQ(all_free(), free_before - (p2m().tables().table_frames() - 4)) << "only tables may stay";
    EXPECT_EQ(ranges_of(p2m()), ranges_before);
    EXPECT_EQ(p2m().ram_frames(), 8u);
    EXPECT_EQ(p2m().lookup(8).type, P2mType::invalid);
    EXPECT_FALSE(p2m().translate(8).present);
    EXPECT_EQ(p2m().audit(), 0u);
    // What exists can still be used, merged neighbours included.
    EXPECT_EQ(p2m().populate_ram(8, 100, P2mAccess::rw), 0);
    EXPECT_EQ(p2m().ram_frames(), 108u);
    give_back(taken);
}

TEST_F(P2mBasicTest, MapRunningOutOfTableMemoryChangesNothing)
{
    ASSERT_EQ(p2m().populate_ram(0, 8, P2mAccess::rw), 0);
    auto taken = exhaust(MemClass::ephemeral);
    const auto before = ranges_of(p2m());
    // Far away: needs new tables.
    EXPECT_EQ(p2m().map(u64{3} << 27, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), -BATON_ENOMEM);
    EXPECT_EQ(p2m().populate_ram(u64{3} << 27, 1, P2mAccess::rw), -BATON_ENOMEM);
    EXPECT_EQ(ranges_of(p2m()), before);
    EXPECT_EQ(p2m().lookup(u64{3} << 27).type, P2mType::invalid);
    give_back(taken);
    EXPECT_EQ(p2m().map(u64{3} << 27, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), 0);
}

TEST_F(P2mBasicTest, RangeStorageRunningOutOfMemoryChangesNothing)
{
    // Device frames in every other guest frame: one range each, until one page of storage
    // has no room for another mapping (map() reserves two slots: insert and split).
    const usize per_page = PAGE_SIZE / sizeof(P2mRange);
    for (u64 i = 0; i < per_page - 1; i++)
        ASSERT_EQ(p2m().map(i * 2, DEVICE_MFN + i * 2, 1, P2mType::mmio, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().range_count(), per_page - 1);
    auto taken = exhaust(MemClass::ephemeral);
    EXPECT_EQ(p2m().map(per_page * 2, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), -BATON_ENOMEM);
    EXPECT_EQ(p2m().range_count(), per_page - 1);
    EXPECT_FALSE(p2m().translate(per_page * 2).present);
    give_back(taken);
    EXPECT_EQ(p2m().map(per_page * 2, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), 0);
    EXPECT_EQ(p2m().unmap(per_page * 2, 1), 0);
    for (u64 i = 0; i < per_page - 1; i++)
        ASSERT_EQ(p2m().unmap(i * 2, 1), 0);
}

TEST_F(P2mBasicTest, NamesForLogs)
{
    EXPECT_STREQ(p2m_type_name(P2mType::log_dirty), "log_dirty");
    EXPECT_STREQ(p2m_type_name(static_cast<P2mType>(77)), "unknown");
    EXPECT_STREQ(p2m_access_name(P2mAccess::rx), "rx");
    EXPECT_STREQ(npf_action_name(NpfAction::emulate_mmio), "emulate_mmio");
    EXPECT_TRUE(npf_action_crashes(NpfAction::crash_not_mapped));
    EXPECT_FALSE(npf_action_crashes(NpfAction::emulate_mmio));
}

using P2mDeathTest = P2mBasicTest;

TEST_F(P2mDeathTest, DestroyRefusesToFreeFramesItDoesNotOwn)
{
    ASSERT_EQ(p2m().populate_ram(0, 4, P2mAccess::rw), 0);
    const u64 mfn = p2m().lookup(0).mfn;
    // A frame table that no longer agrees with the ranges is corruption: stop, do not free.
    EXPECT_DEATH(
        {
            frames_->table()[mfn].owner = 99;
            p2m().destroy();
        },
        "owner 99");
}
