// SPDX-License-Identifier: MIT
// The MP table: what a kernel's parser checks (signatures, checksums, lengths) and the wiring.
#include "arch/x86_64/platform/mp_table.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <vector>

namespace {

u8 sum(const std::vector<u8> &bytes, usize first, usize length)
{
    u8 total = 0;
    for (usize i = first; i < first + length; i++)
        total = static_cast<u8>(total + bytes[i]);
    return total;
}

u32 le32(const std::vector<u8> &bytes, usize at)
{
    return u32{bytes[at]} | u32{bytes[at + 1]} << 8 | u32{bytes[at + 2]} << 16 | u32{bytes[at + 3]} << 24;
}

u16 le16(const std::vector<u8> &bytes, usize at) { return static_cast<u16>(bytes[at] | bytes[at + 1] << 8); }

struct Built {
    std::vector<u8> bytes;
    usize size = 0;
};

Built build(const mp_table::Config &config, u64 gpa = 0xf0000)
{
    Built built;
    built.bytes.assign(1024, 0xcc);
    built.size = mp_table::build(config, gpa, built.bytes.data(), built.bytes.size());
    return built;
}

} // namespace

TEST(PlatformMpTable, FloatingPointerAndHeaderPassTheChecksAKernelMakes)
{
    const Built t = build({});
    ASSERT_EQ(t.size, mp_table::size_for(1));
    EXPECT_EQ(std::memcmp(t.bytes.data(), "_MP_", 4), 0);
    EXPECT_EQ(le32(t.bytes, 4), 0xf0010u) << "the table follows the pointer";
    EXPECT_EQ(t.bytes[8], 1) << "length in 16-byte units";
    EXPECT_EQ(t.bytes[9], 4) << "spec 1.4";
    EXPECT_EQ(sum(t.bytes, 0, 16), 0);
    EXPECT_EQ(t.bytes[11], 0) << "feature byte 1: a configuration table, no default configuration";

    EXPECT_EQ(std::memcmp(t.bytes.data() + 16, "PCMP", 4), 0);
    const u16 length = le16(t.bytes, 16 + 4);
    EXPECT_EQ(16u + length, t.size);
    EXPECT_EQ(sum(t.bytes, 16, length), 0);
    EXPECT_EQ(le32(t.bytes, 16 + 36), 0xfee00000u) << "local APIC address";
    EXPECT_EQ(t.bytes[t.size], 0xcc) << "nothing written past the size it reports";
}

TEST(PlatformMpTable, EntriesDescribeCpusIoApicAndTheIsaWiring)
{
    mp_table::Config config;
    config.cpu_count = 2;
    const Built t = build(config);
    ASSERT_EQ(t.size, mp_table::size_for(2));
    const u16 entries = le16(t.bytes, 16 + 34);
    usize at = 16 + 44;
    int processors = 0, buses = 0, ioapics = 0, local = 0;
    u8 ioapic_id = 0xff;
    std::vector<std::pair<u8, u8>> isa; // (irq, pin)
    bool extint_on_pin0 = false;
    for (u16 i = 0; i < entries; i++) {
        switch (t.bytes[at]) {
        case 0:
            EXPECT_EQ(t.bytes[at + 1], processors) << "APIC ids in order";
            EXPECT_EQ((t.bytes[at + 3] & 2) != 0, processors == 0) << "only CPU 0 boots";
            EXPECT_TRUE(t.bytes[at + 3] & 1);
            processors++;
            at += 20;
            continue;
        case 1:
            EXPECT_EQ(std::memcmp(t.bytes.data() + at + 2, "ISA   ", 6), 0);
            buses++;
            break;
        case 2:
            ioapic_id = t.bytes[at + 1];
            EXPECT_EQ(le32(t.bytes, at + 4), 0xfec00000u);
            ioapics++;
            break;
        case 3:
            EXPECT_EQ(t.bytes[at + 6], ioapic_id) << "interrupts go to the IO-APIC described before";
            if (t.bytes[at + 1] == 3)
                extint_on_pin0 = t.bytes[at + 7] == 0;
            else
                isa.emplace_back(t.bytes[at + 5], t.bytes[at + 7]);
            break;
        case 4: local++; break;
        default: FAIL() << "unknown entry type " << int{t.bytes[at]};
        }
        at += 8;
    }
    EXPECT_EQ(at, t.size);
    EXPECT_EQ(processors, 2);
    EXPECT_EQ(buses, 1);
    EXPECT_EQ(ioapics, 1);
    EXPECT_EQ(local, 2);
    EXPECT_EQ(ioapic_id, 2) << "the IO-APIC's id follows the CPUs'";
    EXPECT_TRUE(extint_on_pin0);
    ASSERT_EQ(isa.size(), 15u) << "every ISA IRQ but the cascade";
    for (auto [irq, pin] : isa) {
        EXPECT_NE(irq, 2);
        EXPECT_EQ(pin, irq == 0 ? 2 : irq) << "IRQ " << int{irq};
    }
}

TEST(PlatformMpTable, RefusesWhatItCannotDescribe)
{
    std::vector<u8> small(mp_table::size_for(1) - 1);
    EXPECT_EQ(mp_table::build({}, 0xf0000, small.data(), small.size()), 0u);
    std::vector<u8> room(1024);
    EXPECT_EQ(mp_table::build({}, 0xf0008, room.data(), room.size()), 0u) << "misaligned";
    mp_table::Config none;
    none.cpu_count = 0;
    EXPECT_EQ(mp_table::build(none, 0xf0000, room.data(), room.size()), 0u);
    mp_table::Config many;
    many.cpu_count = mp_table::MAX_CPUS + 1;
    EXPECT_EQ(mp_table::build(many, 0xf0000, room.data(), room.size()), 0u);
}
