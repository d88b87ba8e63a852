// SPDX-License-Identifier: MIT
// Unit tests for judging a candidate next image: ELF, multiboot2 header, image note, ABI,
// and the image digest (docs/image-signing.md). The signature: test_image_signature.cpp.
#include "image_test_support.hpp"

using namespace image_test;

TEST(ImageCheck, AcceptsACompatibleImage)
{
    Verdict verdict = check(signed_image());
    ASSERT_EQ(verdict.error, 0) << verdict.why;
    EXPECT_EQ(verdict.why, "");
    const ImageInfo &info = verdict.info;
    EXPECT_STREQ(info.note.build_id, "test-build-B");
    EXPECT_STREQ(info.note.version, "0.1.0");
    EXPECT_EQ(info.note.note_version, 2u);
    EXPECT_EQ(info.multiboot2_header_offset, 64u + 3 * 56) << "the first byte of the code segment";
    EXPECT_EQ(info.elf.entry, CODE_ADDRESS + 0x10);
    EXPECT_EQ(info.signature_state, SignatureState::trusted);
    EXPECT_EQ(std::memcmp(info.signer_key, trusted_signer().public_key().data(), 32), 0);
    EXPECT_EQ(std::memcmp(info.digest.bytes, info.note.digest, 32), 0);
}

TEST(ImageCheck, RefusesWithTheReason)
{
    Verdict verdict = check({});
    EXPECT_EQ(verdict.error, -BATON_EINVAL);
    EXPECT_EQ(verdict.why, "image: empty");
    verdict = check(std::vector<uint8_t>(5000, 0x41));
    EXPECT_EQ(verdict.error, -BATON_EINVAL);
    EXPECT_NE(verdict.why.find("not an ELF file"), std::string::npos) << verdict.why;

    ImageParts no_header;
    no_header.multiboot2 = false;
    verdict = check(signed_image(no_header));
    EXPECT_EQ(verdict.error, -BATON_EINVAL);
    EXPECT_NE(verdict.why.find("no valid multiboot2 header"), std::string::npos) << verdict.why;
    ImageParts bad_checksum;
    bad_checksum.bad_checksum = true;
    EXPECT_EQ(check(signed_image(bad_checksum)).error, -BATON_EINVAL);

    ImageParts no_note;
    no_note.note = false;
    verdict = check(make_image(no_note));
    EXPECT_EQ(verdict.error, -BATON_EINVAL);
    EXPECT_NE(verdict.why.find("not a Baton hypervisor image"), std::string::npos) << verdict.why;

    ImageParts newer;
    newer.read_min = WRITES + 1;
    newer.read_max = WRITES + 3;
    verdict = check(signed_image(newer));
    EXPECT_EQ(verdict.error, -BATON_EPERM);
    EXPECT_NE(verdict.why.find("reads handover records v" + std::to_string(WRITES + 1)), std::string::npos)
        << verdict.why;
    ImageParts inverted;
    inverted.read_min = 3;
    inverted.read_max = 1;
    EXPECT_EQ(check(signed_image(inverted)).error, -BATON_EINVAL);
    ImageParts unterminated;
    std::string long_id(60, 'x');
    unterminated.build_id = long_id.c_str();
    verdict = check(make_image(unterminated));
    EXPECT_EQ(verdict.error, -BATON_EINVAL);
    EXPECT_EQ(verdict.why, "image: malformed image note");
}

TEST(ImageCheck, RefusesAVersion1NoteAndAShortOne)
{
    ImageParts v1;
    v1.note_version = 1;
    v1.note_size = IMAGE_NOTE_V1_SIZE; // what a version-1 build wrote
    for (bool require : {true, false}) {
        Verdict verdict = check(make_image(v1), require);
        EXPECT_EQ(verdict.error, -BATON_EPERM);
        EXPECT_EQ(verdict.why, "image: its note (v1) carries no digest; rebuild it");
    }
    ImageParts short_v2;
    short_v2.note_size = IMAGE_NOTE_V1_SIZE;
    Verdict verdict = check(make_image(short_v2));
    EXPECT_EQ(verdict.error, -BATON_EINVAL);
    EXPECT_EQ(verdict.why, "image: image note v2 of 80 bytes is too short");
    ImageParts shorter;
    shorter.note_size = 40;
    verdict = check(make_image(shorter));
    EXPECT_EQ(verdict.error, -BATON_EINVAL);
    EXPECT_EQ(verdict.why, "image: image note of 40 bytes is too short");
}

TEST(ImageCheck, RefusesAnUnsealedImageWhateverThePolicy)
{
    std::vector<uint8_t> image = make_image();
    const auto message = signed_message(image); // of the unsealed note: a zero digest
    append_trailer(image, trusted_signer().public_key(), trusted_signer().sign(message.data(), message.size()));
    for (bool require : {true, false}) {
        Verdict verdict = check(image, require);
        EXPECT_EQ(verdict.error, -BATON_EBADMSG);
        EXPECT_EQ(verdict.why, "image: not sealed (no digest written by the build)");
    }
}

// The definition of docs/image-signing.md, written out again step by step.
TEST(ImageDigest, IsStableAndFollowsItsDefinition)
{
    for (bool note_in_code : {true, false}) {
        ImageParts parts;
        parts.note_in_code = note_in_code;
        const std::vector<uint8_t> image = make_image(parts);
        const size_t note = note_offset(image);

        Sha256 hash;
        hash.update("BATON-IMAGE-DIGEST-1", 21);
        uint64_t entry = CODE_ADDRESS + 0x10; // little-endian on x86-64, as the definition says
        hash.update(&entry, 8);
        hash.update(image.data() + note, sizeof(baton_image_note)); // its digest field is still zero
        for (size_t i = 0; i < 2; i++) {
            const size_t ph = program_header(i);
            hash.update(image.data() + ph + 24, 8); // paddr
            hash.update(image.data() + ph + 40, 8); // memsz
            hash.update(image.data() + ph + 32, 8); // filesz
            hash.update(image.data() + read_at<uint64_t>(image, ph + 8), read_at<uint64_t>(image, ph + 32));
        }
        const Sha256Digest expected = hash.finish();
        EXPECT_EQ(digest_of(image), expected) << "note in code: " << note_in_code;
        EXPECT_EQ(digest_of(image), digest_of(image));

        // The digest field counts as zeros: sealing does not change the digest, and
        // sealing twice writes the same bytes.
        std::vector<uint8_t> sealed = image;
        seal(sealed);
        EXPECT_NE(sealed, image);
        EXPECT_EQ(digest_of(sealed), expected);
        std::vector<uint8_t> resealed = sealed;
        seal(resealed);
        EXPECT_EQ(resealed, sealed);
        EXPECT_EQ(std::memcmp(sealed.data() + note + IMAGE_DIGEST_FIELD_OFFSET, expected.bytes, 32), 0);
    }
}

namespace {

// The refusal of a sealed image whose bytes changed after sealing.
void expect_damaged(const std::vector<uint8_t> &image, const std::string &what)
{
    Verdict verdict = check(image, false);
    ASSERT_EQ(verdict.error, -BATON_EBADMSG) << what << ": " << verdict.why;
    const Sha256Digest computed = digest_of(image);
    const std::string expected = "image: digest mismatch: the image is damaged (expected " +
                                 hex8(image.data() + note_offset(image) + IMAGE_DIGEST_FIELD_OFFSET) +
                                 "..., computed " + hex8(computed.bytes) + "...)";
    ASSERT_EQ(verdict.why, expected) << what;
}

} // namespace

TEST(ImageDigest, SeesEveryLoadedByteTheEntryAndTheSegmentHeaders)
{
    for (bool note_in_code : {true, false}) {
        ImageParts parts;
        parts.note_in_code = note_in_code;
        const std::vector<uint8_t> sealed = signed_image(parts);
        ASSERT_EQ(check(sealed).error, 0);

        // Every byte of every loaded segment, the digest field included.
        for (size_t segment = 0; segment < 2; segment++) {
            const size_t ph = program_header(segment);
            const uint64_t offset = read_at<uint64_t>(sealed, ph + 8), size = read_at<uint64_t>(sealed, ph + 32);
            for (uint64_t i = 0; i < size; i++) {
                std::vector<uint8_t> damaged = sealed;
                damaged[offset + i] ^= 0x01;
                Verdict verdict = check(damaged, false);
                // A flipped multiboot2 header or note field may be refused earlier, as malformed.
                ASSERT_NE(verdict.error, 0) << "segment " << segment << " byte " << i;
                if (verdict.error != -BATON_EINVAL)
                    expect_damaged(damaged, "segment " + std::to_string(segment) + " byte " + std::to_string(i));
            }
        }
        // The note, wherever it is: its build id and its digest.
        const size_t note = note_offset(sealed);
        std::vector<uint8_t> renamed = sealed;
        renamed[note + __builtin_offsetof(baton_image_note, build_id)] ^= 0x02;
        expect_damaged(renamed, "build id");
        std::vector<uint8_t> redigested = sealed;
        redigested[note + IMAGE_DIGEST_FIELD_OFFSET + 31] ^= 0x80;
        expect_damaged(redigested, "digest");

        // The entry point (still inside the code) and each segment's address and sizes.
        std::vector<uint8_t> moved_entry = sealed;
        write_at<uint64_t>(moved_entry, 24, CODE_ADDRESS + 0x20);
        expect_damaged(moved_entry, "e_entry");
        std::vector<uint8_t> moved = sealed;
        write_at<uint64_t>(moved, program_header(1) + 24, DATA_ADDRESS + 0x10000);
        expect_damaged(moved, "paddr");
        std::vector<uint8_t> grown = sealed;
        write_at<uint64_t>(grown, program_header(1) + 40, 0x3000);
        expect_damaged(grown, "memsz");
        std::vector<uint8_t> shortened = sealed;
        write_at<uint64_t>(shortened, program_header(1) + 32, 0x40);
        expect_damaged(shortened, "filesz");
    }
}

TEST(ImageDigest, IgnoresWhatIsNotLoaded)
{
    // Virtual addresses and flags are not what the loader uses; the trailer is not loaded.
    std::vector<uint8_t> image = signed_image();
    write_at<uint64_t>(image, program_header(1) + 16, 0xffffffff80210000);
    EXPECT_EQ(check(image, false).error, 0) << check(image, false).why;
    EXPECT_EQ(check(image).error, 0) << check(image).why;
}
