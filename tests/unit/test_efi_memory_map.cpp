// SPDX-License-Identifier: MIT
// Unit tests for the EFI memory map: reading, merging, translation, and its multiboot2 tag.
#include "abi/errno.h"
#include "boot/boot_info.hpp"
#include "boot/efi_memory_map.hpp"
#include "boot/multiboot2_writer.hpp"
#include <algorithm>
#include <cstring>
#include <gtest/gtest.h>
#include <memory>
#include <vector>

namespace {

constexpr u32 DESCRIPTOR_SIZE = 48; // what OVMF writes
constexpr u64 PAGE = EFI_PAGE_SIZE;

struct Raw {
    u32 type;
    u64 start;
    u64 pages;
    u64 attributes = 0xf; // UC | WC | WT | WB, as OVMF marks RAM
};

u32 raw_type(EfiMemoryType type) { return static_cast<u32>(type); }

std::vector<u8> descriptors(const std::vector<Raw> &raws, u32 size = DESCRIPTOR_SIZE)
{
    std::vector<u8> bytes(raws.size() * size, 0xcc); // padding is not read
    for (usize i = 0; i < raws.size(); i++) {
        u8 d[64];
        memset(d, 0xcc, sizeof(d));
        memcpy(d, &raws[i].type, 4);
        memcpy(d + 8, &raws[i].start, 8);
        const u64 virtual_start = 0;
        memcpy(d + 16, &virtual_start, 8);
        memcpy(d + 24, &raws[i].pages, 8);
        memcpy(d + 32, &raws[i].attributes, 8);
        memcpy(bytes.data() + i * size, d, std::min<usize>(size, sizeof(d))); // a short size cuts the fields
    }
    return bytes;
}

// A small OVMF-like map, out of order on purpose, with neighbours to merge.
std::vector<Raw> ovmf_like()
{
    return {
        {raw_type(EfiMemoryType::conventional), 0x100000, 0x700},
        {raw_type(EfiMemoryType::boot_services_code), 0x0, 0x1},
        {raw_type(EfiMemoryType::conventional), 0x1000, 0x9f},
        {raw_type(EfiMemoryType::acpi_nvs), 0x800000, 0x8},
        {raw_type(EfiMemoryType::loader_data), 0x808000, 0x3},
        {raw_type(EfiMemoryType::runtime_services_code), 0x3f9ed000, 0x80, 0x800000000000000f},
        {raw_type(EfiMemoryType::runtime_services_data), 0x3fa6d000, 0x80, 0x800000000000000f},
        {raw_type(EfiMemoryType::boot_services_data), 0x3faed000, 0x10, 0x800000000000000f},
        {raw_type(EfiMemoryType::acpi_reclaim), 0x3fb6d000, 0x12},
        {raw_type(EfiMemoryType::mmio), 0xb0000000, 0x10000, 0x8000000000000001},
        {0x80000001, 0x3fc00000, 0x10}, // an OEM type
        {raw_type(EfiMemoryType::conventional), 0x810000, 0x10}, // a gap before it
    };
}

int read(const std::vector<Raw> &raws, EfiMemoryMap &map, std::string *why = nullptr, u32 size = DESCRIPTOR_SIZE)
{
    const std::vector<u8> bytes = descriptors(raws, size);
    char text[160] = {};
    int error = read_efi_memory_map(bytes.data(), bytes.size(), size, 1, map, text, sizeof(text));
    if (why != nullptr)
        *why = text;
    return error;
}

TEST(EfiMemoryMap, ReadsSortsAndMergesOnlyNeighboursOfTheSameKind)
{
    auto map = std::make_unique<EfiMemoryMap>();
    ASSERT_EQ(read(ovmf_like(), *map), 0);
    EXPECT_TRUE(map->present);
    EXPECT_EQ(map->loader_descriptors, ovmf_like().size());
    for (usize i = 1; i < map->count; i++)
        EXPECT_LT(map->descriptors[i - 1].physical_start, map->descriptors[i].physical_start) << i;
    // 0x0 boot services code stays apart from 0x1000 conventional (another type).
    EXPECT_EQ(map->descriptors[0].type, raw_type(EfiMemoryType::boot_services_code));
    EXPECT_EQ(map->descriptors[1].physical_start, 0x1000u);
    // Runtime code and data touch but are different types: both kept.
    usize runtime = 0;
    for (usize i = 0; i < map->count; i++)
        runtime += (map->descriptors[i].attributes & EFI_MEMORY_RUNTIME) != 0;
    EXPECT_EQ(runtime, 4u);
}

TEST(EfiMemoryMap, MergesContiguousRunsWhateverTheirOrder)
{
    auto map = std::make_unique<EfiMemoryMap>();
    const u32 conventional = raw_type(EfiMemoryType::conventional);
    ASSERT_EQ(read({{conventional, 0x3000, 1}, {conventional, 0x1000, 1}, {conventional, 0x2000, 1}}, *map), 0);
    ASSERT_EQ(map->count, 1u);
    EXPECT_EQ(map->descriptors[0].physical_start, 0x1000u);
    EXPECT_EQ(map->descriptors[0].page_count, 3u);
}

TEST(EfiMemoryMap, TranslatesTypesAndKeepsRuntimeMemoryOut)
{
    auto d = [](EfiMemoryType type, u64 attributes = 0) {
        return efi_to_memory_type(EfiMemoryDescriptor{static_cast<u32>(type), 0, 1, attributes});
    };
    const u32 available = static_cast<u32>(MemoryType::available), reserved = static_cast<u32>(MemoryType::reserved);
    EXPECT_EQ(d(EfiMemoryType::conventional), available);
    EXPECT_EQ(d(EfiMemoryType::loader_code), available);
    EXPECT_EQ(d(EfiMemoryType::loader_data), available);
    EXPECT_EQ(d(EfiMemoryType::boot_services_code), available);
    EXPECT_EQ(d(EfiMemoryType::boot_services_data), available);
    EXPECT_EQ(d(EfiMemoryType::boot_services_data, EFI_MEMORY_RUNTIME), reserved); // the attribute wins
    EXPECT_EQ(d(EfiMemoryType::runtime_services_code), reserved);
    EXPECT_EQ(d(EfiMemoryType::runtime_services_data), reserved);
    EXPECT_EQ(d(EfiMemoryType::acpi_reclaim), static_cast<u32>(MemoryType::acpi_reclaimable));
    EXPECT_EQ(d(EfiMemoryType::acpi_nvs), static_cast<u32>(MemoryType::acpi_nvs));
    EXPECT_EQ(d(EfiMemoryType::unusable), static_cast<u32>(MemoryType::bad));
    EXPECT_EQ(d(EfiMemoryType::persistent), MEMORY_TYPE_PERSISTENT);
    EXPECT_EQ(d(EfiMemoryType::mmio), reserved);
    EXPECT_EQ(d(EfiMemoryType::unaccepted), reserved);
    EXPECT_EQ(d(static_cast<EfiMemoryType>(0x80000001)), reserved);
    EXPECT_EQ(d(static_cast<EfiMemoryType>(42)), reserved);
}

TEST(EfiMemoryMap, TheMapBatonUsesJoinsRunsOfOneTranslatedType)
{
    auto map = std::make_unique<EfiMemoryMap>();
    ASSERT_EQ(read(ovmf_like(), *map), 0);
    MemoryMapEntry entries[MAX_MEMORY_MAP_ENTRIES];
    const usize count = efi_to_memory_map(*map, entries, MAX_MEMORY_MAP_ENTRIES);
    ASSERT_GT(count, 0u);
    // 0x0 (boot services code) and 0x1000 (conventional) are both available: one entry.
    EXPECT_EQ(entries[0].base, 0u);
    EXPECT_EQ(entries[0].length, 0xa0 * PAGE);
    EXPECT_EQ(entries[0].type, static_cast<u32>(MemoryType::available));
    // Runtime code, runtime data and the runtime-flagged boot-services data: one reserved run.
    bool found = false;
    for (usize i = 0; i < count; i++) {
        if (entries[i].base == 0x3f9ed000) {
            found = true;
            EXPECT_EQ(entries[i].length, 0x110 * PAGE);
            EXPECT_EQ(entries[i].type, static_cast<u32>(MemoryType::reserved));
        }
    }
    EXPECT_TRUE(found);
    // No room: 0, not a cut map.
    EXPECT_EQ(efi_to_memory_map(*map, entries, 2), 0u);
}

TEST(EfiMemoryMap, RefusesMalformedMaps)
{
    auto map = std::make_unique<EfiMemoryMap>();
    const u32 conventional = raw_type(EfiMemoryType::conventional);
    std::string why;
    EXPECT_EQ(read({{conventional, 0x1000, 1}}, *map, &why, 32), -BATON_EINVAL) << "descriptors under 40 bytes";
    EXPECT_FALSE(map->present);
    EXPECT_EQ(read({{conventional, 0x1000, 1}}, *map, &why, 44), -BATON_EINVAL) << "not a multiple of 8";
    EXPECT_EQ(read({{conventional, 0x1800, 1}}, *map, &why), -BATON_EINVAL) << "unaligned";
    EXPECT_EQ(read({{conventional, 0xfffffffffffff000, 2}}, *map, &why), -BATON_EINVAL) << "wraps";
    EXPECT_EQ(read({{conventional, 0x1000, 1ull << 60}}, *map, &why), -BATON_EINVAL) << "page count overflows";
    EXPECT_EQ(read({{conventional, 0x1000, 4}, {conventional, 0x3000, 1}}, *map, &why), -BATON_EINVAL) << "overlap";
    EXPECT_NE(why.find("overlaps"), std::string::npos) << why;
    // A byte count that is not a whole number of descriptors.
    std::vector<u8> bytes = descriptors({{conventional, 0x1000, 1}});
    char text[160];
    EXPECT_EQ(read_efi_memory_map(bytes.data(), bytes.size() - 8, DESCRIPTOR_SIZE, 1, *map, text, sizeof(text)),
              -BATON_EINVAL);
    // More distinct ranges than kept: every other page a different type.
    std::vector<Raw> many;
    for (u64 i = 0; i <= MAX_EFI_DESCRIPTORS; i++)
        many.push_back({i % 2 == 0 ? conventional : raw_type(EfiMemoryType::acpi_nvs), i * PAGE, 1});
    EXPECT_EQ(read(many, *map, &why), -BATON_E2BIG);
    // Empty descriptors describe nothing and are skipped.
    ASSERT_EQ(read({{conventional, 0x1000, 0}, {conventional, 0x1000, 1}}, *map), 0);
    EXPECT_EQ(map->count, 1u);
}

// ---- through multiboot2: the parser prefers tag 17, the writer passes it on ---------

std::vector<u8> block_with(const std::vector<Raw> *efi, bool loader_map, u32 descriptor_size = DESCRIPTOR_SIZE)
{
    std::vector<u64> storage(32768 / 8);
    Multiboot2Writer writer(storage.data(), 32768);
    const MemoryMapEntry loader[] = {{0, 0x9f000, 1}, {0x100000, 0x3f000000, 1}, {0x3f9ed000, 0x100000, 20}};
    if (loader_map)
        writer.add_memory_map(loader, std::size(loader));
    if (efi != nullptr) {
        const std::vector<u8> bytes = descriptors(*efi, descriptor_size);
        std::vector<u8> payload(8 + bytes.size());
        const u32 header[2] = {descriptor_size, 1};
        memcpy(payload.data(), header, 8);
        memcpy(payload.data() + 8, bytes.data(), bytes.size());
        writer.add_tag(static_cast<u32>(Multiboot2Tag::efi_memory_map), payload.data(), payload.size());
    }
    usize size = 0;
    EXPECT_EQ(writer.finish(size), 0);
    const u8 *bytes = reinterpret_cast<const u8 *>(storage.data());
    return std::vector<u8>(bytes, bytes + size);
}

int parse(const std::vector<u8> &block, BootInfo &info, std::string *message = nullptr)
{
    std::vector<u64> aligned((block.size() + 7) / 8);
    memcpy(aligned.data(), block.data(), block.size());
    char text[BOOT_INFO_MESSAGE_SIZE] = {};
    int error = parse_multiboot2(aligned.data(), 0x10a000, block.size(), info, text, sizeof(text));
    if (message != nullptr)
        *message = text;
    return error;
}

TEST(EfiMemoryMapTag, TheParserUsesTheEfiMapAndKeepsTheLoadersForKexec)
{
    const std::vector<Raw> efi = ovmf_like();
    auto info = std::make_unique<BootInfo>();
    ASSERT_EQ(parse(block_with(&efi, true), *info), 0);
    EXPECT_TRUE(info->memory_map_from_efi);
    EXPECT_TRUE(info->efi_memory_map.present);
    EXPECT_EQ(info->efi_descriptor_size, DESCRIPTOR_SIZE);
    EXPECT_EQ(info->loader_memory_map_count, 3u);
    EXPECT_EQ(info->loader_memory_map[2].type, 20u); // unknown types pass unchanged
    MemoryMapEntry expected[MAX_MEMORY_MAP_ENTRIES];
    ASSERT_EQ(info->memory_map_count, efi_to_memory_map(info->efi_memory_map, expected, MAX_MEMORY_MAP_ENTRIES));
    for (usize i = 0; i < info->memory_map_count; i++)
        EXPECT_EQ(info->memory_map[i].base, expected[i].base) << i;
}

TEST(EfiMemoryMapTag, WithoutTag17TheLoadersMapIsUsed)
{
    auto info = std::make_unique<BootInfo>();
    ASSERT_EQ(parse(block_with(nullptr, true), *info), 0);
    EXPECT_FALSE(info->memory_map_from_efi);
    ASSERT_EQ(info->memory_map_count, 3u);
    EXPECT_EQ(info->memory_map[2].type, 20u);
}

TEST(EfiMemoryMapTag, ADamagedEfiMapFallsBackToTheLoadersAndSaysWhy)
{
    const std::vector<Raw> overlapping = {{raw_type(EfiMemoryType::conventional), 0x1000, 4},
                                          {raw_type(EfiMemoryType::conventional), 0x2000, 1}};
    auto info = std::make_unique<BootInfo>();
    ASSERT_EQ(parse(block_with(&overlapping, true), *info), 0);
    EXPECT_FALSE(info->memory_map_from_efi);
    EXPECT_EQ(info->memory_map_count, 3u);
    EXPECT_NE(std::string(info->efi_memory_map_problem).find("overlaps"), std::string::npos);
    // Without the loader's map there is nothing to fall back to.
    std::string message;
    EXPECT_EQ(parse(block_with(&overlapping, false), *info, &message), -BATON_ENOENT);
    EXPECT_NE(message.find("EFI memory map is not usable"), std::string::npos) << message;
    // Tag 17 alone, when usable, is enough.
    const std::vector<Raw> efi = ovmf_like();
    ASSERT_EQ(parse(block_with(&efi, false), *info), 0);
    EXPECT_TRUE(info->memory_map_from_efi);
}

TEST(EfiMemoryMapTag, TheWriterPassesTheMapOnUnchanged)
{
    const std::vector<Raw> efi = ovmf_like();
    auto first = std::make_unique<BootInfo>();
    ASSERT_EQ(parse(block_with(&efi, true), *first), 0);
    // What kexec writes for the next image.
    std::vector<u64> storage(32768 / 8);
    Multiboot2Writer writer(storage.data(), 32768);
    writer.add_memory_map(first->loader_memory_map, first->loader_memory_map_count);
    writer.add_efi_memory_map(first->efi_memory_map, first->efi_descriptor_size);
    usize size = 0;
    ASSERT_EQ(writer.finish(size), 0);
    const u8 *bytes = reinterpret_cast<const u8 *>(storage.data());
    auto second = std::make_unique<BootInfo>();
    ASSERT_EQ(parse(std::vector<u8>(bytes, bytes + size), *second), 0);
    ASSERT_EQ(second->efi_memory_map.count, first->efi_memory_map.count);
    for (usize i = 0; i < first->efi_memory_map.count; i++) {
        const EfiMemoryDescriptor &a = first->efi_memory_map.descriptors[i], &b = second->efi_memory_map.descriptors[i];
        EXPECT_EQ(a.type, b.type) << i;
        EXPECT_EQ(a.physical_start, b.physical_start) << i;
        EXPECT_EQ(a.page_count, b.page_count) << i;
        EXPECT_EQ(a.attributes, b.attributes) << i;
    }
    EXPECT_EQ(second->efi_memory_map.descriptor_version, 1u);
    ASSERT_EQ(second->memory_map_count, first->memory_map_count);
    ASSERT_EQ(second->loader_memory_map_count, first->loader_memory_map_count);
    // A descriptor size under 40 bytes is refused, not written.
    Multiboot2Writer bad(storage.data(), 32768);
    bad.add_efi_memory_map(first->efi_memory_map, 32);
    EXPECT_EQ(bad.error(), -BATON_EINVAL);
}

} // namespace
