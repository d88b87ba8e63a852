// SPDX-License-Identifier: MIT
// Unit tests for the checked ELF64 reader used by the guest loader and image checks.
#include "abi/errno.h"
#include "elf_builder.hpp"
#include "lib/elf.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

namespace {

using Segment = TestSegment;

std::vector<uint8_t> make_elf(const std::vector<Segment> &segments, uint64_t entry = 0x100010)
{
    return build_elf(segments, entry);
}

int parse(const std::vector<uint8_t> &file, ElfImage &image, std::string &message)
{
    char buffer[ELF_MESSAGE_SIZE];
    buffer[0] = 0;
    int result = elf_parse(file.data(), file.size(), image, buffer, sizeof(buffer));
    message = buffer;
    return result;
}

} // namespace

TEST(Elf, ParsesLoadableSegments)
{
    Segment data;
    data.flags = 6;
    data.paddr = 0x200000;
    data.memsz = 0x1000;
    ElfImage image;
    std::string message;
    ASSERT_EQ(parse(make_elf({Segment{}, data}), image, message), 0) << message;
    EXPECT_EQ(image.entry, 0x100010u);
    ASSERT_EQ(image.segment_count, 2u);
    EXPECT_EQ(image.segments[0].file_size, 0x100u);
    EXPECT_EQ(image.segments[0].memory_size, 0x2000u);
    EXPECT_EQ(image.lowest_address, 0x100000u);
    EXPECT_EQ(image.highest_address, 0x201000u);
}

TEST(Elf, RejectsWithSpecificReasons)
{
    ElfImage image;
    std::string message;
    auto expect_reason = [&](std::vector<uint8_t> file, const char *reason) {
        EXPECT_EQ(parse(file, image, message), -BATON_EINVAL) << reason;
        EXPECT_NE(message.find(reason), std::string::npos) << "got: " << message;
    };
    auto good = make_elf({Segment{}});

    expect_reason(std::vector<uint8_t>(good.begin(), good.begin() + 40), "smaller than an ELF header");
    auto bad_magic = good;
    bad_magic[1] = 'X';
    expect_reason(bad_magic, "bad magic");
    auto bits32 = good;
    bits32[4] = 1;
    expect_reason(bits32, "64-bit little-endian");
    auto dyn = good;
    dyn[16] = 3;
    expect_reason(dyn, "not an x86-64 executable");
    expect_reason(std::vector<uint8_t>(good.begin(), good.begin() + 100), "program header table outside");

    Segment too_big;
    too_big.memsz = 0x10;
    expect_reason(make_elf({too_big}), "exceeds memory size");
    Segment wraps;
    wraps.paddr = ~0ull - 0x10;
    expect_reason(make_elf({wraps}, wraps.paddr), "wraps around");
    expect_reason(make_elf({Segment{}, Segment{}}), "segments overlap");
    expect_reason(make_elf({Segment{}}, 0x500000), "entry point 0x500000 is not inside");
    Segment not_exec;
    not_exec.flags = 6;
    expect_reason(make_elf({not_exec}), "not inside an executable segment");
    Segment note;
    note.type = 4;
    expect_reason(make_elf({note}), "no loadable segment");

    auto truncated = make_elf({Segment{}});
    truncated.resize(truncated.size() - 1);
    expect_reason(truncated, "lie outside the file");
}

TEST(Elf, FindsNotes)
{
    // A note: namesz 6 ("Baton\0"), descsz 8, type 0x42, padded to 4 bytes.
    std::vector<uint8_t> note = {6,   0,   0,   0, 8, 0, 0, 0, 0x42, 0, 0, 0, 'B', 'a',
                                 't', 'o', 'n', 0, 0, 0, 1, 2, 3,    4, 5, 6, 7,   8};
    Segment note_segment;
    note_segment.type = 4;
    note_segment.bytes = note;
    auto file = make_elf({Segment{}, note_segment});
    uint32_t size = 0;
    const uint8_t *descriptor =
        static_cast<const uint8_t *>(elf_find_note(file.data(), file.size(), "Baton", 0x42, size));
    ASSERT_NE(descriptor, nullptr);
    EXPECT_EQ(size, 8u);
    EXPECT_EQ(descriptor[0], 1);
    EXPECT_EQ(elf_find_note(file.data(), file.size(), "Baton", 0x43, size), nullptr);
    EXPECT_EQ(elf_find_note(file.data(), file.size(), "Xen", 0x42, size), nullptr);
}

TEST(Elf, RandomCorruptionNeverReadsOutside)
{
    // ASan catches any read past the exact-size copy.
    auto good = make_elf({Segment{}});
    std::mt19937 random(7);
    for (int round = 0; round < 5000; round++) {
        auto file = good;
        for (int flips = 0; flips < 4; flips++)
            file[random() % file.size()] = static_cast<uint8_t>(random());
        file.resize(random() % (file.size() + 1));
        std::vector<uint8_t> exact(file);
        ElfImage image;
        char message[ELF_MESSAGE_SIZE];
        uint32_t size;
        // Success or refusal both fine: what is tested is that nothing outside is read.
        (void)elf_parse(exact.data(), exact.size(), image, message, sizeof(message));
        elf_find_note(exact.data(), exact.size(), "Baton", 1, size);
    }
}
