// SPDX-License-Identifier: MIT
// Test helper: small Baton images in memory, sealed and signed as the build does
// (tools/image), with keys made by OpenSSL in a temporary directory.
#pragma once
#include "abi/errno.h"
#include "elf_builder.hpp"
#include "handover/image_check.hpp"
#include "handover/image_digest.hpp"
#include "handover_layout.hpp"
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace image_test {

constexpr uint32_t WRITES = handover::schema::HANDOVER_ABI_VERSION;
constexpr uint64_t CODE_ADDRESS = 0x200000, DATA_ADDRESS = 0x210000, NOTE_IN_CODE = 0x40;
constexpr size_t PROGRAM_HEADERS = 64; // file offset of the first program header
constexpr size_t PROGRAM_HEADER_SIZE = 56;

struct ImageParts {
    bool multiboot2 = true;
    bool bad_checksum = false;
    bool note = true;
    // As in the real image: the note lies in a loaded segment, so the digest field is one
    // of the loaded bytes. Otherwise the note has only its PT_NOTE segment.
    bool note_in_code = true;
    uint32_t note_version = BATON_IMAGE_NOTE_VERSION;
    uint32_t note_size = sizeof(baton_image_note); // the descriptor's size
    uint32_t read_min = WRITES;
    uint32_t read_max = WRITES;
    const char *build_id = "test-build-B";
};

// Segment i's program header lies at this file offset; its fields at +8 offset, +24
// paddr, +32 filesz, +40 memsz.
inline size_t program_header(size_t i) { return PROGRAM_HEADERS + PROGRAM_HEADER_SIZE * i; }

template <typename T>
T read_at(const std::vector<uint8_t> &file, size_t at)
{
    T value;
    std::memcpy(&value, file.data() + at, sizeof(value));
    return value;
}

template <typename T>
void write_at(std::vector<uint8_t> &file, size_t at, T value)
{
    std::memcpy(file.data() + at, &value, sizeof(value));
}

// An ELF executable: a RX PT_LOAD (multiboot2 header first, the note at NOTE_IN_CODE), a
// RW PT_LOAD with bss (file size below memory size) and a PT_NOTE. Not sealed.
inline std::vector<uint8_t> make_image(const ImageParts &parts = {})
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
        descriptor.note_version = parts.note_version;
        descriptor.record_write_version = WRITES;
        descriptor.record_read_min = parts.read_min;
        descriptor.record_read_max = parts.read_max;
        std::strcpy(descriptor.version, "0.1.0");
        std::strncpy(descriptor.build_id, parts.build_id, sizeof(descriptor.build_id));
        uint32_t head[3] = {6, parts.note_size, BATON_IMAGE_NOTE_TYPE};
        note.resize(12 + 8 + (parts.note_size + 3) / 4 * 4);
        std::memcpy(note.data(), head, 12);
        std::memcpy(note.data() + 12, "Baton\0\0", 8);
        std::memcpy(note.data() + 20, &descriptor, std::min<size_t>(parts.note_size, sizeof(descriptor)));
        if (parts.note_in_code)
            std::memcpy(code.data() + NOTE_IN_CODE, note.data(), note.size());
    }
    TestSegment load;
    load.paddr = CODE_ADDRESS;
    load.memsz = 0x1000;
    load.bytes = code;
    TestSegment data;
    data.flags = 6;
    data.paddr = DATA_ADDRESS;
    data.memsz = 0x2000;
    data.bytes = std::vector<uint8_t>(0x80);
    for (size_t i = 0; i < data.bytes.size(); i++)
        data.bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    std::vector<TestSegment> segments{load, data};
    if (parts.note) {
        TestSegment note_segment;
        note_segment.type = 4;
        note_segment.flags = 4;
        note_segment.paddr = 0x300000;
        note_segment.memsz = note.size();
        note_segment.bytes = parts.note_in_code ? std::vector<uint8_t>{} : note;
        segments.push_back(note_segment);
    }
    std::vector<uint8_t> file = build_elf(segments, CODE_ADDRESS + 0x10);
    if (parts.note && parts.note_in_code) { // the PT_NOTE names the note inside the code
        uint64_t code_offset = read_at<uint64_t>(file, program_header(0) + 8);
        write_at<uint64_t>(file, program_header(2) + 8, code_offset + NOTE_IN_CODE);
        write_at<uint64_t>(file, program_header(2) + 32, note.size());
    }
    return file;
}

// File offset of the note descriptor (the image must have one).
inline size_t note_offset(const std::vector<uint8_t> &image)
{
    u32 size = 0;
    const void *note = elf_find_note(image.data(), image.size(), BATON_IMAGE_NOTE_OWNER, BATON_IMAGE_NOTE_TYPE, size);
    EXPECT_NE(note, nullptr);
    return note == nullptr ? 0 : static_cast<size_t>(static_cast<const uint8_t *>(note) - image.data());
}

inline Sha256Digest digest_of(const std::vector<uint8_t> &image)
{
    ElfImage elf;
    char why[ELF_MESSAGE_SIZE];
    EXPECT_EQ(elf_parse(image.data(), image.size(), elf, why, sizeof(why)), 0) << why;
    return image_digest(image.data(), image.size(), elf, note_offset(image));
}

// Writes the digest into the note, as `baton-image seal` does.
inline void seal(std::vector<uint8_t> &image)
{
    const Sha256Digest digest = digest_of(image);
    std::memcpy(image.data() + note_offset(image) + IMAGE_DIGEST_FIELD_OFFSET, digest.bytes, sizeof(digest.bytes));
}

using PublicKey = std::array<u8, ED25519_PUBLIC_KEY_SIZE>;
using Signature = std::array<u8, ED25519_SIGNATURE_SIZE>;

inline std::vector<uint8_t> read_file(const std::string &path)
{
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

inline bool run(const std::string &command) { return std::system((command + " 2>&1").c_str()) == 0; }

// An Ed25519 key pair made by OpenSSL (a dependency of the build) in a temporary directory.
class TestSigner final {
public:
    explicit TestSigner(const std::string &name)
    {
        char pattern[] = "/tmp/baton-image-test-XXXXXX";
        const char *directory = mkdtemp(pattern);
        EXPECT_NE(directory, nullptr);
        directory_ = directory != nullptr ? directory : "/tmp";
        key_ = directory_ + "/" + name + ".pem";
        EXPECT_TRUE(run("openssl genpkey -algorithm ed25519 -out " + key_));
        EXPECT_TRUE(run("openssl pkey -in " + key_ + " -pubout -outform DER -out " + key_ + ".der"));
        std::vector<uint8_t> der = read_file(key_ + ".der");
        EXPECT_EQ(der.size(), 44u) << "an Ed25519 SubjectPublicKeyInfo";
        if (der.size() == 44)
            std::memcpy(public_key_.data(), der.data() + 12, public_key_.size());
    }
    TestSigner(const TestSigner &) = delete;
    TestSigner &operator=(const TestSigner &) = delete;
    ~TestSigner() { (void)std::system(("rm -rf " + directory_).c_str()); }

    const PublicKey &public_key() const { return public_key_; }

    Signature sign(const void *message, size_t size) const
    {
        const std::string in = directory_ + "/message", out = directory_ + "/signature";
        std::ofstream(in, std::ios::binary)
            .write(static_cast<const char *>(message), static_cast<std::streamsize>(size));
        EXPECT_TRUE(run("openssl pkeyutl -sign -rawin -inkey " + key_ + " -in " + in + " -out " + out));
        std::vector<uint8_t> bytes = read_file(out);
        Signature signature{};
        EXPECT_EQ(bytes.size(), signature.size());
        if (bytes.size() == signature.size())
            std::memcpy(signature.data(), bytes.data(), signature.size());
        return signature;
    }

private:
    std::string directory_;
    std::string key_;
    PublicKey public_key_{};
};

// Two keys made once per test run: the one the tests' policies trust, and another.
inline const TestSigner &trusted_signer()
{
    static const TestSigner signer("trusted");
    return signer;
}

inline const TestSigner &other_signer()
{
    static const TestSigner signer("other");
    return signer;
}

// The message a sealed image's signature signs, from the image itself.
inline std::array<u8, IMAGE_SIGNED_MESSAGE_SIZE> signed_message(const std::vector<uint8_t> &image)
{
    baton_image_note note;
    std::memcpy(&note, image.data() + note_offset(image), sizeof(note));
    Sha256Digest digest;
    std::memcpy(digest.bytes, note.digest, sizeof(digest.bytes));
    u8 bytes[IMAGE_SIGNED_MESSAGE_SIZE];
    image_signed_message(digest, note, bytes);
    std::array<u8, IMAGE_SIGNED_MESSAGE_SIZE> message{};
    std::memcpy(message.data(), bytes, sizeof(bytes));
    return message;
}

inline void append_trailer(std::vector<uint8_t> &image, const PublicKey &key, const Signature &signature,
                           uint32_t version = BATON_IMAGE_SIGNATURE_VERSION, uint32_t size = BATON_IMAGE_SIGNATURE_SIZE)
{
    baton_image_signature trailer{};
    std::memcpy(trailer.magic, BATON_IMAGE_SIGNATURE_MAGIC, sizeof(trailer.magic));
    trailer.version = version;
    trailer.size = size;
    std::memcpy(trailer.public_key, key.data(), key.size());
    std::memcpy(trailer.signature, signature.data(), signature.size());
    const auto *bytes = reinterpret_cast<const uint8_t *>(&trailer);
    image.insert(image.end(), bytes, bytes + sizeof(trailer));
}

// Seals and signs, as the build does.
inline std::vector<uint8_t> signed_image(std::vector<uint8_t> image, const TestSigner &signer = trusted_signer())
{
    seal(image);
    const auto message = signed_message(image);
    append_trailer(image, signer.public_key(), signer.sign(message.data(), message.size()));
    return image;
}

inline std::vector<uint8_t> signed_image(const ImageParts &parts = {}) { return signed_image(make_image(parts)); }

struct Verdict {
    int error;
    std::string why;
    ImageInfo info;
};

// check_next_image with a policy trusting `keys` (the trusted signer's by default).
inline Verdict check(const std::vector<uint8_t> &file, bool require_signature = true,
                     std::vector<PublicKey> keys = {trusted_signer().public_key()})
{
    auto table = std::make_unique<u8[][ED25519_PUBLIC_KEY_SIZE]>(keys.size());
    for (size_t i = 0; i < keys.size(); i++)
        std::memcpy(table[i], keys[i].data(), ED25519_PUBLIC_KEY_SIZE);
    const ImagePolicy policy{table.get(), keys.size(), require_signature};
    Verdict verdict{};
    char message[IMAGE_CHECK_MESSAGE_SIZE] = {};
    verdict.error = check_next_image(file.data(), file.size(), WRITES, policy, verdict.info, message, sizeof(message));
    verdict.why = message;
    return verdict;
}

inline std::string hex8(const uint8_t *bytes)
{
    char text[17];
    for (int i = 0; i < 8; i++)
        std::snprintf(text + 2 * i, 3, "%02x", bytes[i]);
    return text;
}

} // namespace image_test
