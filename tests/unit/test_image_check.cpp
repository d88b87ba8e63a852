// SPDX-License-Identifier: MIT
// Unit tests for judging a candidate next image: ELF, multiboot2 header, image note, ABI.
#include "abi/errno.h"
#include "elf_builder.hpp"
#include "handover/image_check.hpp"
#include "handover_layout.hpp"
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <string>
#include <vector>

namespace {

constexpr uint32_t WRITES = handover::schema::HANDOVER_ABI_VERSION;

struct ImageParts {
    bool multiboot2 = true;
    bool bad_checksum = false;
    bool note = true;
    uint32_t read_min = WRITES;
    uint32_t read_max = WRITES;
    const char *build_id = "test-build-B";
};

// An ELF executable: one RX PT_LOAD (multiboot2 header first) and one PT_NOTE.
std::vector<uint8_t> make_image(const ImageParts &parts)
{
    std::vector<uint8_t> code(0x100, 0x90);
    if (parts.multiboot2) {
        uint32_t header[4] = {0xe85250d6, 0, 16, 0};
        header[3] = 0u - (header[0] + header[1] + header[2]) + (parts.bad_checksum ? 1 : 0);
        std::memcpy(code.data(), header, sizeof(header));
    }
    std::vector<uint8_t> note;
    if (parts.note) {
        baton_image_note descriptor{};
        descriptor.note_version = 1;
        descriptor.record_write_version = WRITES;
        descriptor.record_read_min = parts.read_min;
        descriptor.record_read_max = parts.read_max;
        std::strcpy(descriptor.version, "0.1.0");
        std::strncpy(descriptor.build_id, parts.build_id, sizeof(descriptor.build_id));
        uint32_t head[3] = {6, sizeof(descriptor), BATON_IMAGE_NOTE_TYPE};
        note.resize(12 + 8 + sizeof(descriptor));
        std::memcpy(note.data(), head, 12);
        std::memcpy(note.data() + 12, "Baton\0\0", 8);
        std::memcpy(note.data() + 20, &descriptor, sizeof(descriptor));
    }
    TestSegment load;
    load.paddr = 0x200000;
    load.memsz = code.size();
    load.bytes = code;
    std::vector<TestSegment> segments{load};
    if (parts.note) {
        TestSegment note_segment;
        note_segment.type = 4;
        note_segment.flags = 4;
        note_segment.paddr = 0x300000;
        note_segment.memsz = note.size();
        note_segment.bytes = note;
        segments.push_back(note_segment);
    }
    std::vector<uint8_t> file = build_elf(segments, 0x200010);
    return file;
}

int check(const std::vector<uint8_t> &file, std::string &why, ImageInfo &info)
{
    char message[IMAGE_CHECK_MESSAGE_SIZE] = {};
    int result = check_next_image(file.data(), file.size(), WRITES, info, message, sizeof(message));
    why = message;
    return result;
}

} // namespace

TEST(ImageCheck, AcceptsACompatibleImage)
{
    ImageInfo info;
    std::string why;
    ASSERT_EQ(check(make_image({}), why, info), 0) << why;
    EXPECT_STREQ(info.note.build_id, "test-build-B");
    EXPECT_STREQ(info.note.version, "0.1.0");
    EXPECT_EQ(info.multiboot2_header_offset, 64u + 2 * 56) << "the first byte of the code segment";
    EXPECT_EQ(info.elf.entry, 0x200010u);
}

TEST(ImageCheck, RefusesWithTheReason)
{
    ImageInfo info;
    std::string why;
    EXPECT_EQ(check({}, why, info), -BATON_EINVAL);
    EXPECT_EQ(why, "image: empty");
    std::vector<uint8_t> garbage(5000, 0x41);
    EXPECT_EQ(check(garbage, why, info), -BATON_EINVAL);
    EXPECT_NE(why.find("not an ELF file"), std::string::npos) << why;

    ImageParts no_header;
    no_header.multiboot2 = false;
    EXPECT_EQ(check(make_image(no_header), why, info), -BATON_EINVAL);
    EXPECT_NE(why.find("no valid multiboot2 header"), std::string::npos) << why;
    ImageParts bad_checksum;
    bad_checksum.bad_checksum = true;
    EXPECT_EQ(check(make_image(bad_checksum), why, info), -BATON_EINVAL);

    ImageParts no_note;
    no_note.note = false;
    EXPECT_EQ(check(make_image(no_note), why, info), -BATON_EINVAL);
    EXPECT_NE(why.find("not a Baton hypervisor image"), std::string::npos) << why;

    ImageParts newer;
    newer.read_min = WRITES + 1;
    newer.read_max = WRITES + 3;
    EXPECT_EQ(check(make_image(newer), why, info), -BATON_EPERM);
    EXPECT_NE(why.find("reads handover records v" + std::to_string(WRITES + 1)), std::string::npos) << why;
    ImageParts inverted;
    inverted.read_min = 3;
    inverted.read_max = 1;
    EXPECT_EQ(check(make_image(inverted), why, info), -BATON_EINVAL);
    ImageParts unterminated;
    std::string long_id(60, 'x');
    unterminated.build_id = long_id.c_str();
    EXPECT_EQ(check(make_image(unterminated), why, info), -BATON_EINVAL);
    EXPECT_EQ(why, "image: malformed image note");
}

TEST(ImageCheck, TheBuiltKernelPassesItsOwnCheck)
{
    std::ifstream file(BATON_BUILD_DIR "/baton.elf", std::ios::binary);
    ASSERT_TRUE(file.good()) << "build the kernel first: " BATON_BUILD_DIR "/baton.elf";
    std::vector<uint8_t> image((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    ImageInfo info;
    std::string why;
    ASSERT_EQ(check(image, why, info), 0) << why;
    EXPECT_EQ(info.note.record_write_version, WRITES);
    EXPECT_LE(info.note.record_read_min, WRITES);
    EXPECT_GE(info.note.record_read_max, WRITES);
    EXPECT_GT(std::strlen(info.note.build_id), 2u);
    EXPECT_EQ(info.elf.entry, 0x200040u) << "the 32-bit multiboot2 entry";
}
