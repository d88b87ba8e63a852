// SPDX-License-Identifier: MIT
// Unit tests for AMD-Vi: the IVRS parser on hand-built tables, device table entries,
// commands, events, the device table and IO page tables in the AMD-Vi format.
#include "abi/errno.h"
#include "arch/x86_64/iommu/amdvi_format.hpp"
#include "arch/x86_64/iommu/ivrs.hpp"
#include "arch/x86_64/iommu/vtd_format.hpp"
#include "arch/x86_64/iommu/vtd_walk.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <set>
#include <vector>

namespace {

using Bytes = std::vector<u8>;

void put16(Bytes &b, usize at, u16 v) { b[at] = static_cast<u8>(v), b[at + 1] = static_cast<u8>(v >> 8); }
void put64(Bytes &b, usize at, u64 v)
{
    for (unsigned i = 0; i < 8; i++)
        b[at + i] = static_cast<u8>(v >> (8 * i));
}

Bytes entry4(u8 type, u16 id) { return {type, static_cast<u8>(id), static_cast<u8>(id >> 8), 0}; }
Bytes entry8(u8 type, u16 id, u16 other = 0, u8 last = 0)
{
    return {type, static_cast<u8>(id),    static_cast<u8>(id >> 8),    0,
            0,    static_cast<u8>(other), static_cast<u8>(other >> 8), last};
}

// An IVHD of `type` for the unit at `base`, with `entries` after its fixed part.
Bytes ivhd(u8 type, u64 base, std::vector<Bytes> entries, u16 iommu_id = 0x18)
{
    Bytes b(type == 0x10 ? 24 : 40, 0);
    b[0] = type;
    put16(b, 4, iommu_id);
    put16(b, 6, 0x40);
    put64(b, 8, base);
    for (const Bytes &e : entries)
        b.insert(b.end(), e.begin(), e.end());
    put16(b, 2, static_cast<u16>(b.size()));
    return b;
}

Bytes ivrs_table(std::vector<Bytes> blocks)
{
    Bytes b(48, 0);
    b[0] = 'I', b[1] = 'V', b[2] = 'R', b[3] = 'S';
    b[36] = 0x00, b[37] = 0x28; // IVinfo as QEMU gives it
    for (const Bytes &block : blocks)
        b.insert(b.end(), block.begin(), block.end());
    return b;
}

int parse(const Bytes &table, ivrs::Info &info)
{
    char why[160] = "";
    const int result = ivrs::parse(table.data(), table.size(), info, why, sizeof(why));
    if (result != 0) {
        EXPECT_NE(why[0], '\0') << "a refusal says why";
    }
    return result;
}

} // namespace

TEST(IommuIvrs, QemuLikeTableGivesOneUnitCoveringItsDevices)
{
    // QEMU 7.2: one IVHD 0x10 at 0xfed80000 naming each bus-0 function by a select entry.
    std::vector<Bytes> entries;
    for (u16 id : {0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0xf8, 0xfa, 0xfb})
        entries.push_back(entry4(0x02, id));
    ivrs::Info info;
    ASSERT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, entries)}), info), 0);
    ASSERT_EQ(info.unit_count, 1u);
    const ivrs::Unit &unit = info.units[0];
    EXPECT_EQ(unit.register_base, 0xfed80000u);
    EXPECT_EQ(unit.device_id, 0x18);
    EXPECT_EQ(unit.capability_offset, 0x40);
    EXPECT_EQ(unit.range_count, 9u);
    EXPECT_EQ(info.iv_info, 0x2800u);
    EXPECT_EQ(ivrs::unit_for(info, 0, 0x20), &unit);
    EXPECT_EQ(ivrs::unit_for(info, 0, 0x30), nullptr) << "a device no entry names";
    EXPECT_EQ(ivrs::unit_for(info, 1, 0x20), nullptr) << "another segment";
}

TEST(IommuIvrs, RangesAliasesSpecialsAndTheHighestIvhdType)
{
    const Bytes hid = [] {
        Bytes e(22, 0);
        e[0] = 0xf0;
        e[21] = 3; // a 3-byte UID follows
        e.insert(e.end(), {'A', 'B', 'C'});
        return e;
    }();
    const Bytes efr_block =
        ivhd(0x40, 0xfed80000,
             {entry4(0x03, 0x0100), entry4(0x04, 0x01ff), entry8(0x43, 0x0200, 0x0300), entry4(0x04, 0x020f),
              entry8(0x42, 0x0400, 0x0401), entry8(0x48, 0, 0x00a0, 1), hid, entry4(0x00, 0), entry8(0x46, 0x0500)});
    const Bytes legacy = ivhd(0x10, 0xfed80000, {entry4(0x01, 0)});
    ivrs::Info info;
    ASSERT_EQ(parse(ivrs_table({legacy, efr_block}), info), 0);
    ASSERT_EQ(info.unit_count, 1u) << "the 0x10 block describes the same unit";
    EXPECT_EQ(info.superseded, 1u);
    const ivrs::Unit &unit = info.units[0];
    EXPECT_EQ(unit.type, ivrs::BlockType::ivhd_acpi);
    ASSERT_EQ(unit.range_count, 4u);
    EXPECT_TRUE(unit.covers(0x0180));
    EXPECT_FALSE(unit.covers(0x0210));
    EXPECT_TRUE(unit.ranges[1].aliased);
    EXPECT_EQ(unit.ranges[1].alias, 0x0300);
    EXPECT_EQ(unit.ranges[2].alias, 0x0401);
    EXPECT_TRUE(unit.covers(0x0500));
    ASSERT_EQ(unit.special_count, 1u);
    EXPECT_EQ(unit.specials[0].variety, ivrs::SpecialVariety::ioapic);
    EXPECT_EQ(unit.specials[0].source, 0x00a0);
    EXPECT_EQ(unit.hid_entries, 1u);

    ASSERT_EQ(parse(ivrs_table({ivhd(0x11, 0xfed80000, {entry4(0x01, 0)})}), info), 0);
    EXPECT_TRUE(info.units[0].covers(0xffff)) << "'all' covers every id";
}

TEST(IommuIvrs, MemoryDefinitionsAreKept)
{
    Bytes ivmd(32, 0);
    ivmd[0] = 0x21;
    put16(ivmd, 2, 32);
    put16(ivmd, 4, 0x00a0);
    put64(ivmd, 16, 0x9f000);
    put64(ivmd, 24, 0x1000);
    ivrs::Info info;
    ASSERT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {entry4(0x01, 0)}), ivmd}), info), 0);
    ASSERT_EQ(info.memory_count, 1u);
    EXPECT_EQ(info.memory[0].first, 0x00a0);
    EXPECT_EQ(info.memory[0].start, 0x9f000u);
}

TEST(IommuIvrs, MalformedTablesAreRefused)
{
    ivrs::Info info;
    EXPECT_EQ(parse(Bytes(20, 0), info), -BATON_EINVAL) << "shorter than the header";
    EXPECT_EQ(parse(ivrs_table({}), info), -BATON_EINVAL) << "no IOMMU at all";
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0, {})}), info), -BATON_EINVAL) << "zero register base";
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed81000, {})}), info), -BATON_EINVAL) << "not 16 KiB aligned";
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {}), ivhd(0x10, 0xfed80000, {})}), info), -BATON_EINVAL)
        << "the same unit twice";

    Bytes block = ivhd(0x10, 0xfed80000, {entry4(0x02, 0x18)});
    put16(block, 2, static_cast<u16>(block.size() + 4));
    EXPECT_EQ(parse(ivrs_table({block}), info), -BATON_EINVAL) << "block longer than the table";
    put16(block, 2, 2);
    EXPECT_EQ(parse(ivrs_table({block}), info), -BATON_EINVAL) << "block shorter than its header";
    put16(block, 2, 20);
    EXPECT_EQ(parse(ivrs_table({block}), info), -BATON_EINVAL) << "IVHD shorter than its fixed part";

    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {entry4(0x03, 0x10)})}), info), -BATON_EINVAL)
        << "a range that never ends";
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {entry4(0x03, 0x10), entry4(0x02, 0x18)})}), info),
              -BATON_EINVAL)
        << "a range start followed by something else";
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {entry4(0x04, 0x10)})}), info), -BATON_EINVAL)
        << "an end without a start";
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {entry4(0x03, 0x20), entry4(0x04, 0x10)})}), info),
              -BATON_EINVAL)
        << "an end below its start";
    Bytes cut = entry8(0x42, 0x18);
    cut.resize(6); // an 8-byte entry cut short by the block's end
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {cut})}), info), -BATON_EINVAL);
    Bytes hid(22, 0);
    hid[0] = 0xf0;
    hid[21] = 200; // a UID longer than what is left
    EXPECT_EQ(parse(ivrs_table({ivhd(0x40, 0xfed80000, {hid})}), info), -BATON_EINVAL);
    EXPECT_EQ(parse(ivrs_table({ivhd(0x40, 0xfed80000, {entry8(0x80, 0)})}), info), -BATON_EINVAL)
        << "a variable-length type we cannot size";

    std::vector<Bytes> many;
    for (u64 i = 0; i <= ivrs::MAX_UNITS; i++)
        many.push_back(ivhd(0x10, 0xfed80000 + i * 0x4000, {}));
    EXPECT_EQ(parse(ivrs_table(many), info), -BATON_E2BIG);

    Bytes ivmd(32, 0);
    ivmd[0] = 0x22;
    put16(ivmd, 2, 32);
    put16(ivmd, 4, 0x20);
    put16(ivmd, 6, 0x10); // last below first
    put64(ivmd, 24, 0x1000);
    EXPECT_EQ(parse(ivrs_table({ivhd(0x10, 0xfed80000, {}), ivmd}), info), -BATON_EINVAL);
}

TEST(IommuAmdViFormat, DeviceEntriesBlockOrTranslate)
{
    using namespace amdvi;
    const DeviceEntry blocked = blocked_entry();
    EXPECT_EQ(blocked.words[0], 0x3u) << "V=1 TV=1, Mode 0, IR=IW=0";
    EXPECT_TRUE(entry_blocks(blocked));
    EXPECT_FALSE(entry_translates(blocked));
    EXPECT_FALSE(entry_blocks(DeviceEntry{})) << "V=0 passes DMA through untranslated";

    const DeviceEntry translated = translated_entry(0x1234000, 4, 7);
    EXPECT_EQ(translated.words[0], 0x6000000001234803u) << "IW IR | root | Mode 4 | TV V";
    EXPECT_EQ(translated.words[1], 7u);
    EXPECT_TRUE(entry_translates(translated));
    EXPECT_FALSE(entry_blocks(translated));
    EXPECT_EQ(entry_mode(translated), 4u);
    EXPECT_EQ(entry_table(translated), 0x1234000u);
    EXPECT_EQ(entry_domain(translated), 7);
    EXPECT_EQ(device_table_register(0x5000000), 0x5000001u) << "two pages: size field 1";
    EXPECT_EQ(ring_base(0x6000000), 0x0800000006000000u) << "256 entries";
    EXPECT_EQ(next_offset(0xff0), 0u);
}

TEST(IommuAmdViFormat, CommandsAndEvents)
{
    using namespace amdvi;
    EXPECT_EQ(completion_wait(0x123458, 9), (Command{0x1000000000123459u, 9})) << "S=1, opcode 1";
    EXPECT_EQ(invalidate_devtab_entry(0x20), (Command{0x2000000000000020u, 0}));
    EXPECT_EQ(invalidate_domain(5), (Command{0x3000000500000000u, 0x7ffffffffffff001u}));
    EXPECT_EQ(invalidate_page(5, 0x42), (Command{0x3000000500000000u, 0x42000u}));
    EXPECT_EQ(command_opcode(invalidate_all()), 8u);

    // IO_PAGE_FAULT of 00:04.0, a write (RW, flag bit 5) at 0x24c000.
    const Event event = decode_event(u64{2} << 60 | u64{1} << 53 | 0x20, 0x24c000);
    EXPECT_EQ(event.code, EVENT_IO_PAGE_FAULT);
    EXPECT_EQ(event.device, 0x20);
    EXPECT_TRUE(event.write);
    EXPECT_EQ(event.address, 0x24c000u);
    EXPECT_TRUE(event_is_dma(event.code));
    EXPECT_FALSE(event_is_dma(EVENT_ILLEGAL_COMMAND));
    EXPECT_STREQ(event_text(EVENT_IO_PAGE_FAULT), "IO page fault");
}

namespace {

class IommuAmdVi : public MmTest {
protected:
    void SetUp() override { boot(); }
};

} // namespace

TEST_F(IommuAmdVi, TheDeviceTableStartsWithEveryDeviceBlocked)
{
    amdvi::DeviceTable table;
    ASSERT_EQ(table.init(frames_.get()), 0);
    EXPECT_FALSE(frames_->in_bootmem_region(table.phys()));
    for (u64 page = 0; page < amdvi::DEVICE_TABLE_PAGES; page++) {
        const FrameEntry &entry = entry_at(table.phys() + page * PAGE_SIZE);
        EXPECT_EQ(entry.type, FrameType::page_table);
        EXPECT_EQ(entry.owner, OWNER_HYPERVISOR);
        EXPECT_TRUE(entry.has(FRAME_PRESERVED));
    }
    for (u32 id = 0; id < amdvi::DEVICE_TABLE_ENTRIES; id++)
        ASSERT_TRUE(amdvi::entry_blocks(table.get(static_cast<u16>(id)))) << id;
    ASSERT_EQ(table.set(0x20, amdvi::translated_entry(0x9000, 4, 3)), 0);
    EXPECT_TRUE(amdvi::entry_translates(table.get(0x20)));
    ASSERT_EQ(table.set(0x20, amdvi::blocked_entry()), 0);
    EXPECT_EQ(table.get(0x20), amdvi::blocked_entry());
    EXPECT_EQ(table.set(0x100, amdvi::blocked_entry()), -BATON_EINVAL) << "beyond bus 0";
    EXPECT_EQ(table.init(frames_.get()), -BATON_EBUSY);

    amdvi::DeviceTable adopted;
    ASSERT_EQ(adopted.adopt(table.phys()), 0);
    EXPECT_EQ(adopted.get(0x21), amdvi::blocked_entry());
    frames_->free_frames(table.phys(), 1);
}

TEST_F(IommuAmdVi, IoPageTablesInTheAmdFormatTranslateAndWalk)
{
    using io_pte::Format;
    vtd::IoPageTable table;
    ASSERT_EQ(table.init(frames_.get(), 5, 4, Format::amd_vi), 0);
    ASSERT_EQ(table.map(0x100, 0x200, 16, vtd::Access{true, true}), 0);
    ASSERT_EQ(table.map(0x40000, 0x300, 600, vtd::Access{true, false}), 0); // two leaf tables
    const vtd::Translation hit = table.translate(0x105ul << 12 | 0x12);
    EXPECT_TRUE(hit.present);
    EXPECT_EQ(hit.phys, 0x205012u);
    EXPECT_EQ(table.translate(0x40001ul << 12).access, (vtd::Access{true, false}));
    EXPECT_FALSE(table.translate(0x99ul << 12).present);
    EXPECT_EQ(table.mapped_frames(), 616u);

    // The bits the unit reads: the root's entry links a level-3 table with both rights.
    const u64 top = phys_to<u64>(table.root())[0];
    EXPECT_EQ(top & 1, 1u);
    EXPECT_EQ(io_pte::amd_next_level(top), 3u);
    EXPECT_EQ(top >> 61 & 3, 3u);
    u64 walked = 0;
    std::set<u64> frames;
    auto reachable = [&](u64 phys) { return vtd::preserved_table_frame(frames_->table(), phys, 5); };
    ASSERT_TRUE(vtd::for_each_io_table(
        table.root(), 4, reachable,
        [&](u64 phys) {
            walked++;
            frames.insert(phys);
        },
        Format::amd_vi));
    EXPECT_EQ(walked, table.table_frames());
    EXPECT_EQ(frames.size(), walked);

    table.unmap(0x100, 16);
    EXPECT_FALSE(table.translate(0x105ul << 12).present);
    EXPECT_EQ(table.mapped_frames(), 600u);
    table.destroy();
}

TEST(IommuAmdViFormat, LeafAndTableEntriesOfBothFormats)
{
    using io_pte::Format;
    EXPECT_EQ(io_pte::leaf_entry(Format::amd_vi, 0x9000, {true, true}), 0x6000000000009001u);
    EXPECT_EQ(io_pte::leaf_entry(Format::amd_vi, 0x9000, {true, false}), 0x2000000000009001u);
    EXPECT_EQ(io_pte::leaf_entry(Format::amd_vi, 0x9000, {}), 0u);
    EXPECT_EQ(io_pte::table_entry(Format::amd_vi, 0xa000, 2), 0x600000000000a201u) << "NextLevel 1";
    EXPECT_EQ(io_pte::table_entry(Format::vtd, 0xa000, 2), 0xa003u);
    EXPECT_TRUE(io_pte::large_leaf(Format::amd_vi, 0x7e01, 2)) << "NextLevel 7: a large page";
    EXPECT_FALSE(io_pte::large_leaf(Format::amd_vi, 0xa201, 2));
    EXPECT_EQ(io_pte::rights(Format::amd_vi, 0x6000000000009000u), (io_pte::Access{})) << "not present";
}
