// SPDX-License-Identifier: MIT
// Unit tests for the VT-d formats: capabilities, entries, fault records and the tables.
#include "abi/errno.h"
#include "arch/x86_64/iommu/vtd_format.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>

using namespace vtd;

TEST(IommuVtdFormat, DecodesQemuCapabilities)
{
    // QEMU 7.2 intel-iommu (FACTS.md): CAP 0xd2008c22260206 with the default 39-bit width.
    const Capabilities caps = decode_capabilities(0xd2008c22260206, 0xf00f5e);
    EXPECT_EQ(caps.sagaw, 0x2);
    EXPECT_EQ(caps.mgaw, 39);
    EXPECT_EQ(caps.fault_record_offset, 0x220u);
    EXPECT_EQ(caps.fault_records, 1u);
    EXPECT_EQ(caps.domain_ids, 65536u);
    EXPECT_EQ(caps.iotlb_offset, 0xf0u);
    EXPECT_FALSE(caps.coherent);
    EXPECT_TRUE(caps.queued_invalidation);
    EXPECT_TRUE(caps.interrupt_remapping);
    EXPECT_EQ(choose_levels(caps.sagaw, 4), 3u) << "only 3-level tables without aw-bits=48";
    EXPECT_EQ(choose_levels(0x6, 4), 4u);
    EXPECT_EQ(choose_levels(0x4, 3), 0u);
    EXPECT_EQ(choose_levels(0x0, 4), 0u);
}

TEST(IommuVtdFormat, GlobalCommandKeepsStateAndDropsOneShotBits)
{
    const u32 status = GLOBAL_TRANSLATION | GLOBAL_ROOT_POINTER | GLOBAL_QUEUED_INVALIDATION | GLOBAL_INTERRUPT_POINTER;
    EXPECT_EQ(global_command(status, 0), GLOBAL_TRANSLATION | GLOBAL_QUEUED_INVALIDATION);
    EXPECT_EQ(global_command(status, GLOBAL_ROOT_POINTER),
              GLOBAL_TRANSLATION | GLOBAL_QUEUED_INVALIDATION | GLOBAL_ROOT_POINTER);
    EXPECT_EQ(global_command(0, GLOBAL_TRANSLATION), GLOBAL_TRANSLATION);
}

TEST(IommuVtdFormat, EntriesAndSourceIds)
{
    const Entry128 root = root_entry(0x1234000);
    EXPECT_EQ(root.low, 0x1234001u);
    EXPECT_EQ(root.high, 0u);
    const Entry128 context = context_entry(0x5678000, 4, 7);
    EXPECT_TRUE(entry_present(context));
    EXPECT_EQ(entry_address(context), 0x5678000u);
    EXPECT_EQ(context.low & 0xc, 0u) << "translation type 00: untranslated requests go through the tables";
    EXPECT_EQ(context.high & 7, 2u) << "AW 2 is 48 bits, 4 levels";
    EXPECT_EQ(context_entry(0x5678000, 3, 7).high & 7, 1u);
    EXPECT_EQ(context_domain(context), 7);
    EXPECT_FALSE(entry_present(Entry128{}));

    EXPECT_EQ(source_id(0, 3, 0), 0x18);
    EXPECT_EQ(source_id(0xab, 0x1f, 7), 0xabff);
    EXPECT_EQ(source_bus(0xabff), 0xab);
    EXPECT_EQ(source_device(0xabff), 0x1f);
    EXPECT_EQ(source_function(0xabff), 7);
}

TEST(IommuVtdFormat, DecodesFaultRecords)
{
    // What QEMU records for edu (00:03.0) writing to 0x24c000 with no context entry.
    const u64 high = FAULT_RECORD_VALID | (u64{0x2} << 32) | 0x18;
    const FaultRecord write = decode_fault_record(0x24c000, high);
    EXPECT_TRUE(write.valid);
    EXPECT_EQ(write.source, 0x18);
    EXPECT_EQ(write.address, 0x24c000u);
    EXPECT_FALSE(write.read);
    EXPECT_EQ(write.reason, 2);
    EXPECT_STREQ(fault_reason_text(write.reason), "context entry not present");
    const FaultRecord read = decode_fault_record(0x24c123, high | (u64{1} << 62));
    EXPECT_TRUE(read.read);
    EXPECT_EQ(read.address, 0x24c000u) << "the record holds a page address";
    EXPECT_FALSE(decode_fault_record(0, 0).valid);
    EXPECT_STREQ(fault_reason_text(0x77), "unknown reason");
    EXPECT_EQ(fault_record_index(0x0302), 3u);
}

TEST(IommuVtdFormat, SecondLevelEntries)
{
    EXPECT_EQ(sl_leaf_entry(0x9000, {true, true}), 0x9003u);
    EXPECT_EQ(sl_leaf_entry(0x9000, {true, false}), 0x9001u);
    EXPECT_EQ(sl_leaf_entry(0x9000, {false, true}), 0x9002u);
    EXPECT_EQ(sl_leaf_entry(0x9000, {}), 0u) << "no right, no entry";
    EXPECT_EQ(sl_table_entry(0xa000), 0xa003u);
    EXPECT_EQ(sl_index(0x12345, 1), 0x145u);
    EXPECT_EQ(sl_index(0x12345, 2), 0x91u);
}

namespace {

class IommuVtdTables : public MmTest {
protected:
    void SetUp() override
    {
        boot();
        preserved_free_ = frames_->free_frame_count(MemClass::preserved);
    }
    void TearDown() override
    {
        EXPECT_EQ(frames_->free_frame_count(MemClass::preserved), preserved_free_) << "every table frame came back";
    }
    // Table frames are preserved page_table frames outside the bootmem region.
    void expect_preserved_table(u64 phys, frame_owner_t owner)
    {
        const FrameEntry &entry = entry_at(phys);
        EXPECT_EQ(entry.type, FrameType::page_table);
        EXPECT_TRUE(entry.has(FRAME_PRESERVED));
        EXPECT_EQ(entry.owner, owner);
        EXPECT_FALSE(frames_->in_bootmem_region(phys));
    }

    u64 preserved_free_ = 0;
};

} // namespace

TEST_F(IommuVtdTables, ContextTablesStartBlockedAndLiveInPreservedFrames)
{
    ContextTables tables;
    ASSERT_EQ(tables.init(frames_.get()), 0);
    EXPECT_EQ(tables.init(frames_.get()), -BATON_EBUSY);
    expect_preserved_table(tables.root(), OWNER_HYPERVISOR);
    EXPECT_FALSE(tables.has_bus(0));
    EXPECT_EQ(tables.set_context(0, 0x18, context_entry(0x1000, 4, 1)), -BATON_ENOENT);

    ASSERT_EQ(tables.add_bus(0), 0);
    ASSERT_EQ(tables.add_bus(0), 0) << "adding a bus twice is harmless";
    EXPECT_EQ(tables.table_frames(), 2u);
    const u64 context_table = tables.context_table(0);
    expect_preserved_table(context_table, OWNER_HYPERVISOR);
    const u64 *root = phys_to<u64>(tables.root());
    EXPECT_EQ(root[0], context_table | 1);
    EXPECT_EQ(root[1], 0u);
    for (unsigned devfn = 0; devfn < CONTEXT_ENTRIES; devfn++)
        EXPECT_FALSE(entry_present(tables.context(0, static_cast<u8>(devfn))));

    const Entry128 entry = context_entry(0x7000, 4, 3);
    ASSERT_EQ(tables.set_context(0, 0x18, entry), 0);
    EXPECT_EQ(tables.context(0, 0x18), entry);
    EXPECT_EQ(phys_to<u64>(context_table)[2 * 0x18], entry.low);
    ASSERT_EQ(tables.set_context(0, 0x18, Entry128{}), 0);
    EXPECT_FALSE(entry_present(tables.context(0, 0x18)));
    EXPECT_EQ(tables.context(7, 0), Entry128{}) << "a bus without a table has no entries";
    tables.destroy();
    EXPECT_FALSE(tables.ready());
}

TEST_F(IommuVtdTables, IoPageTableMapsRangesWithRights)
{
    IoPageTable table;
    EXPECT_EQ(table.init(frames_.get(), 4, 5), -BATON_EINVAL);
    ASSERT_EQ(table.init(frames_.get(), 4, 4), 0);
    expect_preserved_table(table.root(), 4);
    // Guest RAM at IO 0-2 MiB+8 KiB, read-write; a read-only page elsewhere; above 4 GiB.
    ASSERT_EQ(table.map(0, 0x10000, 514, {true, true}), 0);
    ASSERT_EQ(table.map(0x80000, 0x20000, 1, {true, false}), 0);
    ASSERT_EQ(table.map(0x100000, 0x30000, 1, {true, true}), 0);
    EXPECT_EQ(table.mapped_frames(), 516u);
    // root, one level-3 table for 0-512 GiB, level-2 and leaf tables: 0-2 MiB, 2-4 MiB,
    // 2 GiB (0x80000 frames), and 4 GiB in a new 1 GiB region.
    EXPECT_EQ(table.table_frames(), 1u + 1 + 2 + 2 + 1 + 1 + 1);

    Translation t = table.translate(0x1234);
    EXPECT_TRUE(t.present);
    EXPECT_EQ(t.phys, 0x10001234u);
    EXPECT_EQ(t.access, (Access{true, true}));
    t = table.translate(513 * PAGE_SIZE + 8);
    EXPECT_EQ(t.phys, frame_to_addr(0x10000 + 513) + 8);
    t = table.translate(0x80000ul << PAGE_SHIFT);
    EXPECT_EQ(t.access, (Access{true, false}));
    EXPECT_EQ(t.phys, 0x20000000u);
    EXPECT_TRUE(table.translate(0x100000ul << PAGE_SHIFT).present);
    EXPECT_FALSE(table.translate(514 * PAGE_SIZE).present);
    EXPECT_FALSE(table.translate(u64{1} << 48).present) << "beyond four levels";

    table.unmap(1, 512);
    EXPECT_TRUE(table.translate(0).present);
    EXPECT_FALSE(table.translate(PAGE_SIZE).present);
    EXPECT_TRUE(table.translate(513 * PAGE_SIZE).present);
    EXPECT_EQ(table.mapped_frames(), 4u);
    table.unmap(0, u64{1} << 40); // a huge range skips the missing tables
    EXPECT_EQ(table.mapped_frames(), 0u);
    table.destroy();
}

TEST_F(IommuVtdTables, IoPageTableRefusesRangesOutsideItsWidth)
{
    IoPageTable table;
    ASSERT_EQ(table.init(frames_.get(), 4, 3), 0);
    EXPECT_EQ(table.frame_limit(), u64{1} << 27) << "three levels: 39-bit IO addresses";
    EXPECT_EQ(table.map(table.frame_limit() - 1, 0x10000, 2, {true, true}), -BATON_EINVAL);
    EXPECT_EQ(table.map(~u64{0}, 0x10000, 2, {true, true}), -BATON_EINVAL);
    EXPECT_EQ(table.map(0, u64{1} << 40, 1, {true, true}), -BATON_EINVAL) << "machine frame beyond 52 bits";
    ASSERT_EQ(table.map(table.frame_limit() - 1, 0x10000, 1, {false, true}), 0);
    EXPECT_EQ(table.translate((table.frame_limit() - 1) << PAGE_SHIFT).access, (Access{false, true}));
    EXPECT_EQ(table.mapped_frames(), 1u);
    table.destroy();
}
