// SPDX-License-Identifier: MIT
// Unit tests for the IO listener: a domain's VT-d IO page table follows its p2m (RAM only,
// rights from type and access), every change is flushed, log-dirty and devices exclude
// each other, and destroying the p2m blocks the devices before its RAM is freed.
#include "arch/x86_64/iommu/io_mapper.hpp"
#include "host_platform.hpp"
#include "test_p2m_support.hpp"
#include <gtest/gtest.h>
#include <vector>

using namespace p2m_test;

namespace {

constexpr u64 RAM = 1024;
constexpr u64 FAR = u64{1} << 27;

// Allocated frames of `type` owned by the test domain.
u64 count_owned(const FrameTable &table, FrameType type)
{
    u64 count = 0;
    for (u64 frame = 0; table.contains(frame); frame++) {
        const FrameEntry &entry = table[frame];
        count += entry.type == type && entry.owner == p2m_test::DOMAIN && !entry.has(FRAME_FREE_HEAD) ? 1 : 0;
    }
    return count;
}

// Stands in for the units: records invalidations, and on block_devices() checks that the
// domain's RAM is still allocated (the device is blocked before anything is freed).
class FakeUnits final : public vtd::IoInvalidator {
public:
    explicit FakeUnits(FrameAllocator &frames) : frames_(frames) {}
    void invalidate(u64 io_frame, u64 count) override { flushes.push_back({io_frame, count}); }
    void block_devices() override
    {
        blocked++;
        ram_frames_when_blocked = count_owned(frames_.table(), FrameType::guest_ram);
    }
    struct Flush {
        u64 frame, count;
    };
    std::vector<Flush> flushes;
    unsigned blocked = 0;
    u64 ram_frames_when_blocked = 0;

private:
    FrameAllocator &frames_;
};

class P2mIoTest : public P2mTest {
protected:
    void SetUp() override
    {
        P2mTest::SetUp();
        units_ = std::make_unique<FakeUnits>(*frames_);
        ASSERT_EQ(p2m().populate_ram(0, RAM, P2mAccess::rwx), 0);
        ASSERT_EQ(p2m().populate_ram(FAR, 16, P2mAccess::rwx), 0);
        ASSERT_EQ(p2m().map(0xfea00, DEVICE_MFN, 256, P2mType::mmio, P2mAccess::rw), 0);
        ASSERT_EQ(mapper_.init(frames_.get(), p2m_test::DOMAIN, 4, units_.get()), 0);
    }
    void TearDown() override
    {
        if (p2m().ready())
            p2m().destroy();
        mapper_.destroy();
        EXPECT_EQ(all_free(), free_at_start_);
    }

    // The IO table says exactly what p2m_io_rights() of lookup() says, frame by frame.
    void expect_in_step(u64 first, u64 count)
    {
        for (u64 gfn = first; gfn < first + count; gfn++) {
            const P2mEntry entry = p2m().lookup(gfn);
            const IoRights rights = p2m_io_rights(entry.type, entry.access);
            const vtd::Translation io = mapper_.table().translate(frame_to_addr(gfn));
            ASSERT_EQ(io.present, rights.any()) << std::hex << gfn;
            if (!io.present)
                continue;
            ASSERT_EQ(io.phys, frame_to_addr(entry.mfn)) << std::hex << gfn;
            ASSERT_EQ(io.access, (vtd::Access{rights.read, rights.write})) << std::hex << gfn;
        }
    }

    std::unique_ptr<FakeUnits> units_;
    vtd::IoMapper mapper_;
};

} // namespace

TEST(P2mIoRights, RamOnlyWithRightsFromTypeAndAccess)
{
    EXPECT_EQ(p2m_io_rights(P2mType::ram_rw, P2mAccess::rwx), (IoRights{true, true}));
    EXPECT_EQ(p2m_io_rights(P2mType::ram_rw, P2mAccess::rx), (IoRights{true, false}));
    EXPECT_EQ(p2m_io_rights(P2mType::ram_ro, P2mAccess::rwx), (IoRights{true, false}));
    EXPECT_EQ(p2m_io_rights(P2mType::log_dirty, P2mAccess::rw), (IoRights{true, true}));
    EXPECT_EQ(p2m_io_rights(P2mType::ram_rw, P2mAccess::n), (IoRights{}));
    EXPECT_EQ(p2m_io_rights(P2mType::mmio, P2mAccess::rw), (IoRights{})) << "no peer-to-peer DMA";
    EXPECT_EQ(p2m_io_rights(P2mType::mmio_emulated, P2mAccess::rw), (IoRights{}));
    EXPECT_EQ(p2m_io_rights(P2mType::invalid, P2mAccess::rwx), (IoRights{}));
}

TEST_F(P2mIoTest, AttachMapsEveryVisibleRamFrameAndNothingElse)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    EXPECT_TRUE(p2m().io_attached());
    EXPECT_EQ(mapper_.table().mapped_frames(), RAM + 16);
    expect_in_step(0, RAM + 8);
    expect_in_step(FAR - 4, 24);
    EXPECT_FALSE(mapper_.table().translate(0xfea00000).present) << "the BAR is not reachable by DMA";
    ASSERT_EQ(units_->flushes.size(), 1u);
    EXPECT_EQ(units_->flushes[0].count, P2M_IO_ALL);
    EXPECT_EQ(p2m().attach_io(mapper_), -BATON_EBUSY);
}

TEST_F(P2mIoTest, IoTableFramesArePreservedPageTablesOfTheDomainOutsideBootmem)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    const u64 root = addr_to_frame(mapper_.table().root());
    const FrameEntry &entry = frames_->table()[root];
    EXPECT_EQ(entry.type, FrameType::page_table);
    EXPECT_EQ(entry.owner, p2m_test::DOMAIN);
    EXPECT_TRUE(entry.has(FRAME_PRESERVED));
    EXPECT_GE(mapper_.table().table_frames(), 4u + 2u) << "root, and one path per RAM area";
}

TEST_F(P2mIoTest, ExtraPageOverRamAndBackFollowsWithPageFlushes)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    const u64 ram_mfn = p2m().lookup(0x42).mfn;
    const u64 page = extra_page();
    units_->flushes.clear();
    ASSERT_EQ(p2m().map(0x42, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    EXPECT_EQ(mapper_.table().translate(0x42000).phys, frame_to_addr(page)) << "DMA sees what the guest sees";
    expect_in_step(0x40, 4);
    ASSERT_EQ(units_->flushes.size(), 1u);
    EXPECT_EQ(units_->flushes[0].frame, 0x42u);
    EXPECT_EQ(units_->flushes[0].count, 1u);

    ASSERT_EQ(p2m().unmap(0x42, 1), 0);
    EXPECT_EQ(mapper_.table().translate(0x42000).phys, frame_to_addr(ram_mfn));
    expect_in_step(0x40, 4);
    EXPECT_EQ(units_->flushes.size(), 2u);
    frames_->free_frames(frame_to_addr(page), 0);
}

TEST_F(P2mIoTest, MmioOverRamHidesItFromDevicesUntilUnmapped)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    ASSERT_EQ(p2m().map(0x100, DEVICE_MFN, 4, P2mType::mmio, P2mAccess::rw), 0);
    for (u64 gfn = 0x100; gfn < 0x104; gfn++)
        EXPECT_FALSE(mapper_.table().translate(frame_to_addr(gfn)).present) << gfn;
    expect_in_step(0xf0, 0x20);
    ASSERT_EQ(p2m().unmap(0x100, 4), 0);
    expect_in_step(0xf0, 0x20);
    EXPECT_EQ(mapper_.table().mapped_frames(), RAM + 16);
}

TEST_F(P2mIoTest, PopulatingMoreRamMapsItAtOnce)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    ASSERT_EQ(p2m().populate_ram(0x10000, 300, P2mAccess::rw), 0);
    expect_in_step(0x10000 - 2, 304);
    EXPECT_EQ(mapper_.table().mapped_frames(), RAM + 16 + 300);
    EXPECT_EQ(units_->flushes.back().frame, 0x10000u);
    EXPECT_EQ(units_->flushes.back().count, 300u);
}

TEST_F(P2mIoTest, GlobalTypeChangesReachTheIoTableAtOnce)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    units_->flushes.clear();
    ASSERT_EQ(p2m().change_type_global(P2mType::ram_rw, P2mType::ram_ro), 0);
    EXPECT_EQ(mapper_.table().translate(0x5000).access, (vtd::Access{true, false})) << "no lazy path for devices";
    expect_in_step(0, RAM);
    expect_in_step(FAR, 16);
    ASSERT_EQ(units_->flushes.size(), 1u);
    EXPECT_EQ(units_->flushes[0].count, P2M_IO_ALL);

    ASSERT_EQ(p2m().change_type_global(P2mType::ram_ro, P2mType::ram_rw), 0);
    expect_in_step(0, RAM);
    EXPECT_EQ(mapper_.table().translate(0x5000).access, (vtd::Access{true, true}));
}

TEST_F(P2mIoTest, LogDirtyAndDevicesExcludeEachOther)
{
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    EXPECT_EQ(p2m().attach_io(mapper_), -BATON_EBUSY) << "DMA writes would bypass the dirty bitmap";
    EXPECT_FALSE(p2m().io_attached());
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    EXPECT_EQ(p2m().enable_log_dirty(), -BATON_EBUSY);
    EXPECT_FALSE(p2m().log_dirty_enabled());
    p2m().detach_io();
    EXPECT_EQ(p2m().enable_log_dirty(), 0);
    ASSERT_EQ(p2m().disable_log_dirty(), 0);
}

TEST_F(P2mIoTest, DetachStopsFollowing)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    p2m().detach_io();
    const size_t flushes = units_->flushes.size();
    ASSERT_EQ(p2m().populate_ram(0x20000, 8, P2mAccess::rw), 0);
    EXPECT_FALSE(mapper_.table().translate(0x20000000).present);
    EXPECT_EQ(units_->flushes.size(), flushes);
}

TEST_F(P2mIoTest, DestroyBlocksTheDevicesBeforeFreeingRamAndFreesTheIoTable)
{
    ASSERT_EQ(p2m().attach_io(mapper_), 0);
    const u64 ram = count_owned(frames_->table(), FrameType::guest_ram);
    ASSERT_EQ(ram, RAM + 16);
    p2m().destroy();
    EXPECT_EQ(units_->blocked, 1u);
    EXPECT_EQ(units_->ram_frames_when_blocked, ram) << "the devices were blocked while the RAM was still theirs";
    EXPECT_FALSE(mapper_.ready()) << "the IO table went with the p2m";
    EXPECT_EQ(count_owned(frames_->table(), FrameType::page_table), 0u);
}

TEST_F(P2mIoTest, ThreeLevelTablesLeaveFramesBeyondTheirReachUnmapped)
{
    vtd::IoMapper narrow;
    ASSERT_EQ(narrow.init(frames_.get(), p2m_test::DOMAIN, 3, units_.get()), 0);
    ASSERT_EQ(p2m().attach_io(narrow), 0);
    // 39 bits reach frames below 2^27: FAR (exactly 2^27) is out of reach, RAM at 0 is not.
    EXPECT_EQ(narrow.table().mapped_frames(), RAM);
    EXPECT_FALSE(narrow.table().translate(frame_to_addr(FAR)).present);
    p2m().detach_io();
    narrow.destroy();
}
