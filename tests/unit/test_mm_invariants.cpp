// SPDX-License-Identifier: MIT
// Unit tests for the bootmem invariant checker (rule 1: nothing preserved in the region).
#include "host_platform.hpp"
#include "mm/invariants.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <string>

using namespace mm_test;

namespace {

usize count_lines_with(const std::string &text, const std::string &needle)
{
    usize count = 0;
    for (usize at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        count++;
    return count;
}

class InvariantTest : public MmTest {
protected:
    void SetUp() override
    {
        const PreservedRange preserved{{40 * MiB, 44 * MiB}, 1, FrameType::guest_ram, 0};
        boot(&preserved, 1);
        // A busy but correct state: both classes allocated, the region partly used.
        for (int i = 0; i < 64; i++) {
            ASSERT_NE(frames_->alloc_frames(2, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap), 0u);
            ASSERT_NE(frames_->alloc_frames(2, MemClass::preserved, 1, FrameType::guest_ram), 0u);
        }
        ASSERT_NE(frames_->alloc_frames(0, MemClass::preserved, 1, FrameType::extra), 0u);
    }

    InvariantResult check(std::string *log)
    {
        console_capture_begin();
        InvariantResult result = check_bootmem_invariant(frames_->table(), frames_->bootmem_region());
        *log = console_capture_end();
        return result;
    }
};

} // namespace

TEST_F(InvariantTest, CorrectStatePassesSilently)
{
    std::string log;
    InvariantResult result = check(&log);
    EXPECT_TRUE(result.ok());
    EXPECT_EQ(result.violations, 0u);
    EXPECT_EQ(log, "");
}

TEST_F(InvariantTest, PreservedFrameInsideTheRegionIsReported)
{
    // Break the rule on purpose, as a buggy allocator would.
    u64 victim = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    ASSERT_TRUE(frames_->in_bootmem_region(victim));
    entry_at(victim).flags |= FRAME_PRESERVED;
    std::string log;
    InvariantResult result = check(&log);
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.violations, 1u);
    EXPECT_EQ(result.first_offender, victim);
    char expected[160];
    snprintf(expected, sizeof(expected),
             "[E] mm: invariant broken: preserved frame 0x%lx (type heap, owner 65534, flags 0x5) inside lu_bootmem "
             "0x1000000-0x2000000",
             victim);
    EXPECT_NE(log.find(expected), std::string::npos) << log;
    EXPECT_NE(log.find("1 preserved frames inside lu_bootmem"), std::string::npos) << log;
}

TEST_F(InvariantTest, GuestMemoryInsideTheRegionIsReportedEvenUnflagged)
{
    u64 victim = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    entry_at(victim).type = FrameType::guest_ram;
    std::string log;
    InvariantResult result = check(&log);
    EXPECT_EQ(result.violations, 1u);
    EXPECT_EQ(result.first_offender, victim);
}

TEST_F(InvariantTest, ManyOffendersAreCountedButOnlyTheFirstFewLogged)
{
    PhysRange region = frames_->bootmem_region();
    u64 first = region.start + 100 * PAGE_SIZE;
    for (u64 phys = first; phys < first + 100 * PAGE_SIZE; phys += PAGE_SIZE)
        entry_at(phys).flags |= FRAME_EXTRA_PAGE;
    std::string log;
    InvariantResult result = check(&log);
    EXPECT_EQ(result.violations, 100u);
    EXPECT_EQ(result.first_offender, first);
    EXPECT_EQ(count_lines_with(log, "mm: invariant broken: preserved frame "), 8u) << log;
    EXPECT_NE(log.find("100 preserved frames inside lu_bootmem, first at 0x1064000"), std::string::npos) << log;
}

TEST_F(InvariantTest, FramesOutsideTheRegionAreNotOffenders)
{
    // The preserved range at 40 MiB and all preserved allocations sit right outside.
    EXPECT_TRUE(entry_at(40 * MiB).has(FRAME_PRESERVED));
    std::string log;
    EXPECT_TRUE(check(&log).ok());
    // A region that ends past the table is clipped to it, not overrun.
    u64 last = RAM_TOP - PAGE_SIZE;
    entry_at(last).flags |= FRAME_PRESERVED;
    console_capture_begin();
    InvariantResult result = check_bootmem_invariant(frames_->table(), {last, 64 * GiB});
    console_capture_end();
    EXPECT_EQ(result.violations, 1u);
    EXPECT_EQ(result.first_offender, last);
}
