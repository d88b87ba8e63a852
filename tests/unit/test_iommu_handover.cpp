// SPDX-License-Identifier: MIT
// Host tests of the IOMMU handover's table walks and adoption: what a live update
// describes in the record and what the next image takes over.
#include "arch/x86_64/iommu/io_mapper.hpp"
#include "arch/x86_64/iommu/vtd_walk.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <set>

using namespace vtd;

namespace {

class IommuHandover : public MmTest {
protected:
    void SetUp() override { boot(); }
    bool preserved_table_of(u64 phys, frame_owner_t owner)
    {
        return preserved_table_frame(frames_->table(), phys, owner);
    }
};

} // namespace

TEST_F(IommuHandover, TheContextWalkFindsEveryContextTableOnce)
{
    ContextTables tables;
    ASSERT_EQ(tables.init(frames_.get()), 0);
    for (u8 bus : {u8{0}, u8{3}, u8{0x80}})
        ASSERT_EQ(tables.add_bus(bus), 0);
    std::set<u64> seen;
    std::set<u8> buses;
    auto reachable = [&](u64 phys) { return preserved_table_of(phys, OWNER_HYPERVISOR); };
    ASSERT_TRUE(for_each_context_table(tables.root(), reachable, [&](u8 bus, u64 phys) {
        buses.insert(bus);
        seen.insert(phys);
    }));
    EXPECT_EQ(buses, (std::set<u8>{0, 3, 0x80}));
    EXPECT_EQ(seen.size() + 1, tables.table_frames()) << "the root and one table per bus";
    EXPECT_TRUE(seen.count(tables.context_table(3)));
    tables.destroy();
}

TEST_F(IommuHandover, TheIoTableWalkCountsEveryTableFrame)
{
    IoPageTable table;
    ASSERT_EQ(table.init(frames_.get(), 5, 4), 0);
    ASSERT_EQ(table.map(0x100, 0x200, 16, Access{true, true}), 0);
    ASSERT_EQ(table.map(0x40000, 0x300, 600, Access{true, false}), 0); // spans two leaf tables
    u64 walked = 0;
    std::set<u64> frames;
    auto reachable = [&](u64 phys) { return preserved_table_of(phys, 5); };
    ASSERT_TRUE(for_each_io_table(table.root(), 4, reachable, [&](u64 phys) {
        walked++;
        frames.insert(phys);
    }));
    EXPECT_EQ(walked, table.table_frames());
    EXPECT_EQ(frames.size(), walked) << "no frame twice";
    EXPECT_FALSE(for_each_io_table(table.root(), 5, reachable, [](u64) {})) << "only 3 or 4 levels";
    table.destroy();
}

TEST_F(IommuHandover, WalksRefuseTablesThatAreNotTheOwnersPreservedFrames)
{
    IoPageTable table;
    ASSERT_EQ(table.init(frames_.get(), 5, 4), 0);
    ASSERT_EQ(table.map(0x100, 0x200, 1, Access{true, true}), 0);
    auto someone_else = [&](u64 phys) { return preserved_table_of(phys, 6); };
    EXPECT_FALSE(for_each_io_table(table.root(), 4, someone_else, [](u64) {}));
    // A corrupt pointer in the middle of the tree stops the walk there.
    u64 *root = phys_to<u64>(table.root());
    const u64 saved = root[0];
    root[0] = (u64{0x7ff} << 12) | SL_READ | SL_WRITE; // a frame nobody allocated
    auto domain_tables = [&](u64 phys) { return preserved_table_of(phys, 5); };
    EXPECT_FALSE(for_each_io_table(table.root(), 4, domain_tables, [](u64) {}));
    root[0] = saved;
    table.destroy();
}

TEST_F(IommuHandover, AnAdoptedIoTableTranslatesAsBeforeAndIsFreedByItsNewOwner)
{
    const u64 free_before = frames_->free_frame_count(MemClass::preserved);
    u64 root = 0, frames = 0;
    {
        IoPageTable built; // the old image's table
        ASSERT_EQ(built.init(frames_.get(), 5, 4), 0);
        ASSERT_EQ(built.map(0x100, 0x200, 16, Access{true, true}), 0);
        root = built.root();
        frames = built.table_frames();
        // The old image hands it over without freeing it (its object simply ends).
    }
    u64 walked = 0;
    ASSERT_TRUE(for_each_io_table(
        root, 4, [&](u64 phys) { return preserved_table_of(phys, 5); }, [&](u64) { walked++; }));
    ASSERT_EQ(walked, frames);
    IoMapper adopted;
    ASSERT_EQ(adopted.adopt(frames_.get(), 5, 4, root, walked, nullptr), 0);
    EXPECT_EQ(adopted.table().root(), root);
    EXPECT_EQ(adopted.table().table_frames(), frames);
    const Translation hit = adopted.table().translate(0x105ul << 12);
    EXPECT_TRUE(hit.present);
    EXPECT_EQ(hit.phys >> 12, 0x205u);
    EXPECT_EQ(adopted.table().mapped_frames(), 16u);
    adopted.destroy();
    EXPECT_EQ(frames_->free_frame_count(MemClass::preserved), free_before) << "the new owner frees every frame";
}
