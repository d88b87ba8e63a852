// SPDX-License-Identifier: MIT
// Unit tests for ACPI discovery and the DMAR parser, on hand-built tables.
#include "abi/errno.h"
#include "arch/x86_64/acpi/acpi.hpp"
#include "arch/x86_64/iommu/dmar.hpp"
#include "test_mm_support.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<u8>;

void put16(Bytes &b, usize at, u16 v) { b[at] = static_cast<u8>(v), b[at + 1] = static_cast<u8>(v >> 8); }
void put32(Bytes &b, usize at, u32 v)
{
    put16(b, at, static_cast<u16>(v)), put16(b, at + 2, static_cast<u16>(v >> 16));
}
void put64(Bytes &b, usize at, u64 v)
{
    put32(b, at, static_cast<u32>(v)), put32(b, at + 4, static_cast<u32>(v >> 32));
}

// Sets byte `at` so that the bytes [0, length) sum to zero.
void fix_checksum(Bytes &b, usize at, usize length)
{
    b[at] = 0;
    u8 sum = 0;
    for (usize i = 0; i < length; i++)
        sum = static_cast<u8>(sum + b[i]);
    b[at] = static_cast<u8>(-sum);
}

// A table with a standard header and `body` after it, checksummed.
Bytes table(const char *signature, const Bytes &body, u8 revision = 1)
{
    Bytes b(acpi::HEADER_SIZE, 0);
    std::memcpy(b.data(), signature, 4);
    b.insert(b.end(), body.begin(), body.end());
    put32(b, 4, static_cast<u32>(b.size()));
    b[8] = revision;
    std::memcpy(&b[10], "BATONT", 6);
    fix_checksum(b, 9, b.size());
    return b;
}

Bytes scope(dmar::ScopeType type, u8 bus, std::vector<std::pair<u8, u8>> path, u8 id = 0)
{
    Bytes b(6, 0);
    b[0] = static_cast<u8>(type);
    b[4] = id;
    b[5] = bus;
    for (auto [device, function] : path)
        b.push_back(device), b.push_back(function);
    b[1] = static_cast<u8>(b.size());
    return b;
}

Bytes drhd(u64 base, u8 flags, u16 segment, const std::vector<Bytes> &scopes = {})
{
    Bytes b(16, 0);
    put16(b, 0, 0);
    b[4] = flags;
    put16(b, 6, segment);
    put64(b, 8, base);
    for (const Bytes &s : scopes)
        b.insert(b.end(), s.begin(), s.end());
    put16(b, 2, static_cast<u16>(b.size()));
    return b;
}

Bytes rmrr(u64 base, u64 limit, const std::vector<Bytes> &scopes = {})
{
    Bytes b(24, 0);
    put16(b, 0, 1);
    put64(b, 8, base);
    put64(b, 16, limit);
    for (const Bytes &s : scopes)
        b.insert(b.end(), s.begin(), s.end());
    put16(b, 2, static_cast<u16>(b.size()));
    return b;
}

Bytes dmar_table(const std::vector<Bytes> &structures, u8 width_field = 47, u8 flags = dmar::FLAG_INTR_REMAP)
{
    Bytes body(12, 0);
    body[0] = width_field;
    body[1] = flags;
    for (const Bytes &s : structures)
        body.insert(body.end(), s.begin(), s.end());
    return table("DMAR", body);
}

// What QEMU's q35 with intel-iommu gives: one unit listing the bus-0 devices.
Bytes qemu_like_dmar()
{
    using dmar::ScopeType;
    return dmar_table(
        {drhd(0xfed90000, 0, 0,
              {scope(ScopeType::ioapic, 0, {{0x1f, 0}}, 0), scope(ScopeType::pci_endpoint, 0, {{0, 0}}),
               scope(ScopeType::pci_endpoint, 0, {{3, 0}}), scope(ScopeType::pci_endpoint, 0, {{0x1f, 2}})})});
}

dmar::Info parse_ok(const Bytes &t)
{
    dmar::Info info;
    char why[160] = "";
    EXPECT_EQ(dmar::parse(t.data(), t.size(), info, why, sizeof(why)), 0) << why;
    return info;
}

std::string parse_error(const Bytes &t, int expected = -BATON_EINVAL)
{
    dmar::Info info;
    char why[160] = "";
    EXPECT_EQ(dmar::parse(t.data(), t.size(), info, why, sizeof(why)), expected);
    return why;
}

} // namespace

TEST(IommuDmar, ParsesQemuLikeTable)
{
    const dmar::Info info = parse_ok(qemu_like_dmar());
    EXPECT_EQ(info.host_address_width, 48);
    EXPECT_EQ(info.flags, dmar::FLAG_INTR_REMAP);
    ASSERT_EQ(info.unit_count, 1u);
    const dmar::RemappingUnit &unit = info.units[0];
    EXPECT_EQ(unit.register_base, 0xfed90000u);
    EXPECT_EQ(unit.segment, 0);
    EXPECT_FALSE(unit.include_pci_all());
    ASSERT_EQ(unit.scope_count, 4u);
    EXPECT_EQ(unit.scopes[0].type, dmar::ScopeType::ioapic);
    EXPECT_TRUE(unit.scopes[2].names(0, 3, 0));
    EXPECT_EQ(unit.register_bytes(), PAGE_SIZE);
    EXPECT_EQ(dmar::unit_for(info, 0, 0, 3, 0), &unit);
    EXPECT_EQ(dmar::unit_for(info, 0, 0, 0x1f, 2), &unit);
    EXPECT_EQ(dmar::unit_for(info, 0, 0, 4, 0), nullptr) << "a device no scope names has no unit";
    EXPECT_EQ(dmar::unit_for(info, 1, 0, 3, 0), nullptr) << "another segment";
}

TEST(IommuDmar, IncludePciAllCatchesWhatNoScopeNames)
{
    using dmar::ScopeType;
    const dmar::Info info = parse_ok(
        dmar_table({drhd(0xfed91000, 0, 0, {scope(ScopeType::pci_endpoint, 0, {{2, 0}})}),
                    drhd(0xfed90000, dmar::DRHD_INCLUDE_PCI_ALL, 0), drhd(0xfed92000, dmar::DRHD_INCLUDE_PCI_ALL, 1)}));
    ASSERT_EQ(info.unit_count, 3u);
    EXPECT_EQ(dmar::unit_for(info, 0, 0, 2, 0), &info.units[0]);
    EXPECT_EQ(dmar::unit_for(info, 0, 0, 3, 0), &info.units[1]);
    EXPECT_EQ(dmar::unit_for(info, 0, 5, 0, 0), &info.units[1]);
    EXPECT_EQ(dmar::unit_for(info, 1, 0, 2, 0), &info.units[2]);
}

TEST(IommuDmar, KeepsRmrrsAndSkipsOtherStructures)
{
    using dmar::ScopeType;
    Bytes atsr(8, 0);
    put16(atsr, 0, 2);
    put16(atsr, 2, 8);
    const dmar::Info info = parse_ok(dmar_table(
        {drhd(0xfed90000, dmar::DRHD_INCLUDE_PCI_ALL, 0),
         rmrr(0xe0000, 0xeffff,
              {scope(ScopeType::pci_endpoint, 0, {{0x1d, 0}}), scope(ScopeType::pci_endpoint, 0, {{0x1d, 1}})}),
         atsr}));
    ASSERT_EQ(info.reserved_count, 1u);
    EXPECT_EQ(info.reserved[0].base, 0xe0000u);
    EXPECT_EQ(info.reserved[0].limit, 0xeffffu);
    EXPECT_EQ(info.reserved[0].scope_count, 2u);
    EXPECT_EQ(info.other_structures, 1u);
}

TEST(IommuDmar, ScopesBeyondCapacityOrTooDeepAreCountedNotKept)
{
    using dmar::ScopeType;
    std::vector<Bytes> scopes;
    for (u8 i = 0; i < dmar::MAX_SCOPES + 2; i++)
        scopes.push_back(scope(ScopeType::pci_endpoint, 0, {{i, 0}}));
    scopes.push_back(scope(ScopeType::pci_endpoint, 0, {{1, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}}));
    const dmar::Info info = parse_ok(dmar_table({drhd(0xfed90000, 0, 0, scopes)}));
    EXPECT_EQ(info.units[0].scope_count, dmar::MAX_SCOPES);
    EXPECT_EQ(info.units[0].scopes_dropped, 3u);
}

TEST(IommuDmar, RefusesMalformedTables)
{
    using dmar::ScopeType;
    EXPECT_NE(parse_error(Bytes(20, 0)).find("at least"), std::string::npos);
    // A structure longer than what is left of the table.
    Bytes truncated = dmar_table({drhd(0xfed90000, 0, 0)});
    put16(truncated, 48 + 2, 200);
    EXPECT_NE(parse_error(truncated).find("bad length"), std::string::npos);
    // A structure of length 0 would loop forever.
    Bytes zero = dmar_table({drhd(0xfed90000, 0, 0)});
    put16(zero, 48 + 2, 0);
    parse_error(zero);
    // DRHD shorter than its fixed part, unaligned or zero register base.
    Bytes short_drhd(8, 0);
    put16(short_drhd, 2, 8);
    parse_error(dmar_table({short_drhd}));
    EXPECT_NE(parse_error(dmar_table({drhd(0xfed90010, 0, 0)})).find("register base"), std::string::npos);
    parse_error(dmar_table({drhd(0, 0, 0)}));
    // A scope running past its DRHD, and one with an odd path length.
    Bytes long_scope = scope(ScopeType::pci_endpoint, 0, {{3, 0}});
    long_scope[1] = 30;
    parse_error(dmar_table({drhd(0xfed90000, 0, 0, {long_scope})}));
    Bytes odd_scope = scope(ScopeType::pci_endpoint, 0, {{3, 0}});
    odd_scope.push_back(0);
    odd_scope[1] = 9;
    parse_error(dmar_table({drhd(0xfed90000, 0, 0, {odd_scope})}));
    // A unit after the segment's INCLUDE_PCI_ALL unit (the spec puts that one last).
    EXPECT_NE(parse_error(dmar_table({drhd(0xfed90000, dmar::DRHD_INCLUDE_PCI_ALL, 0), drhd(0xfed91000, 0, 0)}))
                  .find("INCLUDE_PCI_ALL"),
              std::string::npos);
    // An RMRR that is not a page range.
    parse_error(dmar_table({rmrr(0xe0000, 0xe0fff - 1)}));
    // Too many units.
    std::vector<Bytes> many;
    for (u64 i = 0; i <= dmar::MAX_UNITS; i++)
        many.push_back(drhd(0xfed00000 + i * PAGE_SIZE, 0, static_cast<u16>(i)));
    parse_error(dmar_table(many), -BATON_E2BIG);
}

// ---- ACPI discovery over simulated physical memory --------------------------------------

namespace {

class IommuAcpi : public ::testing::Test {
protected:
    IommuAcpi() : ram_(16 * MiB) {}

    void place(u64 phys, const Bytes &bytes) { std::memcpy(phys_to_virt(phys), bytes.data(), bytes.size()); }

    // An ACPI 2.0 RSDP whose XSDT lists `tables` (their physical addresses).
    Bytes rsdp_v2(u64 xsdt_phys)
    {
        Bytes r(acpi::RSDP_V2_SIZE, 0);
        std::memcpy(r.data(), "RSD PTR ", 8);
        std::memcpy(&r[9], "BATONT", 6);
        r[15] = 2;
        put32(r, 20, acpi::RSDP_V2_SIZE);
        put64(r, 24, xsdt_phys);
        fix_checksum(r, 8, acpi::RSDP_V1_SIZE);
        fix_checksum(r, 32, acpi::RSDP_V2_SIZE);
        return r;
    }
    Bytes xsdt(const std::vector<u64> &tables)
    {
        Bytes body(8 * tables.size(), 0);
        for (usize i = 0; i < tables.size(); i++)
            put64(body, 8 * i, tables[i]);
        return table("XSDT", body);
    }
    int find(const Bytes &rsdp, const char *signature, acpi::Table &out, std::string *why = nullptr)
    {
        char text[160] = "";
        int result = acpi::find_table(rsdp.data(), rsdp.size(), signature, 16 * MiB, out, &root_, text, sizeof(text));
        if (why != nullptr)
            *why = text;
        return result;
    }

    SimulatedRam ram_;
    acpi::RootInfo root_;
};

} // namespace

TEST_F(IommuAcpi, FindsDmarThroughXsdt)
{
    place(0x10000, table("APIC", Bytes(8, 1)));
    const Bytes dmar = qemu_like_dmar();
    place(0x10100, dmar);
    place(0x20000, xsdt({0x10000, 0x10100}));
    acpi::Table found;
    ASSERT_EQ(find(rsdp_v2(0x20000), "DMAR", found), 0);
    EXPECT_EQ(found.phys, 0x10100u);
    EXPECT_EQ(found.length, dmar.size());
    EXPECT_TRUE(root_.extended);
    EXPECT_EQ(root_.entries, 2u);
    EXPECT_STREQ(root_.oem_id, "BATONT");
    EXPECT_EQ(parse_ok(Bytes(found.bytes, found.bytes + found.length)).unit_count, 1u);
    EXPECT_EQ(find(rsdp_v2(0x20000), "IVRS", found), -BATON_ENOENT);
}

TEST_F(IommuAcpi, FindsTablesThroughRsdtOnAcpi1)
{
    place(0x10100, qemu_like_dmar());
    Bytes body(4, 0);
    put32(body, 0, 0x10100);
    place(0x20000, table("RSDT", body));
    Bytes rsdp(acpi::RSDP_V1_SIZE, 0);
    std::memcpy(rsdp.data(), "RSD PTR ", 8);
    put32(rsdp, 16, 0x20000);
    fix_checksum(rsdp, 8, acpi::RSDP_V1_SIZE);
    acpi::Table found;
    ASSERT_EQ(find(rsdp, "DMAR", found), 0);
    EXPECT_FALSE(root_.extended);
}

TEST_F(IommuAcpi, RefusesBadChecksumsAndPointersOutsideMemory)
{
    acpi::Table found;
    std::string why;
    Bytes rsdp = rsdp_v2(0x20000);
    rsdp[0] = 'X';
    EXPECT_EQ(find(rsdp, "DMAR", found, &why), -BATON_EINVAL);
    rsdp = rsdp_v2(0x20000);
    rsdp[30] ^= 1; // XSDT address: extended checksum now wrong
    EXPECT_EQ(find(rsdp, "DMAR", found, &why), -BATON_EINVAL);
    EXPECT_NE(why.find("checksum"), std::string::npos);

    EXPECT_EQ(find(rsdp_v2(64 * MiB), "DMAR", found, &why), -BATON_EINVAL);
    EXPECT_NE(why.find("outside memory"), std::string::npos);

    // A DMAR with a broken checksum, and one whose length runs past memory.
    Bytes dmar = qemu_like_dmar();
    dmar[60] ^= 0xff;
    place(0x10100, dmar);
    place(0x20000, xsdt({0x10100}));
    EXPECT_EQ(find(rsdp_v2(0x20000), "DMAR", found, &why), -BATON_EINVAL);
    EXPECT_NE(why.find("checksum"), std::string::npos);
    dmar = qemu_like_dmar();
    place(16 * MiB - 64, Bytes(dmar.begin(), dmar.begin() + 64));
    place(0x20000, xsdt({16 * MiB - 64}));
    EXPECT_EQ(find(rsdp_v2(0x20000), "DMAR", found, &why), -BATON_EINVAL);
    EXPECT_NE(why.find("bad length"), std::string::npos);
    // A root-table entry pointing outside memory is skipped, not followed.
    place(0x10100, qemu_like_dmar());
    place(0x20000, xsdt({~u64{0} - 8, 0x10100}));
    EXPECT_EQ(find(rsdp_v2(0x20000), "DMAR", found, &why), 0) << why;
}
