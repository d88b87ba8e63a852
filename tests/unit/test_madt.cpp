// SPDX-License-Identifier: MIT
// Unit tests for the MADT parser, on hand-built, truncated and hostile tables.
#include "abi/errno.h"
#include "arch/x86_64/acpi/acpi.hpp"
#include "arch/x86_64/acpi/madt.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <vector>

namespace {

using Bytes = std::vector<u8>;

void put32(Bytes &b, usize at, u32 v)
{
    for (usize i = 0; i < 4; i++)
        b[at + i] = static_cast<u8>(v >> (8 * i));
}
void put64(Bytes &b, usize at, u64 v)
{
    put32(b, at, static_cast<u32>(v)), put32(b, at + 4, static_cast<u32>(v >> 32));
}

Bytes local_apic(u8 uid, u8 apic_id, u32 flags)
{
    Bytes b(8, 0);
    b[0] = 0, b[1] = 8, b[2] = uid, b[3] = apic_id;
    put32(b, 4, flags);
    return b;
}

Bytes local_x2apic(u32 apic_id, u32 flags)
{
    Bytes b(16, 0);
    b[0] = 9, b[1] = 16;
    put32(b, 4, apic_id);
    put32(b, 8, flags);
    return b;
}

Bytes io_apic(u8 id, u32 address)
{
    Bytes b(12, 0);
    b[0] = 1, b[1] = 12, b[2] = id;
    put32(b, 4, address);
    return b;
}

// A MADT: header, local APIC address, flags, then the entries.
Bytes madt_table(u32 lapic, const std::vector<Bytes> &entries)
{
    Bytes b(44, 0);
    std::memcpy(b.data(), "APIC", 4);
    put32(b, 36, lapic);
    put32(b, 40, madt::FLAG_PCAT_COMPAT);
    for (const Bytes &e : entries)
        b.insert(b.end(), e.begin(), e.end());
    put32(b, 4, static_cast<u32>(b.size()));
    return b;
}

int parse(const Bytes &b, madt::Info &info, char (&why)[160])
{
    why[0] = '\0';
    return madt::parse(b.data(), b.size(), info, why, sizeof(why));
}

TEST(Madt, ListsEnabledAndOnlineCapableProcessorsInOrder)
{
    Bytes b = madt_table(0xfee00000, {local_apic(0, 0, madt::PROCESSOR_ENABLED), io_apic(0, 0xfec00000),
                                      local_apic(1, 2, madt::PROCESSOR_ENABLED), local_apic(2, 4, 0),
                                      local_apic(3, 6, madt::PROCESSOR_ONLINE_CAPABLE)});
    madt::Info info;
    char why[160];
    ASSERT_EQ(parse(b, info, why), 0) << why;
    EXPECT_EQ(info.local_apic_address, 0xfee00000u);
    EXPECT_EQ(info.flags, madt::FLAG_PCAT_COMPAT);
    ASSERT_EQ(info.processor_count, 3u);
    EXPECT_EQ(info.apic_ids[0], 0u);
    EXPECT_EQ(info.apic_ids[1], 2u);
    EXPECT_EQ(info.apic_ids[2], 6u);
    EXPECT_EQ(info.processors_disabled, 1u);
    EXPECT_TRUE(info.has(6));
    EXPECT_FALSE(info.has(4));
}

TEST(Madt, X2apicEntriesAreReadAndDuplicatesKeptOnce)
{
    Bytes b = madt_table(0xfee00000,
                         {local_apic(0, 0, madt::PROCESSOR_ENABLED), local_x2apic(0, madt::PROCESSOR_ENABLED),
                          local_x2apic(7, madt::PROCESSOR_ENABLED), local_x2apic(0x100, madt::PROCESSOR_ENABLED)});
    madt::Info info;
    char why[160];
    ASSERT_EQ(parse(b, info, why), 0) << why;
    ASSERT_EQ(info.processor_count, 2u);
    EXPECT_EQ(info.apic_ids[1], 7u);
    EXPECT_EQ(info.duplicates, 1u);
    EXPECT_EQ(info.processors_unreachable, 1u); // 0x100 needs x2APIC mode
}

TEST(Madt, AddressOverrideWins)
{
    Bytes override_entry(12, 0);
    override_entry[0] = 5, override_entry[1] = 12;
    put64(override_entry, 4, 0x1'0000'0000ull);
    Bytes b = madt_table(0xfee00000, {override_entry, local_apic(0, 0, madt::PROCESSOR_ENABLED)});
    madt::Info info;
    char why[160];
    ASSERT_EQ(parse(b, info, why), 0) << why;
    EXPECT_EQ(info.local_apic_address, 0x1'0000'0000ull);
}

TEST(Madt, MoreProcessorsThanKeptAreCounted)
{
    std::vector<Bytes> entries;
    for (u32 id = 0; id < madt::MAX_PROCESSORS + 5; id++)
        entries.push_back(local_apic(static_cast<u8>(id), static_cast<u8>(id), madt::PROCESSOR_ENABLED));
    madt::Info info;
    char why[160];
    ASSERT_EQ(parse(madt_table(0xfee00000, entries), info, why), 0) << why;
    EXPECT_EQ(info.processor_count, madt::MAX_PROCESSORS);
    EXPECT_EQ(info.processors_dropped, 5u);
}

TEST(Madt, RefusesShortTablesAndBadEntries)
{
    madt::Info info;
    char why[160];
    const Bytes good = madt_table(0xfee00000, {local_apic(0, 0, 1), local_apic(1, 1, 1)});
    // Every truncation that cuts an entry is refused, never read past.
    for (usize cut = 1; cut < good.size() - 44; cut++) {
        Bytes shorter(good.begin(), good.end() - static_cast<long>(cut));
        if ((shorter.size() - 44) % 8 == 0)
            continue; // whole entries: a valid, shorter table
        EXPECT_EQ(parse(shorter, info, why), -BATON_EINVAL) << cut;
    }
    EXPECT_EQ(madt::parse(good.data(), 43, info, why, sizeof(why)), -BATON_EINVAL);
    EXPECT_NE(std::strstr(why, "at least 44"), nullptr) << why;
    EXPECT_EQ(madt::parse(nullptr, 0, info, why, sizeof(why)), -BATON_EINVAL);

    Bytes zero_length = good;
    zero_length[44 + 1] = 0; // an entry of length 0 would loop forever
    EXPECT_EQ(parse(zero_length, info, why), -BATON_EINVAL);
    EXPECT_NE(std::strstr(why, "bad length 0"), nullptr) << why;

    Bytes short_entry = madt_table(0xfee00000, {Bytes{0, 4, 0, 0}});
    EXPECT_EQ(parse(short_entry, info, why), -BATON_EINVAL);
    EXPECT_NE(std::strstr(why, "at least 8"), nullptr) << why;

    Bytes short_x2apic = madt_table(0xfee00000, {Bytes{9, 8, 0, 0, 1, 0, 0, 0}});
    EXPECT_EQ(parse(short_x2apic, info, why), -BATON_EINVAL);
}

TEST(Madt, RefusesABadLocalApicAddress)
{
    madt::Info info;
    char why[160];
    EXPECT_EQ(parse(madt_table(0, {local_apic(0, 0, 1)}), info, why), -BATON_EINVAL);
    EXPECT_EQ(parse(madt_table(0xfee00800, {local_apic(0, 0, 1)}), info, why), -BATON_EINVAL);
    EXPECT_NE(std::strstr(why, "0xfee00800"), nullptr) << why;
}

TEST(Madt, UnknownEntriesAreSkipped)
{
    madt::Info info;
    char why[160];
    Bytes unknown{0x7f, 6, 1, 2, 3, 4};
    ASSERT_EQ(parse(madt_table(0xfee00000, {unknown, local_apic(0, 3, 1)}), info, why), 0) << why;
    EXPECT_EQ(info.processor_count, 1u);
    EXPECT_EQ(info.apic_ids[0], 3u);
}

} // namespace
