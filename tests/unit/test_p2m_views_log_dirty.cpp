// SPDX-License-Identifier: MIT
// Unit tests for alternate p2m views: the one dirty bitmap they share with the host view,
// what views cost in memory, and failures half way (out of memory) that must undo what
// they did.
#include "test_p2m_support.hpp"
#include <gtest/gtest.h>

using namespace p2m_test;

namespace {

using Frames = std::vector<u64>;

class P2mViewLogDirtyTest : public P2mViewTest {
protected:
    Frames peek() { return dirty_frames(p2m(), 0, VIEW_TEST_RAM, false); }
    Frames clean() { return dirty_frames(p2m(), 0, VIEW_TEST_RAM, true); }
};

} // namespace

// ---- log-dirty -------------------------------------------------------------------------------

TEST_F(P2mViewLogDirtyTest, LogDirtyEnabledWithViewsRecordsWritesThroughEveryView)
{
    const u16 first = new_view(), second = new_view();
    ASSERT_EQ(p2m().views().set_access(second, 20, 1, P2mAccess::rw), 0);
    for (u16 view : {first, second})
        ASSERT_TRUE(guest_access_in_view(p2m(), view, 20, true).done); // writable leaves to take back
    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    EXPECT_GT(p2m().tlb_generation(), generation);
    p2m().resolve_pending();
    for (u16 view : {first, second}) {
        EXPECT_TRUE(p2m().views().translate(view, 20).present) << view;
        EXPECT_FALSE(p2m().views().translate(view, 20).writable) << "write-protected in view " << view;
        EXPECT_EQ(p2m().views().lookup(view, 20).type, P2mType::log_dirty);
    }

    const Access write = guest_access_in_view(p2m(), first, 10, true);
    EXPECT_TRUE(write.done);
    EXPECT_EQ(write.faults, 1u);
    EXPECT_TRUE(guest_write_in_view(p2m(), second, 20, 1));
    EXPECT_TRUE(guest_write(p2m(), 30, 1));
    EXPECT_TRUE(guest_access_in_view(p2m(), first, 40, false).done) << "reads mark nothing";
    EXPECT_EQ(peek(), (Frames{10, 20, 30}));
    EXPECT_EQ(p2m().views().lookup(first, 10).type, P2mType::ram_rw) << "written since the last clean";
    EXPECT_EQ(guest_access_in_view(p2m(), first, 10, true).faults, 0u) << "later writes run at full speed";
    EXPECT_EQ(p2m().audit(), 0u);

    // Turning it off gives every view its write rights back.
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    EXPECT_EQ(p2m().views().lookup(second, 21).type, P2mType::ram_rw);
    EXPECT_TRUE(guest_access_in_view(p2m(), second, 21, true).done);
}

TEST_F(P2mViewLogDirtyTest, AWriteThroughARemapMarksTheTargetFrame)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 10, 300, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 10, true).mfn, p2m().lookup(300).mfn);
    EXPECT_EQ(peek(), Frames{300}) << "the frame written is the target's, not gfn 10's";
    EXPECT_EQ(p2m().lookup(10).type, P2mType::log_dirty) << "gfn 10 of the host view was not written";
    EXPECT_EQ(p2m().lookup(300).type, P2mType::ram_rw);
    EXPECT_EQ(guest_access(p2m(), 300, true).faults, 0u) << "the host view may write the target now";
    EXPECT_EQ(guest_access(p2m(), 10, true).faults, 1u);
    EXPECT_EQ(peek(), (Frames{10, 300}));
}

TEST_F(P2mViewLogDirtyTest, AViewCreatedWhileLoggingMarksOnItsFirstWrite)
{
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    const u16 view = new_view();
    EXPECT_EQ(p2m().views().lookup(view, 5).type, P2mType::log_dirty);
    const Access write = guest_access_in_view(p2m(), view, 5, true);
    EXPECT_TRUE(write.done);
    EXPECT_EQ(write.faults, 1u) << "one fault fills the entry and marks the frame";
    EXPECT_EQ(peek(), Frames{5});
    EXPECT_EQ(guest_access_in_view(p2m(), view, 5, true).faults, 0u);
    // RAM populated now is new to whoever copies the guest: dirty, and writable in the view.
    ASSERT_EQ(p2m().populate_ram(VIEW_TEST_RAM, 4, P2mAccess::rw), 0);
    EXPECT_EQ(dirty_frames(p2m(), VIEW_TEST_RAM, 4, false),
              (Frames{VIEW_TEST_RAM, VIEW_TEST_RAM + 1, VIEW_TEST_RAM + 2, VIEW_TEST_RAM + 3}));
    EXPECT_EQ(guest_access_in_view(p2m(), view, VIEW_TEST_RAM + 1, true).faults, 0u);
}

TEST_F(P2mViewLogDirtyTest, AfterACleanAWriteThroughAViewFaultsAndMarksAgain)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 10, 300, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    ASSERT_TRUE(guest_write_in_view(p2m(), view, 5, 1));
    ASSERT_TRUE(guest_write_in_view(p2m(), view, 10, 1));
    ASSERT_TRUE(p2m().views().translate(view, 5).writable);
    ASSERT_TRUE(p2m().views().translate(view, 10).writable);

    const u64 generation = p2m().tlb_generation();
    EXPECT_EQ(clean(), (Frames{5, 300}));
    EXPECT_GT(p2m().tlb_generation(), generation);
    // Both leaves are read-only again, the one reached through the remap included: a
    // write that slipped past would be lost to the next round.
    EXPECT_FALSE(p2m().views().translate(view, 5).writable);
    EXPECT_FALSE(p2m().views().translate(view, 10).writable);
    EXPECT_TRUE(peek().empty());

    const Access again = guest_access_in_view(p2m(), view, 5, true);
    EXPECT_TRUE(again.done);
    EXPECT_EQ(again.faults, 1u);
    const Access through_remap = guest_access_in_view(p2m(), view, 10, true);
    EXPECT_TRUE(through_remap.done);
    EXPECT_EQ(through_remap.faults, 1u);
    EXPECT_EQ(peek(), (Frames{5, 300}));
    // A clean of the target alone protects the remapped gfn too (and a clean of gfn 10
    // must not be mistaken for it).
    auto bits = std::make_unique<DirtyBits>();
    ASSERT_EQ(p2m().read_dirty(300, 1, *bits, true), 1);
    EXPECT_FALSE(p2m().views().translate(view, 10).writable);
    EXPECT_TRUE(p2m().views().translate(view, 5).writable);
    EXPECT_EQ(p2m().audit(), 0u);
}

TEST_F(P2mViewLogDirtyTest, AFirstWriteInOneViewMakesTheFrameWritableInEveryView)
{
    const u16 writer = new_view(), reader = new_view();
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    p2m().resolve_pending();
    for (u16 view : {P2M_HOST_VIEW, writer, reader})
        ASSERT_TRUE(guest_access_in_view(p2m(), view, 7, false).done); // read-only leaves

    EXPECT_EQ(guest_access_in_view(p2m(), writer, 7, true).faults, 1u);
    EXPECT_EQ(guest_access(p2m(), 7, true).faults, 0u) << "no second fault in the host view";
    EXPECT_EQ(guest_access_in_view(p2m(), reader, 7, true).faults, 0u) << "nor in another view";
    // And from the host view outward.
    EXPECT_EQ(guest_access(p2m(), 8, true).faults, 1u);
    EXPECT_EQ(guest_access_in_view(p2m(), writer, 8, true).faults, 0u);
    EXPECT_EQ(guest_access_in_view(p2m(), reader, 8, true).faults, 0u);
    // The hypervisor's own writes count too.
    p2m().mark_dirty(9);
    EXPECT_TRUE(p2m().views().translate(reader, 9).writable);
    EXPECT_EQ(peek(), (Frames{7, 8, 9}));
}

TEST_F(P2mViewLogDirtyTest, AnExtraPageMappedWhileLoggingIsTrackedInViews)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 700, 0x42, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    const u64 page = owned_extra_page();
    ASSERT_EQ(p2m().map(0x42, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_EQ(clean(), Frames{0x42}) << "the guest sees different memory there";
    const Access write = guest_access_in_view(p2m(), view, 700, true);
    EXPECT_EQ(write.mfn, page);
    EXPECT_EQ(write.faults, 1u);
    EXPECT_EQ(peek(), Frames{0x42});
    // Unmapping shows the RAM again, which the guest has not seen like this: dirty, so
    // writable through the remap without a fault.
    ASSERT_EQ(p2m().unmap(0x42, 1), 0);
    EXPECT_EQ(p2m().views().translate(view, 700).mfn, p2m().lookup(0x42).mfn);
    EXPECT_TRUE(p2m().views().translate(view, 700).writable);
    EXPECT_EQ(peek(), Frames{0x42});
}

// ---- memory ----------------------------------------------------------------------------------

// What an introspection agent asks first: nothing executable in this view, say. Rights
// change what the view shows of frames the host maps, and every one of those already has
// its leaf slot in every view, so the holes of the guest-physical space need no tables.
TEST_F(P2mViewTest, RightsOverTheWholeGuestNeedNoTablesForItsHoles)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().set_access(view, 0, 1, P2mAccess::rwx), 0); // the override storage exists
    const u64 free_before = all_free();
    EXPECT_EQ(p2m().views().set_access(view, 0, p2m().gfn_limit(), P2mAccess::rw), 0);
    EXPECT_EQ(all_free(), free_before) << "tables for " << free_before - all_free() << " frames of holes";
    EXPECT_EQ(guest_access_in_view(p2m(), view, 5, false, true).action, NpfAction::crash_access_denied);
    EXPECT_TRUE(guest_access_in_view(p2m(), view, 5, true).done);
    EXPECT_EQ(p2m().views().reset(view, 0, p2m().gfn_limit()), 0);
    EXPECT_EQ(all_free(), free_before);
    EXPECT_TRUE(guest_access_in_view(p2m(), view, 5, false, true).done);
}

// The view needs a root and one table per level for every branch the host maps: the root,
// 4 for RAM near 0, 2 for RAM at 4 GiB and 3 under another top-level entry. With fewer
// frames free it fails at each step in turn, and each time gives back all it took.
TEST_F(P2mViewTest, CreatingAViewWithoutMemoryForItsTablesLeavesNothingBehind)
{
    ASSERT_EQ(p2m().populate_ram(u64{1} << 20, 4, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().populate_ram(u64{3} << 27, 4, P2mAccess::rw), 0);
    const u16 existing = new_view();
    u64 spare = 0;
    for (;; spare++) {
        auto taken = exhaust(MemClass::ephemeral, spare);
        const u64 free_before = all_free();
        ASSERT_EQ(free_before, spare);
        const int created = p2m().views().create();
        if (created > 0) {
            give_back(taken);
            EXPECT_EQ(created, existing + 1);
            break;
        }
        EXPECT_EQ(created, -BATON_ENOMEM) << spare;
        EXPECT_EQ(all_free(), free_before) << "all or nothing, " << spare << " frames spare";
        EXPECT_EQ(p2m().views().count(), 1u);
        EXPECT_FALSE(p2m().views().exists(existing + 1));
        EXPECT_EQ(mm_locks_held(), 0u);
        give_back(taken);
        ASSERT_LT(spare, 64u) << "creating a view never succeeds";
    }
    EXPECT_EQ(spare, 10u) << "a root and nine tables";
    EXPECT_TRUE(guest_access_in_view(p2m(), existing + 1, (u64{3} << 27) + 1, true).done);
}

TEST_F(P2mViewTest, PopulateThatCannotPrepareAViewsTablesChangesNoRange)
{
    const u16 view = new_view();
    // Far away, each tree needs three new tables: the host's fit, the view's do not (none
    // of them, then one of three).
    for (const auto &[gfn, spare] : {std::pair<u64, u64>{u64{3} << 27, 3}, std::pair<u64, u64>{u64{4} << 27, 4}}) {
        const auto ranges_before = ranges_of(p2m());
        const u64 ram_before = p2m().ram_frames();
        auto taken = exhaust(MemClass::ephemeral, spare);
        EXPECT_EQ(p2m().populate_ram(gfn, 1, P2mAccess::rw), -BATON_ENOMEM) << gfn;
        EXPECT_EQ(ranges_of(p2m()), ranges_before);
        EXPECT_EQ(p2m().ram_frames(), ram_before);
        EXPECT_EQ(p2m().lookup(gfn).type, P2mType::invalid);
        EXPECT_EQ(p2m().views().lookup(view, gfn).type, P2mType::invalid);
        EXPECT_FALSE(p2m().translate(gfn).present);
        EXPECT_EQ(mm_locks_held(), 0u);
        EXPECT_EQ(p2m().audit(), 0u);
        give_back(taken);
        // With memory back the same call succeeds and the view shows the new RAM.
        ASSERT_EQ(p2m().populate_ram(gfn, 1, P2mAccess::rw), 0);
        EXPECT_EQ(guest_access_in_view(p2m(), view, gfn, true).mfn, p2m().lookup(gfn).mfn);
    }
}

TEST_F(P2mViewTest, AViewChangeWithoutMemoryLeavesTheViewAsItWas)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().set_access(view, 4, 1, P2mAccess::r), 0);
    auto taken = exhaust(MemClass::ephemeral);
    // A remap into a far hole needs tables there; rights alone never need any.
    EXPECT_EQ(p2m().views().remap(view, u64{5} << 27, 300, 1, P2mAccess::r), -BATON_ENOMEM);
    EXPECT_EQ(entries_of(view), (std::vector<P2mViewEntry>{{4, 4, 1, P2mAccess::r}}));
    EXPECT_EQ(p2m().views().lookup(view, u64{5} << 27).type, P2mType::invalid);
    EXPECT_EQ(p2m().views().set_access(view, u64{5} << 27, 1, P2mAccess::r), 0);
    EXPECT_EQ(p2m().views().set_access(view, 8, 1, P2mAccess::r), 0);
    EXPECT_EQ(mm_locks_held(), 0u);
    give_back(taken);
    EXPECT_EQ(p2m().views().remap(view, u64{5} << 27, 300, 1, P2mAccess::r), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), view, u64{5} << 27, false).mfn, p2m().lookup(300).mfn);
}
