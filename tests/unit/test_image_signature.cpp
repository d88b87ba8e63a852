// SPDX-License-Identifier: MIT
// Unit tests for an image's signature trailer against the policy, truncated and hostile
// images, and the images this build signed (docs/image-signing.md).
#include "image_test_support.hpp"
#include "trusted_keys.hpp"

using namespace image_test;

namespace {

// The image with its last trailer replaced by `trailer`'s fields.
std::vector<uint8_t> with_trailer(std::vector<uint8_t> image, const baton_image_signature &trailer)
{
    std::memcpy(image.data() + image.size() - sizeof(trailer), &trailer, sizeof(trailer));
    return image;
}

baton_image_signature trailer_of(const std::vector<uint8_t> &image)
{
    baton_image_signature trailer;
    std::memcpy(&trailer, image.data() + image.size() - sizeof(trailer), sizeof(trailer));
    return trailer;
}

void expect_refused(const std::vector<uint8_t> &image, SignatureState state, const std::string &why)
{
    Verdict strict = check(image, true);
    EXPECT_EQ(strict.error, -BATON_EPERM) << why;
    EXPECT_EQ(strict.why, why);
    EXPECT_EQ(strict.info.signature_state, state) << why;
    // Without lu_require_signature the same image passes, and says what it waived.
    Verdict lenient = check(image, false);
    EXPECT_EQ(lenient.error, 0) << lenient.why;
    EXPECT_EQ(lenient.why, why);
    EXPECT_EQ(lenient.info.signature_state, state) << why;
}

const std::string trusted_hex = [] { return hex8(trusted_signer().public_key().data()); }();

} // namespace

TEST(ImageSignature, NamesOfTheStates)
{
    EXPECT_STREQ(signature_state_name(SignatureState::trusted), "trusted");
    EXPECT_STREQ(signature_state_name(SignatureState::unsigned_image), "unsigned");
    EXPECT_STREQ(signature_state_name(SignatureState::malformed_trailer), "malformed trailer");
    EXPECT_STREQ(signature_state_name(SignatureState::untrusted_key), "untrusted key");
    EXPECT_STREQ(signature_state_name(SignatureState::bad_signature), "bad signature");
}

TEST(ImageSignature, MissingOrMalformedTrailer)
{
    std::vector<uint8_t> sealed = make_image();
    seal(sealed);
    expect_refused(sealed, SignatureState::unsigned_image, "image: unsigned");

    const std::vector<uint8_t> image = signed_image();
    baton_image_signature trailer = trailer_of(image);
    trailer.magic[7] = 'X'; // not a trailer at all: 112 more bytes of an unsigned file
    expect_refused(with_trailer(image, trailer), SignatureState::unsigned_image, "image: unsigned");

    trailer = trailer_of(image);
    trailer.version = 2;
    expect_refused(with_trailer(image, trailer), SignatureState::malformed_trailer,
                   "image: malformed signature trailer (version 2, size 112; this hypervisor reads version 1 of "
                   "112 bytes)");
    trailer = trailer_of(image);
    trailer.size = 176;
    expect_refused(with_trailer(image, trailer), SignatureState::malformed_trailer,
                   "image: malformed signature trailer (version 1, size 176; this hypervisor reads version 1 of "
                   "112 bytes)");
}

TEST(ImageSignature, UntrustedKey)
{
    const std::vector<uint8_t> image = signed_image(make_image(), other_signer());
    const std::string other_hex = hex8(other_signer().public_key().data());
    expect_refused(image, SignatureState::untrusted_key,
                   "image: signed with a key this hypervisor does not trust (key " + other_hex + ")");
    Verdict lenient = check(image, false);
    EXPECT_EQ(std::memcmp(lenient.info.signer_key, other_signer().public_key().data(), 32), 0);
    // No trusted key at all: nothing is trusted.
    Verdict none = check(signed_image(), true, {});
    EXPECT_EQ(none.error, -BATON_EPERM);
    EXPECT_EQ(none.info.signature_state, SignatureState::untrusted_key);
}

TEST(ImageSignature, SecondTrustedKeyForRotation)
{
    const std::vector<uint8_t> image = signed_image(make_image(), other_signer());
    Verdict verdict = check(image, true, {trusted_signer().public_key(), other_signer().public_key()});
    EXPECT_EQ(verdict.error, 0) << verdict.why;
    EXPECT_EQ(verdict.info.signature_state, SignatureState::trusted);
}

TEST(ImageSignature, BadSignatures)
{
    const std::vector<uint8_t> image = signed_image();
    const std::string by = ") by trusted key " + trusted_hex;
    struct Flip {
        size_t byte;
        uint8_t bits;
        const char *what;
    };
    // R is the first 32 bytes, S the last 32; S's top bit set puts it above the group order.
    for (Flip flip : {Flip{0, 0x01, "R"}, Flip{17, 0x10, "R"}, Flip{32, 0x01, "S"}, Flip{50, 0x04, "S"},
                      Flip{63, 0x80, "S above L"}}) {
        baton_image_signature trailer = trailer_of(image);
        trailer.signature[flip.byte] ^= flip.bits;
        const std::vector<uint8_t> bad = with_trailer(image, trailer);
        Verdict verdict = check(bad);
        EXPECT_EQ(verdict.error, -BATON_EPERM) << flip.what;
        EXPECT_EQ(verdict.info.signature_state, SignatureState::bad_signature) << flip.what;
        EXPECT_EQ(verdict.why.rfind("image: bad signature (", 0), 0u) << verdict.why;
        EXPECT_NE(verdict.why.find(by), std::string::npos) << verdict.why;
        expect_refused(bad, SignatureState::bad_signature, verdict.why);
    }
    baton_image_signature trailer = trailer_of(image);
    trailer.signature[63] ^= 0x80;
    EXPECT_EQ(check(with_trailer(image, trailer)).why,
              std::string("image: bad signature (") + ed25519_verdict_name(Ed25519Verdict::malformed_signature) + by);
    trailer = trailer_of(image);
    trailer.signature[32] ^= 0x01;
    EXPECT_EQ(check(with_trailer(image, trailer)).why,
              std::string("image: bad signature (") + ed25519_verdict_name(Ed25519Verdict::mismatch) + by);
}

TEST(ImageSignature, ASignatureOfAnotherImageDoesNotFit)
{
    ImageParts a_parts, b_parts;
    a_parts.build_id = "build-A";
    b_parts.build_id = "build-B";
    const std::vector<uint8_t> a = signed_image(a_parts), b = signed_image(b_parts);
    ASSERT_EQ(check(a).error, 0);
    ASSERT_EQ(check(b).error, 0);
    const std::vector<uint8_t> a_with_b_signature = with_trailer(a, trailer_of(b));
    Verdict verdict = check(a_with_b_signature);
    EXPECT_EQ(verdict.error, -BATON_EPERM);
    EXPECT_EQ(verdict.why, std::string("image: bad signature (") + ed25519_verdict_name(Ed25519Verdict::mismatch) +
                               ") by trusted key " + trusted_hex);
    // Nor a signature over the digest alone, or over the message without its domain string.
    std::vector<uint8_t> sealed = a;
    sealed.resize(sealed.size() - BATON_IMAGE_SIGNATURE_SIZE);
    const auto message = signed_message(sealed);
    const size_t domain = sizeof(IMAGE_SIGNATURE_DOMAIN);
    for (auto [from, size] : {std::pair<size_t, size_t>{domain, SHA256_DIGEST_SIZE},
                              std::pair<size_t, size_t>{domain, message.size() - domain}}) {
        std::vector<uint8_t> wrong = sealed;
        append_trailer(wrong, trusted_signer().public_key(), trusted_signer().sign(message.data() + from, size));
        EXPECT_EQ(check(wrong).info.signature_state, SignatureState::bad_signature);
    }
}

TEST(ImageSignature, DigestFailuresAreRefusedWhateverThePolicy)
{
    std::vector<uint8_t> image = signed_image();
    image[read_at<uint64_t>(image, program_header(0) + 8) + 0x30] ^=
        0xff; // a byte of the code, after the multiboot2 header
    for (bool require : {true, false}) {
        Verdict verdict = check(image, require);
        EXPECT_EQ(verdict.error, -BATON_EBADMSG);
        EXPECT_EQ(verdict.why.rfind("image: digest mismatch: the image is damaged (expected ", 0), 0u) << verdict.why;
    }
}

namespace {

// Every prefix at these lengths is refused, with a reason, and nothing reads past the end
// (the copy is exactly that long, so ASan sees any overrun).
void expect_truncations_refused(const std::vector<uint8_t> &image, size_t step)
{
    for (size_t length = 0; length < image.size(); length += (length < 1024 ? 1 : step)) {
        const std::vector<uint8_t> prefix(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(length));
        Verdict verdict = check(prefix);
        ASSERT_NE(verdict.error, 0) << "length " << length;
        ASSERT_FALSE(verdict.why.empty()) << "length " << length;
    }
}

std::vector<uint8_t> built_image(const char *name)
{
    std::vector<uint8_t> image = read_file(std::string(BATON_BUILD_DIR "/") + name);
    EXPECT_FALSE(image.empty()) << "build it first: " BATON_BUILD_DIR "/" << name;
    return image;
}

Verdict check_with_build_keys(const std::vector<uint8_t> &image, bool require_signature = true)
{
    std::vector<PublicKey> keys(TRUSTED_KEY_COUNT);
    for (size_t i = 0; i < TRUSTED_KEY_COUNT; i++)
        std::memcpy(keys[i].data(), TRUSTED_KEYS[i], 32);
    return check(image, require_signature, keys);
}

} // namespace

TEST(ImageSignature, TruncatedImagesAreRefused)
{
    expect_truncations_refused(signed_image(), 1);
    // A hostile trailer-sized tail on a short file, and random bytes, never crash either.
    std::vector<uint8_t> image = signed_image();
    for (size_t size : {size_t{0}, size_t{1}, size_t{111}, size_t{112}, size_t{113}}) {
        std::vector<uint8_t> tail(image.end() - static_cast<std::ptrdiff_t>(std::min(size, size_t{112})), image.end());
        tail.resize(size);
        EXPECT_NE(check(tail, false).error, 0);
    }
}

TEST(ImageSignature, TheBuiltImagesVerifyWithTheBuildsKey)
{
    ASSERT_GE(TRUSTED_KEY_COUNT, 1u);
    for (const char *name : {"baton.elf", "baton-b.elf"}) {
        const std::vector<uint8_t> image = built_image(name);
        ASSERT_FALSE(image.empty());
        Verdict verdict = check_with_build_keys(image);
        ASSERT_EQ(verdict.error, 0) << name << ": " << verdict.why;
        const ImageInfo &info = verdict.info;
        EXPECT_EQ(info.signature_state, SignatureState::trusted);
        // The build signs with the first key of the table (tools/image/image.mk).
        EXPECT_EQ(std::memcmp(info.signer_key, TRUSTED_KEYS[0], 32), 0) << name;
        EXPECT_EQ(info.note.note_version, BATON_IMAGE_NOTE_VERSION);
        EXPECT_EQ(info.note.record_write_version, WRITES);
        EXPECT_LE(info.note.record_read_min, WRITES);
        EXPECT_GE(info.note.record_read_max, WRITES);
        EXPECT_GT(std::strlen(info.note.build_id), 2u);
        EXPECT_EQ(info.elf.entry, 0x200040u) << "the 32-bit multiboot2 entry";
        // Trusting another key only, the same image is refused.
        Verdict other = check(image, true, {other_signer().public_key()});
        EXPECT_EQ(other.error, -BATON_EPERM);
        EXPECT_EQ(other.info.signature_state, SignatureState::untrusted_key);
    }
    EXPECT_NE(std::string(check_with_build_keys(built_image("baton.elf")).info.note.build_id),
              std::string(check_with_build_keys(built_image("baton-b.elf")).info.note.build_id));
    // What the linker wrote, before the build sealed it.
    Verdict unsealed = check_with_build_keys(built_image("baton.unsigned.elf"), false);
    EXPECT_EQ(unsealed.error, -BATON_EBADMSG);
    EXPECT_EQ(unsealed.why, "image: not sealed (no digest written by the build)");
}

TEST(ImageSignature, TruncatedBuiltImagesAreRefused)
{
    const std::vector<uint8_t> image = built_image("baton.elf");
    ASSERT_FALSE(image.empty());
    expect_truncations_refused(image, image.size() / 97 + 1);
    // Without the signature requirement, only cutting exactly the trailer gives a valid
    // (unsigned) image.
    std::vector<uint8_t> cut(image.begin(), image.end() - BATON_IMAGE_SIGNATURE_SIZE);
    Verdict verdict = check_with_build_keys(cut, false);
    EXPECT_EQ(verdict.error, 0) << verdict.why;
    EXPECT_EQ(verdict.info.signature_state, SignatureState::unsigned_image);
}
