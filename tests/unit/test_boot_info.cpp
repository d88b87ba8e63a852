// SPDX-License-Identifier: MIT
// Unit tests for the multiboot2 writer and the checked multiboot2 parser.
#include "abi/errno.h"
#include "boot/boot_info.hpp"
#include "boot/multiboot2_writer.hpp"
#include "host_platform.hpp"
#include <cstdio>
#include <cstring>
#include <gtest/gtest.h>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr u64 INFO_PHYS = 0x10a000;

// A block copied into a heap allocation of exactly its size, so AddressSanitizer
// catches any read past the bound the parser was given.
struct ExactBlock {
    explicit ExactBlock(const std::vector<u8> &bytes) : size(bytes.size()), data(new u64[(bytes.size() + 7) / 8])
    {
        if (!bytes.empty())
            memcpy(data.get(), bytes.data(), bytes.size());
    }
    usize size;
    std::unique_ptr<u64[]> data;
};

struct Parsed {
    int error = 0;
    std::string message;
    std::unique_ptr<BootInfo> info = std::make_unique<BootInfo>();
};

Parsed parse_bytes(const std::vector<u8> &bytes, usize bound)
{
    // Allocate only `bound` bytes so anything beyond it is out of bounds for ASan.
    std::vector<u8> copy(bytes.begin(), bytes.begin() + static_cast<long>(std::min(bound, bytes.size())));
    copy.resize(bound, 0xa5);
    ExactBlock block(copy);
    Parsed parsed;
    char message[BOOT_INFO_MESSAGE_SIZE];
    parsed.error = parse_multiboot2(block.data.get(), INFO_PHYS, bound, *parsed.info, message, sizeof(message));
    parsed.message = message;
    return parsed;
}

Parsed parse_bytes(const std::vector<u8> &bytes) { return parse_bytes(bytes, bytes.size()); }

const MemoryMapEntry qemu_like_map[] = {
    {0x0, 0x9fc00, 1},        {0x9fc00, 0x400, 2},     {0xf0000, 0x10000, 2},    {0x100000, 0x1fee0000, 1},
    {0x1ffe0000, 0x20000, 2}, {0xfeffc000, 0x4000, 2}, {0xfffc0000, 0x40000, 2},
};

// Builds a block with a writer callback; fails the test if the writer fails.
template <typename Fill>
std::vector<u8> build(Fill fill, usize capacity = 16384)
{
    std::vector<u64> storage(capacity / 8);
    Multiboot2Writer writer(storage.data(), capacity);
    fill(writer);
    usize size = 0;
    int error = writer.finish(size);
    EXPECT_EQ(error, 0);
    const u8 *bytes = reinterpret_cast<const u8 *>(storage.data());
    return std::vector<u8>(bytes, bytes + size);
}

std::vector<u8> build_with_map(const char *command_line = nullptr)
{
    return build([&](Multiboot2Writer &writer) {
        if (command_line)
            writer.add_command_line(command_line);
        writer.add_memory_map(qemu_like_map, std::size(qemu_like_map));
    });
}

u32 get_u32(const std::vector<u8> &bytes, usize offset)
{
    u32 value;
    memcpy(&value, &bytes[offset], 4);
    return value;
}
void set_u32(std::vector<u8> &bytes, usize offset, u32 value) { memcpy(&bytes[offset], &value, 4); }

// Offset of the n-th tag of `type` in a well-formed block.
usize find_tag(const std::vector<u8> &bytes, u32 type, int nth = 0)
{
    for (usize offset = 8; offset + 8 <= bytes.size(); offset += (get_u32(bytes, offset + 4) + 7) & ~7u) {
        if (get_u32(bytes, offset) == type && nth-- == 0)
            return offset;
        if (get_u32(bytes, offset) == 0)
            break;
    }
    ADD_FAILURE() << "no tag " << type;
    return 0;
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

#define EXPECT_PARSE_ERROR(parsed, code, part)                                                                         \
    do {                                                                                                               \
        EXPECT_EQ((parsed).error, code) << (parsed).message;                                                           \
        EXPECT_TRUE(contains((parsed).message, part)) << "message: " << (parsed).message;                              \
        EXPECT_EQ((parsed).message.rfind("multiboot2: ", 0), 0u) << (parsed).message;                                  \
    } while (0)

} // namespace

TEST(Multiboot2, RoundTripEverything)
{
    u8 rsdp_v1[ACPI_RSDP_V1_SIZE];
    u8 rsdp_v2[ACPI_RSDP_V2_SIZE];
    for (usize i = 0; i < sizeof(rsdp_v1); i++)
        rsdp_v1[i] = static_cast<u8>(i + 1);
    for (usize i = 0; i < sizeof(rsdp_v2); i++)
        rsdp_v2[i] = static_cast<u8>(0x80 + i);
    const u8 framebuffer_payload[5] = {1, 2, 3, 4, 5};

    std::vector<u8> bytes = build([&](Multiboot2Writer &writer) {
        writer.add_loader_name("GRUB 2.06-13+deb12u1");
        writer.add_command_line("lu_bootmem=128M loglevel=debug");
        writer.add_tag(8, framebuffer_payload, sizeof(framebuffer_payload)); // unknown to us: skipped
        writer.add_basic_meminfo(639, 523136);
        writer.add_module(0x200000, 0x2031a0, "/boot/baton-b.elf next-image");
        writer.add_memory_map(qemu_like_map, std::size(qemu_like_map));
        writer.add_module(0x204000, 0x204000, ""); // an empty module is legal
        writer.add_acpi_old_rsdp(rsdp_v1);
        writer.add_acpi_new_rsdp(rsdp_v2);
        writer.add_tag(21, "\0\0\0\0", 4); // image load base: also skipped
    });
    EXPECT_EQ(bytes.size() % 8, 0u);
    EXPECT_EQ(get_u32(bytes, 0), bytes.size());

    Parsed parsed = parse_bytes(bytes);
    ASSERT_EQ(parsed.error, 0) << parsed.message;
    EXPECT_EQ(parsed.message, "");
    const BootInfo &info = *parsed.info;
    EXPECT_EQ(info.info_range.start, INFO_PHYS);
    EXPECT_EQ(info.info_range.end, INFO_PHYS + bytes.size());
    EXPECT_STREQ(info.loader_name, "GRUB 2.06-13+deb12u1");
    EXPECT_FALSE(info.loader_name_truncated);
    EXPECT_STREQ(info.command_line, "lu_bootmem=128M loglevel=debug");
    ASSERT_EQ(info.memory_map_count, std::size(qemu_like_map));
    for (usize i = 0; i < std::size(qemu_like_map); i++) {
        EXPECT_EQ(info.memory_map[i].base, qemu_like_map[i].base) << i;
        EXPECT_EQ(info.memory_map[i].length, qemu_like_map[i].length) << i;
        EXPECT_EQ(info.memory_map[i].type, qemu_like_map[i].type) << i;
    }
    EXPECT_EQ(info.memory_map_entry_version, 0u);
    ASSERT_EQ(info.module_count, 2u);
    EXPECT_EQ(info.modules[0].range.start, 0x200000u);
    EXPECT_EQ(info.modules[0].range.end, 0x2031a0u);
    EXPECT_STREQ(info.modules[0].string, "/boot/baton-b.elf next-image");
    EXPECT_TRUE(info.modules[1].range.empty());
    EXPECT_STREQ(info.modules[1].string, "");
    EXPECT_TRUE(info.has_basic_meminfo);
    EXPECT_EQ(info.mem_lower_kib, 639u);
    EXPECT_EQ(info.mem_upper_kib, 523136u);
    ASSERT_TRUE(info.has_acpi_rsdp_v1);
    ASSERT_TRUE(info.has_acpi_rsdp_v2);
    EXPECT_EQ(memcmp(info.acpi_rsdp_v1, rsdp_v1, sizeof(rsdp_v1)), 0);
    EXPECT_EQ(memcmp(info.acpi_rsdp_v2, rsdp_v2, sizeof(rsdp_v2)), 0);
}

TEST(Multiboot2, MemoryMapAloneIsEnough)
{
    Parsed parsed = parse_bytes(build_with_map());
    ASSERT_EQ(parsed.error, 0) << parsed.message;
    EXPECT_STREQ(parsed.info->command_line, "");
    EXPECT_STREQ(parsed.info->loader_name, "");
    EXPECT_EQ(parsed.info->module_count, 0u);
    EXPECT_FALSE(parsed.info->has_basic_meminfo);
    EXPECT_FALSE(parsed.info->has_acpi_rsdp_v1);
    EXPECT_FALSE(parsed.info->has_acpi_rsdp_v2);
}

TEST(Multiboot2, ParserClearsStaleOutput)
{
    Parsed first = parse_bytes(build([](Multiboot2Writer &writer) {
        writer.add_command_line("old");
        writer.add_module(0x1000, 0x2000, "m");
        writer.add_memory_map(qemu_like_map, 2);
    }));
    ASSERT_EQ(first.error, 0);
    ExactBlock block(build_with_map());
    char message[BOOT_INFO_MESSAGE_SIZE];
    ASSERT_EQ(parse_multiboot2(block.data.get(), INFO_PHYS, block.size, *first.info, message, sizeof(message)), 0);
    EXPECT_STREQ(first.info->command_line, "");
    EXPECT_EQ(first.info->module_count, 0u);
    EXPECT_EQ(first.info->memory_map_count, std::size(qemu_like_map));
}

TEST(Multiboot2, MissingMemoryMap)
{
    Parsed parsed = parse_bytes(build([](Multiboot2Writer &writer) { writer.add_command_line("x"); }));
    EXPECT_EQ(parsed.error, -BATON_ENOENT);
    EXPECT_EQ(parsed.message, "multiboot2: no memory map tag (6 or 17)");
}

TEST(Multiboot2, BadPointerAndAlignment)
{
    BootInfo info;
    char message[BOOT_INFO_MESSAGE_SIZE];
    EXPECT_EQ(parse_multiboot2(nullptr, 0, 4096, info, message, sizeof(message)), -BATON_EINVAL);
    EXPECT_STREQ(message, "multiboot2: no information block (null pointer)");

    std::vector<u8> bytes = build_with_map();
    std::vector<u64> storage(bytes.size() / 8 + 1);
    u8 *shifted = reinterpret_cast<u8 *>(storage.data()) + 4;
    memcpy(shifted, bytes.data(), bytes.size());
    EXPECT_EQ(parse_multiboot2(shifted, INFO_PHYS, bytes.size(), info, message, sizeof(message)), -BATON_EINVAL);
    EXPECT_TRUE(contains(message, "not 8-byte aligned")) << message;

    ExactBlock block(bytes);
    EXPECT_EQ(parse_multiboot2(block.data.get(), INFO_PHYS + 4, block.size, info, message, sizeof(message)),
              -BATON_EINVAL);
    EXPECT_STREQ(message, "multiboot2: information block at 0x10a004 is not 8-byte aligned");

    // A block at the very top of the address space would wrap.
    EXPECT_EQ(parse_multiboot2(block.data.get(), ~u64{7}, block.size, info, message, sizeof(message)), -BATON_EINVAL);
    EXPECT_TRUE(contains(message, "wraps the address space")) << message;
}

TEST(Multiboot2, TotalSizeChecks)
{
    std::vector<u8> bytes = build_with_map();
    EXPECT_PARSE_ERROR(parse_bytes(bytes, 8), -BATON_EINVAL, "fewer than the 16-byte minimum");
    EXPECT_PARSE_ERROR(parse_bytes(bytes, 0), -BATON_EINVAL, "fewer than the 16-byte minimum");

    // total_size larger than what may be read: the parser must not follow it.
    EXPECT_PARSE_ERROR(parse_bytes(bytes, bytes.size() - 8), -BATON_EINVAL, "runs past the");

    std::vector<u8> small = bytes;
    set_u32(small, 0, 8);
    EXPECT_PARSE_ERROR(parse_bytes(small), -BATON_EINVAL, "total_size 8 is smaller than the 16-byte minimum");
    set_u32(small, 0, 0xffffffff);
    EXPECT_PARSE_ERROR(parse_bytes(small), -BATON_EINVAL, "total_size 4294967295 runs past");

    // total_size cut short before the end tag.
    std::vector<u8> truncated = bytes;
    set_u32(truncated, 0, static_cast<u32>(bytes.size() - 8));
    EXPECT_PARSE_ERROR(parse_bytes(truncated), -BATON_EINVAL, "no end tag within total_size");

    // total_size cut in the middle of the memory map tag.
    set_u32(truncated, 0, 40);
    EXPECT_PARSE_ERROR(parse_bytes(truncated), -BATON_EINVAL, "running past total_size 40");

    // Trailing bytes after the end tag are tolerated (and never interpreted).
    std::vector<u8> padded = bytes;
    padded.resize(bytes.size() + 24, 0xee);
    set_u32(padded, 0, static_cast<u32>(padded.size()));
    EXPECT_EQ(parse_bytes(padded).error, 0);
}

TEST(Multiboot2, TagSizeChecks)
{
    std::vector<u8> bytes = build_with_map("loglevel=debug");
    usize command_line = find_tag(bytes, 1);
    ASSERT_EQ(command_line, 8u);

    std::vector<u8> zero = bytes;
    set_u32(zero, command_line + 4, 0);
    Parsed parsed = parse_bytes(zero);
    EXPECT_EQ(parsed.error, -BATON_EINVAL);
    EXPECT_EQ(parsed.message, "multiboot2: tag 1 at offset 0x8 has size 0, smaller than its header");

    std::vector<u8> seven = bytes;
    set_u32(seven, command_line + 4, 7);
    EXPECT_PARSE_ERROR(parse_bytes(seven), -BATON_EINVAL, "has size 7, smaller than its header");

    std::vector<u8> overrun = bytes;
    set_u32(overrun, command_line + 4, static_cast<u32>(bytes.size()));
    EXPECT_PARSE_ERROR(parse_bytes(overrun), -BATON_EINVAL, "running past total_size");

    std::vector<u8> huge = bytes;
    set_u32(huge, command_line + 4, 0xfffffff8);
    EXPECT_PARSE_ERROR(parse_bytes(huge), -BATON_EINVAL, "running past total_size");

    // The memory map tag's size shrunk by 8: its entries no longer divide the tag, and
    // the following tag header lands inside the old entries.
    std::vector<u8> mmap = bytes;
    usize map = find_tag(bytes, 6);
    set_u32(mmap, map + 4, get_u32(bytes, map + 4) - 8);
    EXPECT_PARSE_ERROR(parse_bytes(mmap), -BATON_EINVAL, "not a whole number of 24-byte entries");
}

TEST(Multiboot2, EndTag)
{
    std::vector<u8> bytes = build_with_map();
    usize end = bytes.size() - 8;
    ASSERT_EQ(get_u32(bytes, end), 0u);

    std::vector<u8> wrong_size = bytes;
    wrong_size.resize(bytes.size() + 8, 0);
    set_u32(wrong_size, 0, static_cast<u32>(wrong_size.size()));
    set_u32(wrong_size, end + 4, 16);
    EXPECT_PARSE_ERROR(parse_bytes(wrong_size), -BATON_EINVAL, "end tag at offset");
    EXPECT_PARSE_ERROR(parse_bytes(wrong_size), -BATON_EINVAL, "has size 16, expected 8");

    // The end tag turned into an unknown tag: the walk must stop at total_size.
    std::vector<u8> no_end = bytes;
    set_u32(no_end, end, 99);
    EXPECT_PARSE_ERROR(parse_bytes(no_end), -BATON_EINVAL, "no end tag within total_size");
}

TEST(Multiboot2, Strings)
{
    std::vector<u8> bytes = build_with_map("abc"); // tag size 12
    usize command_line = find_tag(bytes, 1);
    ASSERT_EQ(get_u32(bytes, command_line + 4), 12u);

    std::vector<u8> no_nul = bytes;
    no_nul[command_line + 11] = 'x'; // the NUL; the padding after it is outside the tag
    EXPECT_PARSE_ERROR(parse_bytes(no_nul), -BATON_EINVAL, "string not NUL-terminated within the tag");

    std::vector<u8> header_only = bytes;
    set_u32(header_only, command_line + 4, 8);
    EXPECT_PARSE_ERROR(parse_bytes(header_only), -BATON_EINVAL, "tag 1 (command line) at offset 0x8: string not NUL");

    // Bytes after the NUL inside the tag are ignored.
    std::vector<u8> early_nul = bytes;
    early_nul[command_line + 9] = '\0';
    Parsed parsed = parse_bytes(early_nul);
    ASSERT_EQ(parsed.error, 0) << parsed.message;
    EXPECT_STREQ(parsed.info->command_line, "a");
}

TEST(Multiboot2, CommandLineLength)
{
    std::string longest(BOOT_COMMAND_LINE_SIZE - 1, 'a');
    Parsed parsed = parse_bytes(build_with_map(longest.c_str()));
    ASSERT_EQ(parsed.error, 0) << parsed.message;
    EXPECT_EQ(std::string(parsed.info->command_line), longest);

    std::string too_long(BOOT_COMMAND_LINE_SIZE, 'a');
    parsed = parse_bytes(build_with_map(too_long.c_str()));
    EXPECT_EQ(parsed.error, -BATON_E2BIG);
    EXPECT_EQ(parsed.message, "multiboot2: command line at offset 0x8 is 1024 characters, more than the 1023 this "
                              "kernel keeps");
}

TEST(Multiboot2, LoaderNameIsTruncated)
{
    std::string name(200, 'g');
    Parsed parsed = parse_bytes(build([&](Multiboot2Writer &writer) {
        writer.add_loader_name(name.c_str());
        writer.add_memory_map(qemu_like_map, 1);
    }));
    ASSERT_EQ(parsed.error, 0) << parsed.message;
    EXPECT_TRUE(parsed.info->loader_name_truncated);
    EXPECT_EQ(std::string(parsed.info->loader_name), name.substr(0, BOOT_LOADER_NAME_SIZE - 1));
}

TEST(Multiboot2, MemoryMapEntrySize)
{
    auto map_with = [](u32 entry_size, u32 version, usize entries_bytes) {
        std::vector<u8> payload(8 + entries_bytes, 0);
        memcpy(&payload[0], &entry_size, 4);
        memcpy(&payload[4], &version, 4);
        return build([&](Multiboot2Writer &writer) { writer.add_tag(6, payload.data(), payload.size()); });
    };
    EXPECT_PARSE_ERROR(parse_bytes(map_with(0, 0, 48)), -BATON_EINVAL, "entry_size 0, smaller than 24");
    EXPECT_PARSE_ERROR(parse_bytes(map_with(16, 0, 48)), -BATON_EINVAL, "entry_size 16, smaller than 24");
    EXPECT_PARSE_ERROR(parse_bytes(map_with(28, 0, 56)), -BATON_EINVAL, "entry_size 28, not a multiple of 8");
    EXPECT_PARSE_ERROR(parse_bytes(map_with(32, 0, 72)), -BATON_EINVAL, "72 bytes of entries is not a whole number");
    EXPECT_PARSE_ERROR(parse_bytes(map_with(0xfffffff8, 0, 48)), -BATON_EINVAL, "not a whole number");
    EXPECT_PARSE_ERROR(parse_bytes(map_with(24, 0, 0)), -BATON_EINVAL, "has no entries");
    std::vector<u8> header_short = build([](Multiboot2Writer &writer) { writer.add_tag(6, "\x18\0\0\0", 4); });
    EXPECT_PARSE_ERROR(parse_bytes(header_short), -BATON_EINVAL, "smaller than its 16-byte header");

    // A later entry version with longer entries: the first 24 bytes are read.
    std::vector<u8> payload(8 + 2 * 40, 0);
    u32 entry_size = 40, version = 1;
    memcpy(&payload[0], &entry_size, 4);
    memcpy(&payload[4], &version, 4);
    for (usize i = 0; i < 2; i++) {
        MemoryMapEntry entry{0x100000 * (i + 1), 0x1000 * (i + 1), static_cast<u32>(i + 1)};
        memcpy(&payload[8 + i * 40], &entry.base, 8);
        memcpy(&payload[8 + i * 40 + 8], &entry.length, 8);
        memcpy(&payload[8 + i * 40 + 16], &entry.type, 4);
        memset(&payload[8 + i * 40 + 24], 0xff, 16); // new fields we do not know
    }
    Parsed parsed =
        parse_bytes(build([&](Multiboot2Writer &writer) { writer.add_tag(6, payload.data(), payload.size()); }));
    ASSERT_EQ(parsed.error, 0) << parsed.message;
    EXPECT_EQ(parsed.info->memory_map_entry_version, 1u);
    ASSERT_EQ(parsed.info->memory_map_count, 2u);
    EXPECT_EQ(parsed.info->memory_map[1].base, 0x200000u);
    EXPECT_EQ(parsed.info->memory_map[1].length, 0x2000u);
    EXPECT_EQ(parsed.info->memory_map[1].type, 2u);
}

TEST(Multiboot2, MemoryMapCapacity)
{
    std::vector<MemoryMapEntry> entries(MAX_MEMORY_MAP_ENTRIES + 1);
    for (usize i = 0; i < entries.size(); i++)
        entries[i] = MemoryMapEntry{i * 0x10000, 0x10000, 1};
    Parsed full = parse_bytes(
        build([&](Multiboot2Writer &writer) { writer.add_memory_map(entries.data(), MAX_MEMORY_MAP_ENTRIES); }));
    ASSERT_EQ(full.error, 0) << full.message;
    EXPECT_EQ(full.info->memory_map_count, MAX_MEMORY_MAP_ENTRIES);
    EXPECT_EQ(full.info->memory_map[127].base, 127u * 0x10000);

    Parsed over =
        parse_bytes(build([&](Multiboot2Writer &writer) { writer.add_memory_map(entries.data(), entries.size()); }));
    EXPECT_EQ(over.error, -BATON_E2BIG);
    EXPECT_EQ(over.message, "multiboot2: memory map has 129 entries, more than the 128 this kernel keeps");
}

TEST(Multiboot2, MemoryMapEntryWraps)
{
    const MemoryMapEntry wrapping[] = {{0x0, 0x9fc00, 1}, {0xfffffffffffff000, 0x2000, 2}};
    Parsed parsed = parse_bytes(build([&](Multiboot2Writer &writer) { writer.add_memory_map(wrapping, 2); }));
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "entry 1 (base 0xfffffffffffff000, length 0x2000) wraps");

    const MemoryMapEntry to_the_top[] = {{0xfffffffffffff000, 0x1000, 2}};
    parsed = parse_bytes(build([&](Multiboot2Writer &writer) { writer.add_memory_map(to_the_top, 1); }));
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "wraps the address space");

    // Zero-length and unknown-type entries are kept raw for the memory manager to judge.
    const MemoryMapEntry odd[] = {{0x1000, 0, 1}, {0x2000, 0x1000, 77}};
    parsed = parse_bytes(build([&](Multiboot2Writer &writer) { writer.add_memory_map(odd, 2); }));
    ASSERT_EQ(parsed.error, 0) << parsed.message;
    EXPECT_EQ(parsed.info->memory_map[1].type, 77u);
}

TEST(Multiboot2, Modules)
{
    std::vector<u8> bytes = build([](Multiboot2Writer &writer) {
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_module(0x300000, 0x301000, "image");
    });
    usize module = find_tag(bytes, 3);
    std::vector<u8> backwards = bytes;
    set_u32(backwards, module + 8, 0x302000);
    Parsed parsed = parse_bytes(backwards);
    EXPECT_EQ(parsed.error, -BATON_EINVAL);
    EXPECT_EQ(
        parsed.message, "multiboot2: module at offset 0x" + [&] {
            char hex[16];
            snprintf(hex, sizeof(hex), "%zx", module);
            return std::string(hex);
        }() + " ends (0x301000) before it starts (0x302000)");

    std::vector<u8> short_tag = bytes;
    set_u32(short_tag, module + 4, 12);
    EXPECT_PARSE_ERROR(parse_bytes(short_tag), -BATON_EINVAL, "tag 3 (module)");
    EXPECT_PARSE_ERROR(parse_bytes(short_tag), -BATON_EINVAL, "smaller than its 16-byte header");

    std::vector<u8> no_string = bytes;
    set_u32(no_string, module + 4, 16);
    EXPECT_PARSE_ERROR(parse_bytes(no_string), -BATON_EINVAL, "string not NUL-terminated");

    std::string long_string(BOOT_MODULE_STRING_SIZE, 's');
    parsed = parse_bytes(build([&](Multiboot2Writer &writer) {
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_module(0x300000, 0x301000, long_string.c_str());
    }));
    EXPECT_PARSE_ERROR(parsed, -BATON_E2BIG, "module string");
    EXPECT_PARSE_ERROR(parsed, -BATON_E2BIG, "is 256 characters, more than the 255");
}

TEST(Multiboot2, ModuleCapacity)
{
    auto with_modules = [](usize count) {
        return build([&](Multiboot2Writer &writer) {
            writer.add_memory_map(qemu_like_map, 1);
            for (usize i = 0; i < count; i++)
                writer.add_module(0x400000 + i * 0x1000, 0x400800 + i * 0x1000, "m");
        });
    };
    Parsed full = parse_bytes(with_modules(MAX_BOOT_MODULES));
    ASSERT_EQ(full.error, 0) << full.message;
    EXPECT_EQ(full.info->module_count, MAX_BOOT_MODULES);
    EXPECT_EQ(full.info->modules[15].range.start, 0x40f000u);
    EXPECT_PARSE_ERROR(parse_bytes(with_modules(MAX_BOOT_MODULES + 1)), -BATON_E2BIG, "more than 16 modules");
}

TEST(Multiboot2, DuplicateTags)
{
    Parsed parsed = parse_bytes(build([](Multiboot2Writer &writer) {
        writer.add_memory_map(qemu_like_map, 2);
        writer.add_memory_map(qemu_like_map, 3);
    }));
    EXPECT_EQ(parsed.error, -BATON_EINVAL);
    EXPECT_EQ(parsed.message, "multiboot2: tag 6 (memory map) appears twice, at offsets 0x8 and 0x48");

    parsed = parse_bytes(build([](Multiboot2Writer &writer) {
        writer.add_command_line("a");
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_command_line("b");
    }));
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "tag 1 (command line) appears twice");

    u8 rsdp[ACPI_RSDP_V2_SIZE] = {};
    parsed = parse_bytes(build([&](Multiboot2Writer &writer) {
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_acpi_new_rsdp(rsdp);
        writer.add_acpi_new_rsdp(rsdp);
    }));
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "tag 15 (ACPI 2.0 RSDP) appears twice");

    // Unknown tags may repeat freely.
    parsed = parse_bytes(build([](Multiboot2Writer &writer) {
        writer.add_tag(9, "abcdefgh", 8);
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_tag(9, "abcdefgh", 8);
    }));
    EXPECT_EQ(parsed.error, 0) << parsed.message;
}

TEST(Multiboot2, FixedSizeTagsTooSmall)
{
    Parsed parsed = parse_bytes(build([](Multiboot2Writer &writer) {
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_tag(14, "RSD PTR ", 8);
    }));
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "tag 14 (ACPI 1.0 RSDP) at offset");
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "too small for a 20-byte RSDP");

    u8 v1_sized[ACPI_RSDP_V1_SIZE] = {};
    parsed = parse_bytes(build([&](Multiboot2Writer &writer) {
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_tag(15, v1_sized, sizeof(v1_sized));
    }));
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "too small for a 36-byte RSDP");

    parsed = parse_bytes(build([](Multiboot2Writer &writer) {
        writer.add_memory_map(qemu_like_map, 1);
        writer.add_tag(4, "\x7f\x02\0\0", 4);
    }));
    EXPECT_PARSE_ERROR(parsed, -BATON_EINVAL, "tag 4 (basic memory info)");
}

TEST(Multiboot2, SmallMessageBuffer)
{
    std::vector<u8> bytes = build([](Multiboot2Writer &writer) { writer.add_command_line("x"); });
    ExactBlock block(bytes);
    BootInfo info;
    char message[12];
    memset(message, 'z', sizeof(message));
    EXPECT_EQ(parse_multiboot2(block.data.get(), INFO_PHYS, block.size, info, message, sizeof(message)), -BATON_ENOENT);
    EXPECT_STREQ(message, "multiboot2:");
    EXPECT_EQ(parse_multiboot2(block.data.get(), INFO_PHYS, block.size, info, nullptr, 0), -BATON_ENOENT);
}

// Hostile inputs: random corruption of valid blocks must give either success or a clear
// error, never a read outside the block (ASan watches the exact-size copy).
TEST(Multiboot2, SurvivesRandomCorruption)
{
    u8 rsdp[ACPI_RSDP_V2_SIZE] = {};
    std::vector<u8> valid = build([&](Multiboot2Writer &writer) {
        writer.add_loader_name("GRUB");
        writer.add_command_line("lu_bootmem=64M");
        writer.add_memory_map(qemu_like_map, std::size(qemu_like_map));
        writer.add_module(0x300000, 0x301000, "image");
        writer.add_acpi_new_rsdp(rsdp);
    });
    std::mt19937 random(1234);
    int accepted = 0;
    int rejected = 0;
    for (int round = 0; round < 20000; round++) {
        std::vector<u8> bytes = valid;
        int flips = 1 + static_cast<int>(random() % 4);
        for (int i = 0; i < flips; i++) {
            usize at = random() % bytes.size();
            // Bias toward the 32-bit length and type fields, the interesting ones.
            if (random() % 2)
                set_u32(bytes, at & ~usize{3}, static_cast<u32>(random() % 64));
            else
                bytes[at] = static_cast<u8>(random());
        }
        usize bound = (random() % 4 == 0) ? random() % (bytes.size() + 1) : bytes.size();
        Parsed parsed = parse_bytes(bytes, bound);
        if (parsed.error == 0) {
            accepted++;
            EXPECT_LE(parsed.info->memory_map_count, MAX_MEMORY_MAP_ENTRIES);
            EXPECT_LE(parsed.info->info_range.size(), bound);
        } else {
            rejected++;
            ASSERT_EQ(parsed.message.rfind("multiboot2: ", 0), 0u) << parsed.message;
            ASSERT_GT(parsed.message.size(), 14u);
        }
    }
    EXPECT_GT(accepted, 100);
    EXPECT_GT(rejected, 100);
}

TEST(Multiboot2Writer, BufferTooSmall)
{
    std::vector<u8> reference = build_with_map("loglevel=debug");
    for (usize capacity = 0; capacity <= reference.size(); capacity += 8) {
        // Guard words after the capacity must stay untouched.
        std::vector<u64> storage(capacity / 8 + 4, 0x5a5a5a5a5a5a5a5a);
        Multiboot2Writer writer(storage.data(), capacity);
        writer.add_command_line("loglevel=debug");
        writer.add_memory_map(qemu_like_map, std::size(qemu_like_map));
        usize size = 1;
        int error = writer.finish(size);
        if (capacity < reference.size()) {
            EXPECT_EQ(error, -BATON_ENOSPC) << capacity;
            EXPECT_EQ(size, 0u);
        } else {
            ASSERT_EQ(error, 0);
            EXPECT_EQ(size, reference.size());
            EXPECT_EQ(memcmp(storage.data(), reference.data(), size), 0);
        }
        for (usize i = capacity / 8; i < storage.size(); i++)
            EXPECT_EQ(storage[i], 0x5a5a5a5a5a5a5a5au) << "capacity " << capacity << " word " << i;
    }
}

TEST(Multiboot2Writer, RejectsBadArguments)
{
    alignas(8) u8 buffer[256];
    usize size;
    {
        Multiboot2Writer writer(buffer + 4, 128);
        EXPECT_EQ(writer.finish(size), -BATON_EINVAL);
    }
    {
        Multiboot2Writer writer(buffer, sizeof(buffer));
        writer.add_module(0x100000000, 0x100001000, "high"); // above 4 GiB: not expressible
        EXPECT_EQ(writer.error(), -BATON_EINVAL);
        writer.add_command_line("ignored after the first failure");
        EXPECT_EQ(writer.finish(size), -BATON_EINVAL);
    }
    {
        Multiboot2Writer writer(buffer, sizeof(buffer));
        writer.add_module(0x2000, 0x1000, "backwards");
        EXPECT_EQ(writer.finish(size), -BATON_EINVAL);
    }
    {
        Multiboot2Writer writer(buffer, sizeof(buffer));
        writer.add_memory_map(qemu_like_map, 0);
        EXPECT_EQ(writer.finish(size), -BATON_EINVAL);
    }
    {
        Multiboot2Writer writer(buffer, sizeof(buffer));
        writer.add_command_line(nullptr);
        EXPECT_EQ(writer.finish(size), -BATON_EINVAL);
    }
    {
        Multiboot2Writer writer(buffer, sizeof(buffer));
        writer.add_memory_map(qemu_like_map, 1);
        ASSERT_EQ(writer.finish(size), 0);
        EXPECT_EQ(size, 8u + 16 + 24 + 8);
        writer.add_command_line("too late");
        EXPECT_EQ(writer.error(), -BATON_EINVAL);
    }
    {
        Multiboot2Writer writer(buffer, sizeof(buffer));
        writer.add_tag(77, nullptr, ~usize{0} - 4); // length overflow, not a wild copy
        EXPECT_EQ(writer.finish(size), -BATON_EINVAL);
    }
    {
        Multiboot2Writer writer(buffer, sizeof(buffer));
        writer.add_tag(77, buffer, ~usize{0} - 4);
        EXPECT_EQ(writer.finish(size), -BATON_ENOSPC);
    }
}

TEST(BootInfo, LogSummary)
{
    Parsed parsed = parse_bytes(build([](Multiboot2Writer &writer) {
        writer.add_loader_name("GRUB 2.06");
        writer.add_command_line("loglevel=info");
        writer.add_memory_map(qemu_like_map, std::size(qemu_like_map));
        writer.add_module(0x200000, 0x201000, "next");
    }));
    ASSERT_EQ(parsed.error, 0);
    console_capture_begin();
    log_boot_info(*parsed.info);
    std::string out = console_capture_end();
    EXPECT_TRUE(contains(out, "[I] boot: loader 'GRUB 2.06', information block [0x10a000, 0x")) << out;
    EXPECT_TRUE(contains(out, "[I] boot: command line 'loglevel=info'\n")) << out;
    EXPECT_TRUE(contains(out, "[I] boot: memory map: 7 entries, 523775 KiB available\n")) << out;
    EXPECT_TRUE(contains(out, "[I] boot: module 0 [0x200000, 0x201000) 'next'\n")) << out;
}
