// SPDX-License-Identifier: MIT
// p2m test support: a booted allocator, a stand-in for the CPU's nested walk, guest accesses.
#pragma once
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "test_mm_support.hpp"
#include <algorithm>
#include <memory>
#include <ostream>
#include <vector>

// Readable failure messages for comparisons of view overrides.
inline void PrintTo(const P2mViewEntry &entry, std::ostream *out)
{
    *out << "{gfn 0x" << std::hex << entry.gfn << " -> 0x" << entry.target_gfn << std::dec << " x" << entry.count << " "
         << p2m_access_name(entry.access) << "}";
}

namespace p2m_test {

inline constexpr frame_owner_t DOMAIN = 7;
// Device frames: far above the simulated machine's RAM, outside the frame table.
inline constexpr u64 DEVICE_MFN = 0xfea00;
// A frame the table marks reserved (the BIOS area at 0xf0000).
inline constexpr u64 FIRMWARE_MFN = 0xf0;

// How one guest access ended: with the access done, or with the action that stopped it.
struct Access {
    bool done = false;
    NpfAction action = NpfAction::retry;
    unsigned faults = 0;
    u64 mfn = 0;
};

// What a vCPU running in view `view` does (P2M_HOST_VIEW: the p2m's own tables): try the
// access against that view's tables as the hardware would, and on a nested page fault ask
// the p2m, retrying while it says retry (a few times at most: a correct p2m needs one
// fault per access, two after a stale-TLB flush request).
inline Access guest_access_in_view(P2m &p2m, u16 view, u64 gfn, bool write, bool fetch = false)
{
    Access result;
    for (unsigned attempt = 0; attempt < 4; attempt++) {
        const npt::Translation walk = p2m.views().translate(view, gfn);
        if (walk.present && walk.user && (!write || walk.writable) && (!fetch || walk.executable)) {
            result.done = true;
            result.mfn = walk.mfn;
            return result;
        }
        result.faults++;
        result.action = p2m.handle_nested_fault(frame_to_addr(gfn) | 0x123, write, fetch, view);
        if (result.action != NpfAction::retry)
            return result;
    }
    return result; // still faulting: the p2m keeps saying retry without fixing anything
}

inline Access guest_access(P2m &p2m, u64 gfn, bool write, bool fetch = false)
{
    return guest_access_in_view(p2m, P2M_HOST_VIEW, gfn, write, fetch);
}

// A guest write of one byte (through the view's tables, faults handled); false if it did
// not happen.
inline bool guest_write_in_view(P2m &p2m, u16 view, u64 gfn, u8 value, u64 offset = 0)
{
    const Access access = guest_access_in_view(p2m, view, gfn, true);
    if (!access.done)
        return false;
    phys_to<u8>(frame_to_addr(access.mfn))[offset] = value;
    return true;
}

inline bool guest_write(P2m &p2m, u64 gfn, u8 value, u64 offset = 0)
{
    return guest_write_in_view(p2m, P2M_HOST_VIEW, gfn, value, offset);
}

// A guest read of one byte through the view's tables; -1 if the read did not happen.
inline int guest_read_in_view(P2m &p2m, u16 view, u64 gfn, u64 offset = 0)
{
    const Access access = guest_access_in_view(p2m, view, gfn, false);
    return access.done ? phys_to<u8>(frame_to_addr(access.mfn))[offset] : -1;
}

inline std::vector<P2mRange> ranges_of(const P2m &p2m)
{
    std::vector<P2mRange> ranges;
    p2m.for_each_range([&](const P2mRange &range) { ranges.push_back(range); });
    return ranges;
}

// The dirty frames of [first, first + count), read window by window as a caller must
// (read_dirty() takes at most DIRTY_READ_MAX_FRAMES at a time).
inline std::vector<u64> dirty_frames(P2m &p2m, u64 first, u64 count, bool clean)
{
    auto bits = std::make_unique<DirtyBits>();
    std::vector<u64> frames;
    for (u64 done = 0; done < count; done += DIRTY_READ_MAX_FRAMES) {
        const u64 window = count - done < DIRTY_READ_MAX_FRAMES ? count - done : DIRTY_READ_MAX_FRAMES;
        std::fill(std::begin(bits->words), std::end(bits->words), ~u64{0});
        const i64 found = p2m.read_dirty(first + done, window, *bits, clean);
        EXPECT_GE(found, 0);
        const usize before = frames.size();
        bits->for_each_dirty([&](u64 gfn) { frames.push_back(gfn); });
        EXPECT_EQ(static_cast<u64>(found), frames.size() - before);
    }
    return frames;
}

} // namespace p2m_test

// A booted allocator over simulated RAM and one domain's p2m.
class P2mTest : public MmTest {
protected:
    void SetUp() override
    {
        boot();
        free_at_start_ = all_free();
        p2m_ = std::make_unique<P2m>(p2m_test::DOMAIN, *frames_);
        ASSERT_EQ(p2m_->create(), 0);
    }

    u64 all_free() const { return frames_->free_frame_count(MemClass::ephemeral); }
    u64 extra_page()
    {
        return addr_to_frame(frames_->alloc_frames(0, MemClass::preserved, p2m_test::DOMAIN, FrameType::extra));
    }
    // Allocates from `mem_class` until fewer than keep + 1 frames of it are free (the
    // memory another domain or the heap would hold); give_back() returns it.
    std::vector<std::pair<u64, unsigned>> exhaust(MemClass mem_class, u64 keep = 0)
    {
        const FrameType type = mem_class == MemClass::preserved ? FrameType::guest_ram : FrameType::heap;
        std::vector<std::pair<u64, unsigned>> taken;
        for (int order = MAX_ORDER; order >= 0; order--) {
            while (frames_->free_frame_count(mem_class) >= keep + (u64{1} << order)) {
                const u64 phys = frames_->alloc_frames(static_cast<unsigned>(order), mem_class, 99, type);
                if (phys == 0)
                    break;
                taken.push_back({phys, static_cast<unsigned>(order)});
            }
        }
        return taken;
    }
    void give_back(const std::vector<std::pair<u64, unsigned>> &taken)
    {
        for (const auto &[phys, order] : taken)
            frames_->free_frames(phys, order);
    }

    P2m &p2m() { return *p2m_; }

    u64 free_at_start_ = 0;
    std::unique_ptr<P2m> p2m_;
};

// The p2m above with guest RAM at [0, VIEW_TEST_RAM), for tests of alternate views. Every
// test must leave no mm lock held, a clean audit and, once the p2m is destroyed, every
// frame free again: the views' tables and override storage included.
class P2mViewTest : public P2mTest {
protected:
    static constexpr u64 VIEW_TEST_RAM = 1024;

    void SetUp() override
    {
        P2mTest::SetUp();
        ASSERT_EQ(p2m().populate_ram(0, VIEW_TEST_RAM, P2mAccess::rwx), 0);
    }
    void TearDown() override
    {
        EXPECT_EQ(mm_locks_held(), 0u);
        EXPECT_EQ(p2m().audit(), 0u);
        p2m().destroy();
        EXPECT_EQ(p2m().views().count(), 0u);
        for (u64 page : extra_pages_)
            frames_->free_frames(frame_to_addr(page), 0); // the p2m never frees extra pages
        EXPECT_EQ(all_free(), free_at_start_) << "destroy must return every frame, the views' too";
    }

    // A view at the lowest free index (0 if creating it failed, which fails the test).
    u16 new_view()
    {
        const int index = p2m().views().create();
        EXPECT_GT(index, 0);
        return index > 0 ? static_cast<u16>(index) : 0;
    }
    // An extra page of the domain, freed after the p2m is destroyed.
    u64 owned_extra_page()
    {
        extra_pages_.push_back(extra_page());
        return extra_pages_.back();
    }
    std::vector<P2mViewEntry> entries_of(u16 view) const
    {
        std::vector<P2mViewEntry> entries;
        p2m_->views().for_each_entry(view, [&](const P2mViewEntry &entry) { entries.push_back(entry); });
        return entries;
    }
    // The byte the guest sees at offset 0 of gfn in the host view, written by the hypervisor.
    void put_byte(u64 gfn, u8 value) { phys_to<u8>(frame_to_addr(p2m().lookup(gfn).mfn))[0] = value; }

    std::vector<u64> extra_pages_;
};
