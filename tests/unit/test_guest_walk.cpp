// SPDX-License-Identifier: MIT
// Walking guest page tables built in a host buffer, in every paging mode the walker takes.
#include "abi/errno.h"
#include "arch/x86_64/platform/guest_walk.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <vector>

namespace {

constexpr u64 CR0_PG = u64{1} << 31, CR4_PSE = 1u << 4, CR4_PAE = 1u << 5, CR4_LA57 = 1u << 12;
constexpr u64 EFER_LMA = 1u << 10;
constexpr u64 P = 1, RW = 2, PS = 0x80;

// Guest-physical memory: 4 MiB of bytes at guest-physical 0.
class Memory final : public GuestPhysReader {
public:
    Memory() : bytes_(4 << 20) {}
    bool read_u64(u64 gpa, u64 *value) override
    {
        if (gpa + 8 > bytes_.size())
            return false;
        std::memcpy(value, bytes_.data() + gpa, 8);
        return true;
    }
    void put64(u64 gpa, u64 value) { std::memcpy(bytes_.data() + gpa, &value, 8); }
    void put32(u64 gpa, u32 value) { std::memcpy(bytes_.data() + gpa, &value, 4); }

private:
    std::vector<u8> bytes_;
};

int walk(const GuestPaging &paging, u64 linear, Memory &memory, u64 *gpa)
{
    return guest_translate(paging, linear, GuestAccess::fetch, memory, gpa);
}

} // namespace

TEST(GuestWalk, PagingOffIsIdentity)
{
    Memory memory;
    u64 gpa = 0;
    ASSERT_EQ(walk({0x11, 0, 0, 0}, 0x1000850, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0x1000850u);
}

TEST(GuestWalk, LongModeFourKilobyteTwoMegabyteAndOneGigabytePages)
{
    Memory memory;
    const GuestPaging paging{CR0_PG | 1, 0x1000, CR4_PAE, EFER_LMA};
    const u64 linear = 0xffffffff81000123; // PML4 511, PDPT 510, PD 8, PT 0
    memory.put64(0x1000 + 511 * 8, 0x2000 | P | RW);
    memory.put64(0x2000 + 510 * 8, 0x3000 | P | RW);
    memory.put64(0x3000 + 8 * 8, 0x4000 | P | RW);
    memory.put64(0x4000 + 0 * 8, 0x123000 | P);
    u64 gpa = 0;
    ASSERT_EQ(walk(paging, linear, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0x123123u);

    memory.put64(0x3000 + 8 * 8, 0x1000000 | P | RW | PS); // 2 MiB page
    ASSERT_EQ(walk(paging, linear + 0x45000, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0x1045123u);

    memory.put64(0x2000 + 510 * 8, 0x40000000 | P | RW | PS); // 1 GiB page
    ASSERT_EQ(walk(paging, linear, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0x40000000u + (linear & 0x3fffffff));

    memory.put64(0x1000 + 511 * 8, 0);
    EXPECT_EQ(walk(paging, linear, memory, &gpa), -BATON_ENOENT);
    EXPECT_EQ(walk(paging, 0x0000800000000000, memory, &gpa), -BATON_EINVAL) << "non-canonical";
    EXPECT_EQ(walk({CR0_PG | 1, 0x1000, CR4_PAE | CR4_LA57, EFER_LMA}, 0, memory, &gpa), -BATON_EINVAL);
    EXPECT_EQ(walk({CR0_PG | 1, 0x7ff000000, CR4_PAE, EFER_LMA}, 0, memory, &gpa), -BATON_EFAULT)
        << "tables outside readable memory";
}

TEST(GuestWalk, PaeThreeLevels)
{
    Memory memory;
    const GuestPaging paging{CR0_PG | 1, 0x1020, CR4_PAE, 0};
    const u64 linear = 0xc0401234; // PDPT 3, PD 2, PT 1
    memory.put64(0x1020 + 3 * 8, 0x2000 | P);
    memory.put64(0x2000 + 2 * 8, 0x3000 | P | RW);
    memory.put64(0x3000 + 1 * 8, 0x200000 | P);
    u64 gpa = 0;
    ASSERT_EQ(walk(paging, linear, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0x200234u);
    memory.put64(0x2000 + 2 * 8, 0x600000 | P | PS);
    ASSERT_EQ(walk(paging, linear, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0x601234u);
}

TEST(GuestWalk, ThirtyTwoBitWithFourMegabytePages)
{
    Memory memory;
    GuestPaging paging{CR0_PG | 1, 0x1000, 0, 0};
    const u64 linear = 0xc0801234; // PD 770, PT 1
    memory.put32(0x1000 + 770 * 4, 0x2000 | P);
    memory.put32(0x2000 + 1 * 4, 0x345000 | P);
    u64 gpa = 0;
    ASSERT_EQ(walk(paging, linear, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0x345234u);
    memory.put32(0x1000 + 770 * 4, 0x00c00000 | P | PS);
    paging.cr4 = CR4_PSE;
    ASSERT_EQ(walk(paging, linear, memory, &gpa), 0);
    EXPECT_EQ(gpa, 0xc01234u);
    memory.put32(0x1000 + 770 * 4, 0);
    EXPECT_EQ(walk(paging, linear, memory, &gpa), -BATON_ENOENT);
}
