// SPDX-License-Identifier: MIT
// Unit tests for the guest page-table walk: tables built in host memory for every mode.
#include "abi/errno.h"
#include "arch/x86_64/platform/guest_walk.hpp"
#include <gtest/gtest.h>
#include <map>

namespace {

constexpr u64 P = u64{1} << 0;
constexpr u64 RW = u64{1} << 1;
constexpr u64 US = u64{1} << 2;
constexpr u64 PS = u64{1} << 7;
constexpr u64 PAT_LARGE = u64{1} << 12;
constexpr u64 XD = u64{1} << 63;
constexpr u64 TABLE = P | RW | US; // tables grant everything; tests restrict leaves

using namespace guest_paging_bits;
constexpr u64 CR0_PE = u64{1} << 0;
constexpr u64 EFER_LME = u64{1} << 8;

constexpr u64 RAM_BYTES = 16 * MiB; // tables live below; pages they map need not exist

constexpr GuestAccess READ{GuestAccessType::read, false};
constexpr GuestAccess WRITE{GuestAccessType::write, false};
constexpr GuestAccess FETCH{GuestAccessType::fetch, false};
constexpr GuestAccess USER_READ{GuestAccessType::read, true};
constexpr GuestAccess USER_WRITE{GuestAccessType::write, true};
constexpr GuestAccess USER_FETCH{GuestAccessType::fetch, true};

// Guest RAM as a sparse map of aligned qwords; unset ones read as zero (not present).
class FakeRam final : public GuestPhysReader {
public:
    bool read_u64(u64 gpa, u64 *value) override
    {
        reads++;
        EXPECT_EQ(gpa % 8, 0u) << "unaligned read at " << std::hex << gpa;
        if (gpa >= RAM_BYTES)
            return false;
        const auto found = qwords_.find(gpa);
        *value = found == qwords_.end() ? 0 : found->second;
        return true;
    }
    void set64(u64 gpa, u64 value) { qwords_[gpa] = value; }
    void set32(u64 gpa, u32 value)
    {
        u64 &qword = qwords_[gpa & ~u64{7}];
        const unsigned shift = (gpa & 4) != 0 ? 32 : 0;
        qword = (qword & ~(u64{0xffffffff} << shift)) | (u64{value} << shift);
    }

    unsigned reads = 0;

private:
    std::map<u64, u64> qwords_;
};

// Index of `linear` in the 64-bit-entry table at `level` (1: PT ... 4: PML4).
constexpr u64 index64(u64 linear, unsigned level) { return (linear >> (12 + 9 * (level - 1))) & 511; }

// ---- 4-level paging ------------------------------------------------------------------

constexpr u64 PML4 = 0x1000;
constexpr u64 PDPT = 0x2000;
constexpr u64 PD = 0x3000;
constexpr u64 PT = 0x4000;
constexpr u64 KERNEL_TEXT = 0xffffffff81001234; // PML4 511, PDPT 510, PD 8, PT 1
constexpr u64 PAGE_4K = 0x12345000;

class LongModeWalk : public ::testing::Test {
protected:
    void SetUp() override
    {
        ram_.set64(entry(PML4, 4), PDPT | TABLE);
        ram_.set64(entry(PDPT, 3), PD | TABLE);
        ram_.set64(entry(PD, 2), PT | TABLE);
        ram_.set64(entry(PT, 1), PAGE_4K | P | RW);
    }
    static u64 entry(u64 table, unsigned level, u64 linear = KERNEL_TEXT) { return table + index64(linear, level) * 8; }
    int translate(u64 linear, GuestAccess access = READ)
    {
        gpa_ = ~u64{0};
        return guest_translate(paging_, linear, access, ram_, &gpa_);
    }

    FakeRam ram_;
    GuestPaging paging_{CR0_PE | CR0_PG | CR0_WP, PML4, CR4_PAE, EFER_LME | EFER_LMA | EFER_NXE};
    u64 gpa_ = 0;
};

TEST_F(LongModeWalk, FourKibPage)
{
    ASSERT_EQ(translate(KERNEL_TEXT), 0);
    EXPECT_EQ(gpa_, PAGE_4K | 0x234);
    EXPECT_EQ(ram_.reads, 4u);
    ASSERT_EQ(translate(KERNEL_TEXT | 0xfff, FETCH), 0);
    EXPECT_EQ(gpa_, PAGE_4K | 0xfff);
}

TEST_F(LongModeWalk, TwoMibPage)
{
    ram_.set64(entry(PD, 2), 0x40000000 | P | RW | PS | PAT_LARGE); // PAT is not address
    ASSERT_EQ(translate(KERNEL_TEXT), 0);
    EXPECT_EQ(gpa_, 0x40000000 | (KERNEL_TEXT & 0x1fffff));
    EXPECT_EQ(ram_.reads, 3u);
}

TEST_F(LongModeWalk, OneGibPage)
{
    ram_.set64(entry(PDPT, 3), 0x1c0000000 | P | RW | PS);
    ASSERT_EQ(translate(KERNEL_TEXT), 0);
    EXPECT_EQ(gpa_, 0x1c0000000 | (KERNEL_TEXT & 0x3fffffff));
    EXPECT_EQ(ram_.reads, 2u);
}

TEST_F(LongModeWalk, LowHalfAndPcidBits)
{
    const u64 user = 0x0000000000401000;
    ram_.set64(entry(PML4, 4, user), 0x5000 | TABLE);
    ram_.set64(entry(0x5000, 3, user), 0x6000 | TABLE);
    ram_.set64(entry(0x6000, 2, user), 0x7000 | TABLE);
    ram_.set64(entry(0x7000, 1, user), 0x888000 | P | US);
    paging_.cr3 = PML4 | 0x5; // a PCID in bits 11:0 is not part of the address
    ASSERT_EQ(translate(user + 8, USER_READ), 0);
    EXPECT_EQ(gpa_, 0x888008u);
}

TEST_F(LongModeWalk, NotPresentAtEveryLevel)
{
    const u64 tables[] = {PML4, PDPT, PD, PT};
    for (unsigned level = 4; level >= 1; level--) {
        SetUp();
        const u64 at = entry(tables[4 - level], level);
        u64 value = 0;
        ASSERT_TRUE(ram_.read_u64(at, &value));
        ram_.set64(at, value & ~P);
        EXPECT_EQ(translate(KERNEL_TEXT), -BATON_ENOENT) << "level " << level;
        EXPECT_EQ(gpa_, ~u64{0}) << "no address on failure";
    }
}

TEST_F(LongModeWalk, NonCanonicalAddresses)
{
    EXPECT_EQ(translate(0x0000800000000000), -BATON_EINVAL);
    EXPECT_EQ(translate(0xffff7fffffffffff), -BATON_EINVAL);
    EXPECT_EQ(translate(0x8000000000000000), -BATON_EINVAL);
    EXPECT_EQ(ram_.reads, 0u);
    EXPECT_EQ(translate(0x00007fffffffffff), -BATON_ENOENT); // canonical, just not mapped
}

TEST_F(LongModeWalk, ReservedBits)
{
    paging_.phys_addr_bits = 40;
    ram_.set64(entry(PT, 1), PAGE_4K | (u64{1} << 40) | P);
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EINVAL);
    paging_.phys_addr_bits = 52;
    ASSERT_EQ(translate(KERNEL_TEXT), 0);
    EXPECT_EQ(gpa_, (u64{1} << 40) | PAGE_4K | 0x234);

    SetUp();
    ram_.set64(entry(PT, 1), PAGE_4K | (u64{0x7ff} << 52) | P); // 62:52 are ignored, not address
    ASSERT_EQ(translate(KERNEL_TEXT), 0);
    EXPECT_EQ(gpa_, PAGE_4K | 0x234);

    ram_.set64(entry(PT, 1), PAGE_4K | XD | P);
    paging_.efer &= ~EFER_NXE;
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EINVAL); // XD without NXE

    SetUp();
    paging_.efer |= EFER_NXE;
    ram_.set64(entry(PML4, 4), TABLE | PS); // no 512 GiB pages, even aligned ones
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EINVAL);

    SetUp();
    ram_.set64(entry(PD, 2), 0x40000000 | P | PS | (u64{1} << 13)); // 2 MiB page not aligned
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EINVAL);
    ram_.set64(entry(PDPT, 3), 0x40000000 | P | PS | (u64{1} << 29)); // 1 GiB page not aligned
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EINVAL);
}

TEST_F(LongModeWalk, Rights)
{
    // The leaf is supervisor, writable, executable.
    EXPECT_EQ(translate(KERNEL_TEXT, WRITE), 0);
    EXPECT_EQ(translate(KERNEL_TEXT, USER_READ), -BATON_EPERM);

    ram_.set64(entry(PT, 1), PAGE_4K | P); // read-only
    EXPECT_EQ(translate(KERNEL_TEXT, READ), 0);
    EXPECT_EQ(translate(KERNEL_TEXT, WRITE), -BATON_EPERM);
    paging_.cr0 &= ~CR0_WP;
    EXPECT_EQ(translate(KERNEL_TEXT, WRITE), 0); // supervisor ignores R/W without WP

    ram_.set64(entry(PT, 1), PAGE_4K | P | US);
    EXPECT_EQ(translate(KERNEL_TEXT, USER_WRITE), -BATON_EPERM); // users never do
    EXPECT_EQ(translate(KERNEL_TEXT, USER_FETCH), 0);
    EXPECT_EQ(translate(KERNEL_TEXT, FETCH), 0);
    paging_.cr4 |= CR4_SMEP;
    EXPECT_EQ(translate(KERNEL_TEXT, FETCH), -BATON_EPERM); // SMEP: no kernel code in user pages
    EXPECT_EQ(translate(KERNEL_TEXT, READ), 0);

    // U/S must be set at every level for a user access.
    ram_.set64(entry(PDPT, 3), PD | P | RW);
    EXPECT_EQ(translate(KERNEL_TEXT, USER_READ), -BATON_EPERM);
}

TEST_F(LongModeWalk, NoExecuteAtAnyLevel)
{
    ram_.set64(entry(PML4, 4), PDPT | TABLE | XD);
    EXPECT_EQ(translate(KERNEL_TEXT, READ), 0);
    EXPECT_EQ(translate(KERNEL_TEXT, FETCH), -BATON_EPERM);
}

TEST_F(LongModeWalk, UnsupportedAndInconsistentModes)
{
    paging_.cr4 |= CR4_LA57;
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_ENOSYS);
    paging_.cr4 = 0;
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EINVAL); // long mode needs PAE
    paging_.cr4 = CR4_PAE;
    paging_.cr0 &= ~CR0_PG;
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EINVAL); // LMA needs PG
}

TEST_F(LongModeWalk, TablesOutsideRam)
{
    paging_.cr3 = RAM_BYTES;
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EFAULT);
    SetUp();
    ram_.set64(entry(PD, 2), RAM_BYTES | TABLE);
    EXPECT_EQ(translate(KERNEL_TEXT), -BATON_EFAULT);
}

// ---- PAE paging ----------------------------------------------------------------------

constexpr u64 PAE_CR3 = 0x5020; // the PDPT: 32-byte aligned, not page aligned
constexpr u64 PAE_PD = 0x6000;
constexpr u64 PAE_PT = 0x7000;
constexpr u64 PAE_LINEAR = 0xc0101234; // PDPTE 3, PDE 0, PTE 0x101

class PaeWalk : public ::testing::Test {
protected:
    void SetUp() override
    {
        ram_.set64(PAE_CR3 + 3 * 8, PAE_PD | P);
        ram_.set64(PAE_PD + index64(PAE_LINEAR, 2) * 8, PAE_PT | TABLE);
        ram_.set64(PAE_PT + index64(PAE_LINEAR, 1) * 8, 0x00abc000 | P | RW);
    }
    int translate(u64 linear, GuestAccess access = READ)
    {
        gpa_ = ~u64{0};
        return guest_translate(paging_, linear, access, ram_, &gpa_);
    }

    FakeRam ram_;
    GuestPaging paging_{CR0_PE | CR0_PG | CR0_WP, PAE_CR3, CR4_PAE, EFER_NXE};
    u64 gpa_ = 0;
};

TEST_F(PaeWalk, FourKibPage)
{
    ASSERT_EQ(translate(PAE_LINEAR), 0);
    EXPECT_EQ(gpa_, 0x00abc234u);
    EXPECT_EQ(ram_.reads, 3u);
}

TEST_F(PaeWalk, TwoMibPageAboveFourGib)
{
    ram_.set64(PAE_PD + index64(PAE_LINEAR, 2) * 8, 0x2c0000000 | P | PS);
    ASSERT_EQ(translate(PAE_LINEAR), 0);
    EXPECT_EQ(gpa_, 0x2c0000000 | (PAE_LINEAR & 0x1fffff));
}

TEST_F(PaeWalk, NotPresentAndReserved)
{
    EXPECT_EQ(translate(0x40000000), -BATON_ENOENT); // PDPTE 1 is empty
    ram_.set64(PAE_CR3 + 3 * 8, PAE_PD | P | RW); // PDPTEs have no R/W bit: reserved
    EXPECT_EQ(translate(PAE_LINEAR), -BATON_EINVAL);
    ram_.set64(PAE_CR3 + 3 * 8, PAE_PD | P | PS); // nor large pages
    EXPECT_EQ(translate(PAE_LINEAR), -BATON_EINVAL);
    SetUp();
    ram_.set64(PAE_PT + index64(PAE_LINEAR, 1) * 8, 0x00abc000 | P | (u64{1} << 52)); // 62:M reserved in PAE
    EXPECT_EQ(translate(PAE_LINEAR), -BATON_EINVAL);
    ram_.set64(PAE_PT + index64(PAE_LINEAR, 1) * 8, 0x00abc000 | P);
    ram_.set64(PAE_PD + index64(PAE_LINEAR, 2) * 8, 0);
    EXPECT_EQ(translate(PAE_LINEAR), -BATON_ENOENT);
}

TEST_F(PaeWalk, NoExecuteAndAddressWidth)
{
    ram_.set64(PAE_PT + index64(PAE_LINEAR, 1) * 8, 0x00abc000 | P | XD);
    EXPECT_EQ(translate(PAE_LINEAR, READ), 0);
    EXPECT_EQ(translate(PAE_LINEAR, FETCH), -BATON_EPERM);
    paging_.efer = 0;
    EXPECT_EQ(translate(PAE_LINEAR, READ), -BATON_EINVAL); // XD without NXE
    EXPECT_EQ(translate(u64{1} << 32), -BATON_EINVAL); // 32-bit linear addresses
}

// ---- 32-bit paging -------------------------------------------------------------------

constexpr u64 PD32 = 0x8000;
constexpr u64 PT32 = 0x9000;
constexpr u64 LINEAR32 = 0xc0001abc; // PDE 0x300, PTE 1
constexpr u64 pde32(u64 linear) { return PD32 + (linear >> 22) * 4; }
constexpr u64 pte32(u64 table, u64 linear) { return table + ((linear >> 12) & 1023) * 4; }

class Legacy32Walk : public ::testing::Test {
protected:
    void SetUp() override
    {
        ram_.set32(pde32(LINEAR32), static_cast<u32>(PT32 | TABLE));
        ram_.set32(pte32(PT32, LINEAR32), 0x00345000 | P | RW);
    }
    int translate(u64 linear, GuestAccess access = READ)
    {
        gpa_ = ~u64{0};
        return guest_translate(paging_, linear, access, ram_, &gpa_);
    }

    FakeRam ram_;
    GuestPaging paging_{CR0_PE | CR0_PG, PD32, 0, 0};
    u64 gpa_ = 0;
};

TEST_F(Legacy32Walk, FourKibPage)
{
    ASSERT_EQ(translate(LINEAR32), 0);
    EXPECT_EQ(gpa_, 0x00345abcu);
    EXPECT_EQ(ram_.reads, 2u);
}

// Entries are 4 bytes: neighbours share a qword and each must come from its own half.
TEST_F(Legacy32Walk, NeighbouringEntriesShareAQword)
{
    const u64 next = LINEAR32 + 0x400000; // PDE 0x301: the upper half of the same qword
    ram_.set32(pde32(next), static_cast<u32>(0xa000 | TABLE));
    ram_.set32(pte32(0xa000, next), 0x00777000 | P);
    ram_.set32(pte32(PT32, LINEAR32 - 0x1000), 0x00666000 | P); // PTE 0: the lower half
    ASSERT_EQ(translate(next), 0);
    EXPECT_EQ(gpa_, 0x00777abcu);
    ASSERT_EQ(translate(LINEAR32), 0);
    EXPECT_EQ(gpa_, 0x00345abcu);
    ASSERT_EQ(translate(LINEAR32 - 0x1000), 0);
    EXPECT_EQ(gpa_, 0x00666abcu);
}

TEST_F(Legacy32Walk, FourMibPages)
{
    ram_.set32(pde32(LINEAR32), static_cast<u32>(0x00c00000 | P | RW | PS));
    paging_.cr4 = CR4_PSE;
    ASSERT_EQ(translate(LINEAR32), 0);
    EXPECT_EQ(gpa_, 0x00c01abcu);
    EXPECT_EQ(ram_.reads, 1u);
    // Without CR4.PSE the PS bit is ignored: the entry points at a page table.
    paging_.cr4 = 0;
    ram_.set32(pte32(0x00c00000, LINEAR32), 0x00555000 | P);
    ASSERT_EQ(translate(LINEAR32), 0);
    EXPECT_EQ(gpa_, 0x00555abcu);
}

TEST_F(Legacy32Walk, Pse36)
{
    paging_.cr4 = CR4_PSE;
    ram_.set32(pde32(LINEAR32), static_cast<u32>(0x00c00000 | (0x3 << 13) | P | PS)); // bits 33:32 = 3
    ASSERT_EQ(translate(LINEAR32), 0);
    EXPECT_EQ(gpa_, 0x300c01abcu);
    paging_.phys_addr_bits = 33; // bit 33 is beyond MAXPHYADDR
    EXPECT_EQ(translate(LINEAR32), -BATON_EINVAL);
    paging_.phys_addr_bits = 52;
    ram_.set32(pde32(LINEAR32), static_cast<u32>(0x00c00000 | (1 << 21) | P | PS)); // reserved
    EXPECT_EQ(translate(LINEAR32), -BATON_EINVAL);
}

TEST_F(Legacy32Walk, NotPresentAndRights)
{
    EXPECT_EQ(translate(0x00400000), -BATON_ENOENT); // empty PDE
    EXPECT_EQ(translate(LINEAR32 + 0x1000), -BATON_ENOENT); // empty PTE
    EXPECT_EQ(translate(LINEAR32, USER_READ), -BATON_EPERM);
    EXPECT_EQ(translate(LINEAR32, FETCH), 0); // no XD in 32-bit paging
    EXPECT_EQ(translate(u64{1} << 32), -BATON_EINVAL);
}

// ---- no paging -----------------------------------------------------------------------

TEST(GuestWalk, PagingOffIsIdentity)
{
    FakeRam ram;
    const GuestPaging off{CR0_PE, 0x1000, CR4_PAE, 0};
    u64 gpa = 0;
    ASSERT_EQ(guest_translate(off, 0xfee00300, WRITE, ram, &gpa), 0);
    EXPECT_EQ(gpa, 0xfee00300u);
    ASSERT_EQ(guest_translate(off, 0xffff0, USER_FETCH, ram, &gpa), 0);
    EXPECT_EQ(gpa, 0xffff0u);
    EXPECT_EQ(ram.reads, 0u);
    EXPECT_EQ(guest_translate(off, u64{1} << 32, READ, ram, &gpa), -BATON_EINVAL);
}

} // namespace
