// SPDX-License-Identifier: MIT
// Unit tests for alternate p2m views: life cycle, rights, remaps, host changes, lock order.
// Log-dirty through views and what views cost in memory are in test_p2m_views_log_dirty.cpp.
#include "test_p2m_support.hpp"
#include <gtest/gtest.h>
#include <string>

using namespace p2m_test;

namespace {

using Entries = std::vector<P2mViewEntry>;

// Everything the hardware would see for one frame, so two walks compare as a whole.
void expect_same_walk(const npt::Translation &view, const npt::Translation &host, u64 gfn)
{
    EXPECT_EQ(view.present, host.present) << gfn;
    EXPECT_EQ(view.writable, host.writable) << gfn;
    EXPECT_EQ(view.executable, host.executable) << gfn;
    EXPECT_EQ(view.user, host.user) << gfn;
    EXPECT_EQ(view.uncached, host.uncached) << gfn;
    EXPECT_EQ(view.mfn, host.mfn) << gfn;
}

} // namespace

// ---- life cycle ------------------------------------------------------------------------

TEST_F(P2mViewTest, CreateTakesTheLowestFreeIndexOrTheOneAsked)
{
    EXPECT_EQ(p2m().views().count(), 0u);
    EXPECT_TRUE(p2m().views().exists(P2M_HOST_VIEW)) << "the host view always exists";
    EXPECT_EQ(p2m().views().create(), 1);
    EXPECT_EQ(p2m().views().create(), 2);
    EXPECT_EQ(p2m().views().create(5), 5);
    EXPECT_EQ(p2m().views().create(), 3);
    ASSERT_EQ(p2m().views().destroy(2), 0);
    EXPECT_EQ(p2m().views().create(), 2) << "a freed index is the lowest free one again";
    EXPECT_EQ(p2m().views().create(P2M_MAX_VIEWS), P2M_MAX_VIEWS);
    EXPECT_EQ(p2m().views().count(), 5u);
    EXPECT_TRUE(p2m().views().exists(5));
    EXPECT_FALSE(p2m().views().exists(4));

    // Each view has its own root; a missing one has none, the host view's is nested_root().
    EXPECT_EQ(p2m().views().root(P2M_HOST_VIEW), p2m().nested_root());
    EXPECT_EQ(p2m().views().root(4), 0u);
    const u64 root = p2m().views().root(5);
    ASSERT_NE(root, 0u);
    EXPECT_NE(root, p2m().nested_root());
    EXPECT_NE(root, p2m().views().root(1));
    const FrameEntry &frame = frames_->table()[addr_to_frame(root)];
    EXPECT_EQ(frame.type, FrameType::page_table);
    EXPECT_EQ(frame.owner, DOMAIN);
    EXPECT_FALSE(frame.has(FRAME_PRESERVED)) << "view tables are a cache, rebuilt after an update";
}

TEST_F(P2mViewTest, CreateRefusesATakenIndexAFullSetAndBadIndices)
{
    EXPECT_EQ(p2m().views().create(3), 3);
    EXPECT_EQ(p2m().views().create(3), -BATON_EEXIST);
    EXPECT_EQ(p2m().views().create(P2M_MAX_VIEWS + 1), -BATON_EINVAL);
    EXPECT_EQ(p2m().views().create(0xffff), -BATON_EINVAL);
    for (int expected : {1, 2, 4, 5, 6, 7, 8})
        EXPECT_EQ(p2m().views().create(), expected);
    EXPECT_EQ(p2m().views().count(), P2M_MAX_VIEWS);
    EXPECT_EQ(p2m().views().create(), -BATON_ENOSPC);
    EXPECT_EQ(p2m().views().create(P2M_MAX_VIEWS), -BATON_EEXIST);
    EXPECT_EQ(p2m().views().count(), P2M_MAX_VIEWS);

    P2m not_created(DOMAIN, *frames_);
    const u64 free_before = all_free();
    EXPECT_EQ(not_created.views().create(), -BATON_EINVAL);
    EXPECT_EQ(not_created.views().create(1), -BATON_EINVAL);
    EXPECT_EQ(not_created.views().count(), 0u);
    EXPECT_EQ(all_free(), free_before);
}

TEST_F(P2mViewTest, DestroyingAViewThatDoesNotExistIsENOENT)
{
    EXPECT_EQ(p2m().views().destroy(1), -BATON_ENOENT);
    EXPECT_EQ(p2m().views().destroy(P2M_MAX_VIEWS + 1), -BATON_ENOENT);
    const u16 view = new_view();
    EXPECT_EQ(p2m().views().destroy(view), 0);
    EXPECT_EQ(p2m().views().destroy(view), -BATON_ENOENT);
    EXPECT_NE(p2m().views().destroy(P2M_HOST_VIEW), 0) << "the host view is the p2m itself";
    EXPECT_TRUE(p2m().ready());
    // A vCPU claiming to run in a view that is gone is a hypervisor bug, not a guest's.
    EXPECT_EQ(p2m().handle_nested_fault(0x1000, false, false, view), NpfAction::crash_internal);
    EXPECT_FALSE(p2m().views().translate(view, 1).present);
    EXPECT_EQ(p2m().views().lookup(view, 1), P2mEntry{});
}

TEST_F(P2mViewTest, AViewInUseCannotBeDestroyedUntilEveryUserLeft)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().enter(view), 0);
    ASSERT_EQ(p2m().views().enter(view), 0); // two vCPUs
    EXPECT_EQ(p2m().views().users(view), 2u);
    EXPECT_EQ(p2m().views().destroy(view), -BATON_EBUSY);
    p2m().views().leave(view);
    EXPECT_EQ(p2m().views().destroy(view), -BATON_EBUSY) << "one vCPU still runs in it";
    EXPECT_TRUE(p2m().views().exists(view));
    p2m().views().leave(view);
    EXPECT_EQ(p2m().views().users(view), 0u);
    EXPECT_EQ(p2m().views().destroy(view), 0);
    EXPECT_FALSE(p2m().views().exists(view));
    EXPECT_EQ(p2m().views().enter(view), -BATON_ENOENT);
    EXPECT_EQ(p2m().views().enter(P2M_HOST_VIEW), 0) << "the host view always exists";
    p2m().views().leave(P2M_HOST_VIEW);
}

TEST_F(P2mViewTest, DestroyingAViewReturnsEveryFrameItTook)
{
    const u64 free_before = all_free();
    const u16 view = new_view();
    EXPECT_LT(all_free(), free_before) << "a view has tables of its own";
    // More overrides than one page of storage holds, a remap far from the host's tables
    // and faults that fill leaves.
    const usize per_page = PAGE_SIZE / sizeof(P2mRange);
    for (u64 i = 0; i < per_page + 10; i++)
        ASSERT_EQ(p2m().views().set_access(view, i * 2, 1, P2mAccess::r), 0);
    ASSERT_EQ(entries_of(view).size(), per_page + 10);
    ASSERT_EQ(p2m().views().set_access(view, u64{5} << 27, 3, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().views().remap(view, u64{6} << 27, 900, 2, P2mAccess::rw), 0);
    EXPECT_TRUE(guest_access_in_view(p2m(), view, u64{6} << 27, true).done);
    EXPECT_TRUE(guest_access_in_view(p2m(), view, 1, true).done);
    EXPECT_EQ(p2m().audit(), 0u);

    ASSERT_EQ(p2m().views().destroy(view), 0);
    EXPECT_EQ(all_free(), free_before);
    EXPECT_TRUE(entries_of(view).empty());
    // The index comes back fresh: no override of the old view survives.
    ASSERT_EQ(p2m().views().create(view), view);
    EXPECT_EQ(p2m().views().lookup(view, 0), p2m().lookup(0));
    EXPECT_EQ(p2m().views().lookup(view, u64{6} << 27).type, P2mType::invalid);
}

TEST_F(P2mViewTest, DestroyingTheP2mWithViewsReturnsEveryFrame)
{
    const u64 page = owned_extra_page();
    ASSERT_EQ(p2m().map(0x42, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    for (u16 i = 0; i < 3; i++) {
        const u16 view = new_view();
        ASSERT_EQ(p2m().views().set_access(view, 10 + i, 4, P2mAccess::r), 0);
        ASSERT_EQ(p2m().views().remap(view, u64{3} << 27, 500, 8, P2mAccess::rw), 0);
        EXPECT_TRUE(guest_write_in_view(p2m(), view, (u64{3} << 27) + i, 1));
    }
    ASSERT_EQ(p2m().views().enter(2), 0) << "destroying the domain does not wait for its vCPUs";
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    EXPECT_TRUE(guest_write_in_view(p2m(), 1, 0x42, 1));
    EXPECT_EQ(p2m().audit(), 0u);

    p2m().destroy();
    EXPECT_EQ(p2m().views().count(), 0u);
    EXPECT_EQ(p2m().views().users(2), 0u);
    for (u64 extra : extra_pages_)
        frames_->free_frames(frame_to_addr(extra), 0);
    extra_pages_.clear();
    EXPECT_EQ(all_free(), free_at_start_);

    // Reusable: a new map starts without views, and views can be made again.
    ASSERT_EQ(p2m().create(), 0);
    EXPECT_EQ(p2m().views().create(), 1);
}

// ---- what a view shows ---------------------------------------------------------------------

TEST_F(P2mViewTest, AFreshViewShowsWhatTheHostShows)
{
    const u64 page = owned_extra_page();
    ASSERT_EQ(p2m().map(0x42, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().map(0x800, DEVICE_MFN, 2, P2mType::mmio, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().map(0x900, 0, 1, P2mType::mmio_emulated, P2mAccess::rw), 0);
    const u16 view = new_view();

    for (u64 gfn : {u64{0}, u64{1}, u64{0x42}, u64{511}, u64{512}, VIEW_TEST_RAM - 1, u64{0x800}, u64{0x801},
                    u64{0x900}, u64{0x2000}})
        EXPECT_EQ(p2m().views().lookup(view, gfn), p2m().lookup(gfn)) << gfn;
    for (u64 gfn : {u64{0}, u64{0x42}, u64{600}, VIEW_TEST_RAM - 1, u64{0x801}}) {
        const Access access = guest_access_in_view(p2m(), view, gfn, true);
        ASSERT_TRUE(access.done) << gfn;
        EXPECT_EQ(access.mfn, p2m().lookup(gfn).mfn) << "the same machine frame as the host's, " << gfn;
    }
    // Writes through either view land in the one frame.
    ASSERT_TRUE(guest_write_in_view(p2m(), view, 17, 0x5a));
    EXPECT_EQ(guest_read_in_view(p2m(), P2M_HOST_VIEW, 17), 0x5a);
    ASSERT_TRUE(guest_write(p2m(), 18, 0xa5));
    EXPECT_EQ(guest_read_in_view(p2m(), view, 18), 0xa5);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 0x900, false).action, NpfAction::emulate_mmio);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 0x2000, false).action, NpfAction::crash_not_mapped);
    EXPECT_EQ(guest_access_in_view(p2m(), view, npt::GFN_LIMIT + 1, false).action, NpfAction::crash_not_mapped);
    EXPECT_EQ(p2m().audit(), 0u);

    // Once every entry is filled, the two trees agree leaf for leaf.
    p2m().resolve_pending();
    for (u64 gfn : {u64{0}, u64{0x42}, u64{700}, u64{0x800}, u64{0x900}, u64{0x2000}})
        expect_same_walk(p2m().views().translate(view, gfn), p2m().translate(gfn), gfn);
    EXPECT_EQ(p2m().audit(), 0u);
}

// ---- rights --------------------------------------------------------------------------------

TEST_F(P2mViewTest, SetAccessIsEnforcedInThatViewOnly)
{
    const u16 restricted = new_view(), other = new_view();
    ASSERT_TRUE(guest_write_in_view(p2m(), restricted, 30, 1)); // a writable leaf to take back
    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().views().set_access(restricted, 10, 30, P2mAccess::r), 0);
    EXPECT_GT(p2m().tlb_generation(), generation) << "write rights were taken away";
    EXPECT_FALSE(p2m().views().translate(restricted, 30).writable) << "the filled leaf was rewritten at once";

    EXPECT_EQ(guest_access_in_view(p2m(), restricted, 11, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(guest_access_in_view(p2m(), restricted, 30, true).action, NpfAction::crash_access_denied);
    EXPECT_TRUE(guest_access_in_view(p2m(), restricted, 11, false).done);
    EXPECT_TRUE(guest_access_in_view(p2m(), restricted, 40, true).done) << "just past the span";
    EXPECT_TRUE(guest_access(p2m(), 11, true).done) << "the host view keeps its rights";
    EXPECT_TRUE(guest_access_in_view(p2m(), other, 11, true).done) << "and so does every other view";
    EXPECT_EQ(p2m().views().lookup(restricted, 11).access, P2mAccess::r);
    EXPECT_EQ(p2m().views().lookup(other, 11).access, P2mAccess::rwx);
    EXPECT_EQ(p2m().lookup(11).access, P2mAccess::rwx);
    EXPECT_EQ(entries_of(restricted), (Entries{{10, 10, 30, P2mAccess::r}}));
    EXPECT_TRUE(entries_of(other).empty());

    // Execute and read rights, one frame each.
    ASSERT_EQ(p2m().views().set_access(restricted, 100, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().views().set_access(restricted, 101, 1, P2mAccess::rx), 0);
    ASSERT_EQ(p2m().views().set_access(restricted, 102, 1, P2mAccess::n), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), restricted, 100, false, true).action, NpfAction::crash_access_denied);
    EXPECT_TRUE(guest_access_in_view(p2m(), restricted, 100, true).done);
    EXPECT_EQ(guest_access_in_view(p2m(), restricted, 101, true).action, NpfAction::crash_access_denied);
    EXPECT_TRUE(guest_access_in_view(p2m(), restricted, 101, false, true).done);
    EXPECT_EQ(guest_access_in_view(p2m(), restricted, 102, false).action, NpfAction::crash_access_denied);
    EXPECT_FALSE(p2m().views().translate(restricted, 102).present) << "no rights: not present";
    EXPECT_TRUE(guest_access_in_view(p2m(), other, 102, false, true).done);

    EXPECT_EQ(p2m().audit(), 0u);
}

TEST_F(P2mViewTest, AFaultOnAnUpToDateViewEntryAsksForATlbFlush)
{
    const u16 view = new_view();
    ASSERT_TRUE(guest_access_in_view(p2m(), view, 3, true).done);
    const u64 generation = p2m().tlb_generation();
    EXPECT_EQ(p2m().handle_nested_fault(frame_to_addr(3), true, false, view), NpfAction::retry);
    EXPECT_EQ(p2m().tlb_generation(), generation + 1);
}

TEST_F(P2mViewTest, OnlyRightsX86CanExpressAreAccepted)
{
    const u16 view = new_view();
    for (u8 bits = 0; bits < 10; bits++) {
        const P2mAccess access = static_cast<P2mAccess>(bits);
        const bool expressible = bits == 0 || bits == 1 || bits == 3 || bits == 5 || bits == 7; // n r rw rx rwx
        EXPECT_EQ(p2m().views().set_access(view, 5, 1, access), expressible ? 0 : -BATON_EINVAL) << int{bits};
        EXPECT_EQ(p2m().views().remap(view, 6, 300, 1, access), expressible ? 0 : -BATON_EINVAL) << int{bits};
    }
    EXPECT_EQ(entries_of(view), (Entries{{5, 5, 1, P2mAccess::rwx}, {6, 300, 1, P2mAccess::rwx}}));

    // Which view, and how many frames.
    EXPECT_EQ(p2m().views().set_access(P2M_HOST_VIEW, 5, 1, P2mAccess::r), -BATON_EINVAL) << "not through a view";
    EXPECT_EQ(p2m().views().set_access(P2M_MAX_VIEWS + 1, 5, 1, P2mAccess::r), -BATON_EINVAL);
    EXPECT_EQ(p2m().views().set_access(view + 1, 5, 1, P2mAccess::r), -BATON_ENOENT);
    EXPECT_EQ(p2m().views().remap(view + 1, 5, 300, 1, P2mAccess::r), -BATON_ENOENT);
    EXPECT_EQ(p2m().views().reset(view + 1, 5, 1), -BATON_ENOENT);
    EXPECT_EQ(p2m().views().set_access(view, 5, 0, P2mAccess::r), -BATON_EINVAL);
    EXPECT_EQ(p2m().views().reset(view, 5, 0), -BATON_EINVAL);
    EXPECT_EQ(p2m().views().set_access(view, npt::GFN_LIMIT - 1, 2, P2mAccess::r), -BATON_ERANGE);
    EXPECT_EQ(p2m().views().reset(view, ~u64{0}, 2), -BATON_ERANGE);
    EXPECT_EQ(entries_of(view), (Entries{{5, 5, 1, P2mAccess::rwx}, {6, 300, 1, P2mAccess::rwx}}));
}

TEST_F(P2mViewTest, ResetBringsBackTheHostRights)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().set_access(view, 0, 8, P2mAccess::r), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 3, true).action, NpfAction::crash_access_denied);
    ASSERT_EQ(p2m().views().reset(view, 2, 4), 0);
    EXPECT_TRUE(guest_access_in_view(p2m(), view, 3, true).done);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 1, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 6, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(entries_of(view), (Entries{{0, 0, 2, P2mAccess::r}, {6, 6, 2, P2mAccess::r}}));
    ASSERT_EQ(p2m().views().reset(view, 0, VIEW_TEST_RAM), 0);
    EXPECT_TRUE(entries_of(view).empty());
    for (u64 gfn = 0; gfn < 8; gfn++) {
        EXPECT_EQ(p2m().views().lookup(view, gfn), p2m().lookup(gfn)) << gfn;
        EXPECT_TRUE(guest_access_in_view(p2m(), view, gfn, true, true).done) << gfn;
    }
    EXPECT_EQ(p2m().views().reset(view, 0x3000, 4), 0) << "resetting what was never overridden is fine";
}

TEST_F(P2mViewTest, ReadOnlyHostFramesStayUnwritableWhateverTheViewGrants)
{
    const u64 page = owned_extra_page();
    ASSERT_EQ(p2m().map(0x500, page, 1, P2mType::ram_ro, P2mAccess::r), 0);
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().set_access(view, 0x500, 1, P2mAccess::rwx), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 0x500, true).action, NpfAction::crash_access_denied);
    EXPECT_TRUE(guest_access_in_view(p2m(), view, 0x500, false, true).done) << "the view may add execute";
    EXPECT_FALSE(p2m().views().translate(view, 0x500).writable);
    EXPECT_EQ(p2m().views().lookup(view, 0x500).type, P2mType::ram_ro);

    // RAM made read-only globally, too.
    ASSERT_EQ(p2m().views().set_access(view, 5, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 5, true).action, NpfAction::crash_access_denied);
    p2m().resolve_pending();
    EXPECT_FALSE(p2m().views().translate(view, 5).writable);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_ro, P2mType::ram_rw), 0);
    EXPECT_TRUE(guest_access_in_view(p2m(), view, 5, true).done);
}

// ---- remaps ----------------------------------------------------------------------------------

TEST_F(P2mViewTest, ARemapShowsTheTargetsFrameAndLeavesTheHostAlone)
{
    put_byte(300, 0xaa);
    put_byte(10, 0xbb);
    const u64 own_mfn = p2m().lookup(10).mfn, target_mfn = p2m().lookup(300).mfn;
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 10, 300, 1, P2mAccess::rw), 0);

    EXPECT_EQ(guest_read_in_view(p2m(), view, 10), 0xaa) << "the view reads the target's bytes";
    EXPECT_EQ(guest_access_in_view(p2m(), view, 10, false).mfn, target_mfn);
    EXPECT_EQ(p2m().views().lookup(view, 10), (P2mEntry{target_mfn, P2mType::ram_rw, P2mAccess::rw, true}));
    EXPECT_EQ(guest_read_in_view(p2m(), P2M_HOST_VIEW, 10), 0xbb) << "the host view is unchanged";
    EXPECT_EQ(p2m().lookup(10).mfn, own_mfn);
    EXPECT_EQ(p2m().translate(10).mfn, own_mfn);

    ASSERT_TRUE(guest_write_in_view(p2m(), view, 10, 0xcc));
    EXPECT_EQ(guest_read_in_view(p2m(), P2M_HOST_VIEW, 300), 0xcc) << "a write lands in the target";
    EXPECT_EQ(guest_read_in_view(p2m(), P2M_HOST_VIEW, 10), 0xbb);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 10, false, true).action, NpfAction::crash_access_denied)
        << "the remap's rights, not the target's";
    EXPECT_EQ(guest_read_in_view(p2m(), view, 300), 0xcc) << "the target itself still shows through";

    // A remap may also fill a hole of the host view.
    ASSERT_EQ(p2m().views().remap(view, 0x4000, 300, 1, P2mAccess::r), 0);
    EXPECT_EQ(guest_read_in_view(p2m(), view, 0x4000), 0xcc);
    EXPECT_EQ(p2m().lookup(0x4000).type, P2mType::invalid);
    EXPECT_EQ(p2m().audit(), 0u);
}

TEST_F(P2mViewTest, ARemapTargetsOnlyPopulatedRam)
{
    ASSERT_EQ(p2m().map(0x800, DEVICE_MFN, 1, P2mType::mmio, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().map(0x900, 0, 1, P2mType::mmio_emulated, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().map(0x600, owned_extra_page(), 1, P2mType::ram_rw, P2mAccess::rw), 0);
    const u16 view = new_view();
    for (u64 target : {u64{0x2000}, u64{0x800}, u64{0x900}, u64{0x600}})
        EXPECT_EQ(p2m().views().remap(view, 5, target, 1, P2mAccess::rw), -BATON_EPERM) << target;
    EXPECT_EQ(p2m().views().remap(view, 5, VIEW_TEST_RAM - 1, 2, P2mAccess::rw), -BATON_EPERM) << "half RAM";
    EXPECT_TRUE(entries_of(view).empty());
    EXPECT_EQ(p2m().views().lookup(view, 5), p2m().lookup(5));

    // RAM under an extra page is still the domain's RAM (restoring a view made before the
    // page was mapped needs this); the view shows what the host view shows there.
    const u64 page = owned_extra_page();
    ASSERT_EQ(p2m().map(0x42, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_EQ(p2m().views().remap(view, 5, 0x40, 4, P2mAccess::rw), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 7, true).mfn, page);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 6, true).mfn, p2m().lookup(0x41).mfn);

    // Spans past the guest-physical limit, on either side.
    EXPECT_EQ(p2m().views().remap(view, npt::GFN_LIMIT - 1, 0, 2, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(p2m().views().remap(view, 0, npt::GFN_LIMIT - 1, 2, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(p2m().views().remap(view, ~u64{0}, 0, 2, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(p2m().views().remap(view, 0, ~u64{0}, 2, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(p2m().views().remap(view, 0, 5, 0, P2mAccess::rw), -BATON_EINVAL);
    P2m small(DOMAIN, *frames_, 0x1000);
    ASSERT_EQ(small.create(), 0);
    ASSERT_EQ(small.populate_ram(0xff0, 16, P2mAccess::rw), 0);
    ASSERT_EQ(small.views().create(), 1);
    EXPECT_EQ(small.views().remap(1, 0x1000, 0xff0, 1, P2mAccess::rw), -BATON_ERANGE) << "the configured limit";
    EXPECT_EQ(small.views().set_access(1, 0xfff, 2, P2mAccess::rw), -BATON_ERANGE);
    EXPECT_EQ(small.views().remap(1, 0xfff, 0xff0, 1, P2mAccess::rw), 0);
    small.destroy();
    EXPECT_EQ(entries_of(view), (Entries{{5, 0x40, 4, P2mAccess::rw}}));
}

// A remap may be the only thing that shows frames at its gfns (a hole of the host view):
// rights or a reset over it must take those leaves away, not just the override.
TEST_F(P2mViewTest, RightsOrAResetOverARemapInAHoleHideItsFramesAgain)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 0x4000, 100, 8, P2mAccess::rw), 0);
    for (u64 gfn = 0x4000; gfn < 0x4008; gfn++)
        ASSERT_TRUE(guest_access_in_view(p2m(), view, gfn, true).done) << gfn; // filled leaves
    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().views().set_access(view, 0x4002, 2, P2mAccess::r), 0);
    EXPECT_GT(p2m().tlb_generation(), generation);
    EXPECT_EQ(
        entries_of(view),
        (Entries{{0x4000, 100, 2, P2mAccess::rw}, {0x4002, 0x4002, 2, P2mAccess::r}, {0x4004, 104, 4, P2mAccess::rw}}));
    EXPECT_FALSE(p2m().views().translate(view, 0x4002).present) << "a hole of the host view again";
    EXPECT_FALSE(p2m().views().translate(view, 0x4003).present);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 0x4003, false).action, NpfAction::crash_not_mapped);
    EXPECT_EQ(p2m().views().translate(view, 0x4004).mfn, p2m().lookup(104).mfn);
    EXPECT_TRUE(p2m().views().translate(view, 0x4001).writable);

    // Rights over a span holding both remaps and RAM, then a reset of everything.
    ASSERT_EQ(p2m().views().remap(view, 0x5000, 200, 4, P2mAccess::rw), 0);
    ASSERT_TRUE(guest_access_in_view(p2m(), view, 0x5001, true).done);
    ASSERT_EQ(p2m().views().set_access(view, 0, 0x4004, P2mAccess::rx), 0);
    EXPECT_FALSE(p2m().views().translate(view, 0x4000).present);
    EXPECT_FALSE(p2m().views().translate(view, 5).writable);
    EXPECT_EQ(p2m().views().translate(view, 0x5001).mfn, p2m().lookup(201).mfn) << "outside the span";
    ASSERT_EQ(p2m().views().reset(view, 0, p2m().gfn_limit()), 0);
    EXPECT_TRUE(entries_of(view).empty());
    for (u64 gfn : {u64{0x4001}, u64{0x4005}, u64{0x5001}})
        EXPECT_FALSE(p2m().views().translate(view, gfn).present) << gfn;
    EXPECT_TRUE(guest_access_in_view(p2m(), view, 5, true).done);
    EXPECT_EQ(p2m().audit(), 0u);
}

TEST_F(P2mViewTest, RemapsOfConsecutiveFramesMergeIntoOneEntry)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 100, 200, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().views().remap(view, 101, 201, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().views().remap(view, 102, 202, 2, P2mAccess::rw), 0);
    EXPECT_EQ(entries_of(view), (Entries{{100, 200, 4, P2mAccess::rw}}));
    ASSERT_EQ(p2m().views().remap(view, 104, 300, 1, P2mAccess::rw), 0); // not the next target
    ASSERT_EQ(p2m().views().remap(view, 105, 301, 1, P2mAccess::r), 0); // not the same rights
    EXPECT_EQ(entries_of(view).size(), 3u);

    // Cutting the middle out keeps each piece pointing at its own part of the target.
    ASSERT_EQ(p2m().views().reset(view, 101, 2), 0);
    EXPECT_EQ(entries_of(view), (Entries{{100, 200, 1, P2mAccess::rw},
                                         {103, 203, 1, P2mAccess::rw},
                                         {104, 300, 1, P2mAccess::rw},
                                         {105, 301, 1, P2mAccess::r}}));
    EXPECT_EQ(guest_access_in_view(p2m(), view, 103, false).mfn, p2m().lookup(203).mfn);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 101, false).mfn, p2m().lookup(101).mfn);
}

TEST_F(P2mViewTest, SetAccessOverARemappedSpanDropsTheRemap)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 100, 200, 4, P2mAccess::rw), 0);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 101, true).mfn, p2m().lookup(201).mfn);
    ASSERT_EQ(p2m().views().set_access(view, 101, 2, P2mAccess::r), 0);
    EXPECT_EQ(entries_of(view),
              (Entries{{100, 200, 1, P2mAccess::rw}, {101, 101, 2, P2mAccess::r}, {103, 203, 1, P2mAccess::rw}}));
    const Access read = guest_access_in_view(p2m(), view, 101, false);
    ASSERT_TRUE(read.done);
    EXPECT_EQ(read.mfn, p2m().lookup(101).mfn) << "its own frame again, not the target's";
    EXPECT_EQ(guest_access_in_view(p2m(), view, 102, true).action, NpfAction::crash_access_denied);
    EXPECT_EQ(p2m().views().lookup(view, 102), (P2mEntry{p2m().lookup(102).mfn, P2mType::ram_rw, P2mAccess::r, true}));
}

// ---- host changes reach the views ---------------------------------------------------------

TEST_F(P2mViewTest, RamPopulatedAfterAViewWasMadeIsVisibleInIt)
{
    const u16 view = new_view();
    EXPECT_EQ(guest_access_in_view(p2m(), view, 0x4000, false).action, NpfAction::crash_not_mapped);
    ASSERT_EQ(p2m().populate_ram(0x4000, 16, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().populate_ram(u64{1} << 20, 4, P2mAccess::rw), 0); // another table branch
    ASSERT_EQ(p2m().populate_ram(u64{3} << 27, 4, P2mAccess::rw), 0); // another top-level entry
    for (u64 gfn : {u64{0x4000}, u64{0x400f}, u64{1} << 20, (u64{3} << 27) + 3}) {
        EXPECT_EQ(p2m().views().lookup(view, gfn), p2m().lookup(gfn)) << gfn;
        const Access write = guest_access_in_view(p2m(), view, gfn, true);
        ASSERT_TRUE(write.done) << gfn;
        EXPECT_EQ(write.mfn, p2m().lookup(gfn).mfn) << gfn;
    }
}

TEST_F(P2mViewTest, AnExtraPageMappedOverRamReachesViewsAndRemapsOfIt)
{
    const u64 ram_mfn = p2m().lookup(0x42).mfn;
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().remap(view, 700, 0x42, 1, P2mAccess::rw), 0);
    ASSERT_EQ(guest_access_in_view(p2m(), view, 0x42, true).mfn, ram_mfn); // leaves filled
    ASSERT_EQ(guest_access_in_view(p2m(), view, 700, true).mfn, ram_mfn);

    const u64 page = owned_extra_page();
    phys_to<u8>(frame_to_addr(page))[0] = 0x77;
    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().map(0x42, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_GT(p2m().tlb_generation(), generation);
    // The filled leaves were rewritten at once: the covered RAM is not reachable.
    EXPECT_EQ(p2m().views().translate(view, 0x42).mfn, page);
    EXPECT_EQ(p2m().views().translate(view, 700).mfn, page) << "through the remap too";
    EXPECT_EQ(guest_read_in_view(p2m(), view, 700), 0x77);
    EXPECT_EQ(p2m().views().lookup(view, 700).mfn, page);
    EXPECT_EQ(p2m().audit(), 0u);

    ASSERT_EQ(p2m().unmap(0x42, 1), 0);
    EXPECT_EQ(p2m().views().translate(view, 0x42).mfn, ram_mfn);
    EXPECT_EQ(p2m().views().translate(view, 700).mfn, ram_mfn);
    EXPECT_EQ(guest_access_in_view(p2m(), view, 700, true).mfn, ram_mfn);
}

TEST_F(P2mViewTest, MakingRamReadOnlyTakesWriteRightsAwayInViews)
{
    const u16 plain = new_view(), granting = new_view();
    ASSERT_EQ(p2m().views().set_access(granting, 5, 1, P2mAccess::rw), 0);
    ASSERT_EQ(p2m().views().remap(granting, 6, 300, 1, P2mAccess::rw), 0);
    for (u16 view : {plain, granting})
        for (u64 gfn : {5, 6})
            ASSERT_TRUE(guest_access_in_view(p2m(), view, gfn, true).done); // writable leaves

    const u64 generation = p2m().tlb_generation();
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    EXPECT_GT(p2m().tlb_generation(), generation);
    for (u16 view : {plain, granting}) {
        for (u64 gfn : {5, 6}) {
            EXPECT_FALSE(p2m().views().translate(view, gfn).writable) << view << " " << gfn;
            EXPECT_EQ(p2m().views().lookup(view, gfn).type, P2mType::ram_ro);
            EXPECT_EQ(guest_access_in_view(p2m(), view, gfn, true).action, NpfAction::crash_access_denied);
            EXPECT_TRUE(guest_access_in_view(p2m(), view, gfn, false).done);
        }
    }
    p2m().resolve_pending();
    EXPECT_FALSE(p2m().views().translate(granting, 6).writable);
    EXPECT_EQ(p2m().audit(), 0u);
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_ro, P2mType::ram_rw), 0);
    EXPECT_TRUE(guest_access_in_view(p2m(), granting, 6, true).done);
}

// ---- locks -----------------------------------------------------------------------------------

TEST_F(P2mViewTest, EveryViewOperationReturnsWithNoLockHeld)
{
    auto settled = [](const char *what) { EXPECT_EQ(mm_locks_held(), 0u) << what; };
    const u16 view = new_view();
    settled("views().create");
    EXPECT_EQ(p2m().views().create(view), -BATON_EEXIST);
    settled("views().create EEXIST");
    EXPECT_EQ(p2m().views().set_access(view, 1, 2, P2mAccess::r), 0);
    settled("views().set_access");
    EXPECT_EQ(p2m().views().set_access(view + 1, 1, 2, P2mAccess::r), -BATON_ENOENT);
    settled("views().set_access ENOENT");
    EXPECT_EQ(p2m().views().remap(view, 10, 300, 2, P2mAccess::rw), 0);
    settled("views().remap");
    EXPECT_EQ(p2m().views().remap(view, 10, 0x3000, 2, P2mAccess::rw), -BATON_EPERM);
    settled("views().remap EPERM");
    EXPECT_EQ(p2m().views().reset(view, 2, 1), 0);
    settled("views().reset");
    EXPECT_EQ(guest_access_in_view(p2m(), view, 1, true).action, NpfAction::crash_access_denied);
    settled("a denied fault");
    EXPECT_TRUE(guest_write_in_view(p2m(), view, 10, 1));
    settled("a fault");
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    EXPECT_TRUE(guest_write_in_view(p2m(), view, 11, 1));
    settled("a first write through a remap");
    EXPECT_EQ(dirty_frames(p2m(), 0, VIEW_TEST_RAM, true), (std::vector<u64>{301}));
    settled("read_dirty(clean)");
    ASSERT_EQ(p2m().populate_ram(0x4000, 4, P2mAccess::rw), 0);
    settled("populate_ram");
    EXPECT_EQ(p2m().views().lookup(view, 10).mfn, p2m().lookup(300).mfn);
    EXPECT_TRUE(p2m().views().translate(view, 10).present);
    EXPECT_EQ(p2m().views().count(), 1u);
    EXPECT_EQ(entries_of(view).size(), 2u);
    settled("the queries");
    ASSERT_EQ(p2m().views().enter(view), 0);
    EXPECT_EQ(p2m().views().destroy(view), -BATON_EBUSY);
    settled("views().destroy EBUSY");
    p2m().views().leave(view);
    p2m().resolve_pending();
    EXPECT_EQ(p2m().audit(), 0u);
    settled("resolve_pending and audit");
    EXPECT_EQ(p2m().views().destroy(view), 0);
    settled("views().destroy");
}

using P2mViewDeathTest = P2mViewTest;

// The one way public code holds a view's lock is a views().for_each_entry visit; a visit that
// calls back into the p2m takes the p2m lock inside the view's, the wrong way round.
TEST_F(P2mViewDeathTest, CallingTheP2mFromAViewVisitPanicsNamingBothLevels)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().set_access(view, 1, 1, P2mAccess::r), 0);
    const std::string domain = std::to_string(DOMAIN);
    EXPECT_DEATH(p2m().views().for_each_entry(view, [&](const P2mViewEntry &) { p2m().lookup(1); }),
                 "PANIC: mm lock order: taking p2m lock 'p2m' of d" + domain +
                     " while holding altp2m lock 'altp2m view' of d" + domain + ": levels must rise");
}

TEST_F(P2mViewDeathTest, LeavingAViewMoreOftenThanEnteredPanics)
{
    const u16 view = new_view();
    ASSERT_EQ(p2m().views().enter(view), 0);
    p2m().views().leave(view);
    EXPECT_DEATH(p2m().views().leave(view), "view 1 left more often than entered");
}
