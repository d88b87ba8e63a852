// SPDX-License-Identifier: MIT
// Unit tests for Ed25519 verification: RFC 8032's test vectors, every single-bit change
// of a signature, key and message, malformed encodings, and signatures made by OpenSSL.
#include "crypto_test_support.hpp"
#include "lib/crypto/ed25519.hpp"
#include "lib/crypto/field25519.hpp"
#include <array>
#include <cstring>
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

using namespace crypto_test;

namespace {

using PublicKey = std::array<uint8_t, ED25519_PUBLIC_KEY_SIZE>;
using Signature = std::array<uint8_t, ED25519_SIGNATURE_SIZE>;

struct Vector {
    const char *name;
    const char *public_key;
    const char *message;
    const char *signature;
};

// RFC 8032, section 7.1 (the secret keys are left out: only verification is tested).
const Vector RFC_VECTORS[] = {
    {"TEST 1", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST 1024", "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
     "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
     "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
     "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
     "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
     "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
     "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
     "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
     "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
     "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
     "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
     "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
     "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
     "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
     "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
     "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
     "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
     "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
     "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
     "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
     "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
     "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
     "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
     "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
     "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
     "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
     "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
     "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
     "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
     "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
     "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
     "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
     "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"},
    {"TEST SHA(abc)", "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
};

// The group order L, little-endian (RFC 8032, 5.1: 2^252 + 27742317777372353535851937790883648493).
const char *GROUP_ORDER_HEX = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

template <size_t N>
std::array<uint8_t, N> to_array(const Bytes &bytes)
{
    if (bytes.size() != N)
        throw std::invalid_argument("expected " + std::to_string(N) + " bytes, got " + std::to_string(bytes.size()));
    std::array<uint8_t, N> array;
    std::memcpy(array.data(), bytes.data(), N);
    return array;
}

struct Case {
    PublicKey public_key;
    Signature signature;
    Bytes message;
};

Case load(const Vector &vector)
{
    return {to_array<ED25519_PUBLIC_KEY_SIZE>(from_hex(vector.public_key)),
            to_array<ED25519_SIGNATURE_SIZE>(from_hex(vector.signature)), from_hex(vector.message)};
}

Ed25519Verdict verify(const PublicKey &key, const Signature &signature, const Bytes &message)
{
    // The API takes C arrays by reference, as the kernel holds them.
    u8 key_bytes[ED25519_PUBLIC_KEY_SIZE];
    u8 signature_bytes[ED25519_SIGNATURE_SIZE];
    std::memcpy(key_bytes, key.data(), sizeof(key_bytes));
    std::memcpy(signature_bytes, signature.data(), sizeof(signature_bytes));
    return ed25519_verify(key_bytes, signature_bytes, message.data(), message.size());
}

Ed25519Verdict verify(const Case &c) { return verify(c.public_key, c.signature, c.message); }

// A little-endian 32-byte number plus another (no overflow for the values used here).
std::array<uint8_t, 32> add_le(const uint8_t *a, const uint8_t *b)
{
    std::array<uint8_t, 32> sum;
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned digit = a[i] + b[i] + carry;
        sum[i] = static_cast<uint8_t>(digit);
        carry = digit >> 8;
    }
    EXPECT_EQ(carry, 0u);
    return sum;
}

// A point encoding: y as a small number, and the sign bit of x.
PublicKey small_y(uint8_t y, bool x_odd)
{
    PublicKey encoding{};
    encoding[0] = y;
    encoding[31] = x_odd ? 0x80 : 0;
    return encoding;
}

// y = p + offset (for offset up to 18, still below 2^255), and the sign bit.
PublicKey p_plus(uint8_t offset, bool x_odd)
{
    PublicKey encoding;
    encoding.fill(0xff);
    encoding[0] = static_cast<uint8_t>(0xed + offset);
    encoding[31] = x_odd ? 0xff : 0x7f;
    return encoding;
}

const char *name(Ed25519Verdict verdict) { return ed25519_verdict_name(verdict); }

} // namespace

TEST(Ed25519, RfcVectorsVerify)
{
    for (const Vector &vector : RFC_VECTORS) {
        Case c = load(vector);
        EXPECT_EQ(verify(c), Ed25519Verdict::valid) << vector.name << ": " << name(verify(c));
    }
}

TEST(Ed25519, VerdictNames)
{
    EXPECT_STREQ(name(Ed25519Verdict::valid), "valid");
    EXPECT_STREQ(name(Ed25519Verdict::malformed_public_key), "malformed public key");
    EXPECT_STREQ(name(Ed25519Verdict::malformed_signature), "malformed signature");
    EXPECT_STREQ(name(Ed25519Verdict::mismatch), "mismatch");
}

TEST(Ed25519, VectorsDoNotVerifyUnderEachOthersKeysOrMessages)
{
    for (const Vector &signer : RFC_VECTORS) {
        for (const Vector &other : RFC_VECTORS) {
            if (&signer == &other)
                continue;
            Case c = load(signer), o = load(other);
            EXPECT_EQ(verify(o.public_key, c.signature, c.message), Ed25519Verdict::mismatch)
                << signer.name << " under the key of " << other.name;
            EXPECT_EQ(verify(c.public_key, c.signature, o.message), Ed25519Verdict::mismatch)
                << signer.name << " over the message of " << other.name;
        }
    }
}

TEST(Ed25519, EverySingleBitFlipIsRejected)
{
    const Case original = load(RFC_VECTORS[4]); // SHA(abc): a 64-byte message
    ASSERT_EQ(verify(original), Ed25519Verdict::valid);
    for (size_t bit = 0; bit < 8 * ED25519_SIGNATURE_SIZE; bit++) {
        Case c = original;
        c.signature[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        Ed25519Verdict verdict = verify(c);
        EXPECT_TRUE(verdict == Ed25519Verdict::malformed_signature || verdict == Ed25519Verdict::mismatch)
            << "signature bit " << bit << ": " << name(verdict);
    }
    for (size_t bit = 0; bit < 8 * ED25519_PUBLIC_KEY_SIZE; bit++) {
        Case c = original;
        c.public_key[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        Ed25519Verdict verdict = verify(c);
        EXPECT_TRUE(verdict == Ed25519Verdict::malformed_public_key || verdict == Ed25519Verdict::mismatch)
            << "public key bit " << bit << ": " << name(verdict);
    }
    for (size_t bit = 0; bit < 8 * original.message.size(); bit++) {
        Case c = original;
        c.message[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_EQ(verify(c), Ed25519Verdict::mismatch) << "message bit " << bit;
    }
    // Longer and shorter messages too.
    Case longer = original;
    longer.message.push_back(0);
    EXPECT_EQ(verify(longer), Ed25519Verdict::mismatch);
    Case shorter = original;
    shorter.message.pop_back();
    EXPECT_EQ(verify(shorter), Ed25519Verdict::mismatch);
}

TEST(Ed25519, ScalarNotBelowGroupOrderIsMalformed)
{
    const Bytes order = from_hex(GROUP_ORDER_HEX);
    for (const Vector &vector : RFC_VECTORS) {
        Case c = load(vector);
        // S + L satisfies [S]B = R + [k]A as well as S: only the range check refuses it.
        std::array<uint8_t, 32> s_plus_l = add_le(c.signature.data() + 32, order.data());
        std::memcpy(c.signature.data() + 32, s_plus_l.data(), 32);
        EXPECT_EQ(verify(c), Ed25519Verdict::malformed_signature) << vector.name << ": " << name(verify(c));
        // S = L and S = 2^256 - 1.
        std::memcpy(c.signature.data() + 32, order.data(), 32);
        EXPECT_EQ(verify(c), Ed25519Verdict::malformed_signature) << vector.name;
        std::memset(c.signature.data() + 32, 0xff, 32);
        EXPECT_EQ(verify(c), Ed25519Verdict::malformed_signature) << vector.name;
    }
    // S = L - 1 is in range: well formed, and wrong.
    Case c = load(RFC_VECTORS[0]);
    std::memcpy(c.signature.data() + 32, order.data(), 32);
    c.signature[32] -= 1;
    EXPECT_EQ(verify(c), Ed25519Verdict::mismatch);
}

TEST(Ed25519, NonCanonicalYIsMalformed)
{
    const Case original = load(RFC_VECTORS[1]);
    // y = p, p + 1 (which reduced would be the valid y = 1), p + 18 = 2^255 - 1; either sign.
    for (uint8_t offset : {0, 1, 18}) {
        for (bool x_odd : {false, true}) {
            const PublicKey encoding = p_plus(offset, x_odd);
            Case c = original;
            c.public_key = encoding;
            EXPECT_EQ(verify(c), Ed25519Verdict::malformed_public_key) << "p + " << int(offset) << " " << x_odd;
            c = original;
            std::memcpy(c.signature.data(), encoding.data(), 32);
            EXPECT_EQ(verify(c), Ed25519Verdict::malformed_signature) << "p + " << int(offset) << " " << x_odd;
        }
    }
    // y = p - 1 is canonical (the point (0, -1)): well formed, and wrong.
    Case c = original;
    c.public_key = p_plus(0, false);
    c.public_key[0] = 0xec;
    EXPECT_EQ(verify(c), Ed25519Verdict::mismatch);
}

TEST(Ed25519, PointsOffTheCurveAreMalformed)
{
    const Case original = load(RFC_VECTORS[2]);
    // For y = 2, 7, 8 and 11, (y^2 - 1) / (d y^2 + 1) is not a square mod p, so no x
    // exists (Euler's criterion, computed with Python's integers, independently of the
    // code under test); for y = 0, 3, 4 and 5 it is, so those decode.
    for (uint8_t y : {2, 7, 8, 11}) {
        for (bool x_odd : {false, true}) {
            Case c = original;
            c.public_key = small_y(y, x_odd);
            EXPECT_EQ(verify(c), Ed25519Verdict::malformed_public_key) << "y = " << int(y) << " " << x_odd;
            c = original;
            PublicKey r = small_y(y, x_odd);
            std::memcpy(c.signature.data(), r.data(), 32);
            EXPECT_EQ(verify(c), Ed25519Verdict::malformed_signature) << "y = " << int(y) << " " << x_odd;
        }
    }
    for (uint8_t y : {0, 3, 4, 5}) {
        for (bool x_odd : {false, true}) {
            Case c = original;
            c.public_key = small_y(y, x_odd);
            EXPECT_EQ(verify(c), Ed25519Verdict::mismatch) << "y = " << int(y) << " " << x_odd;
        }
    }
    // y = 1 and y = -1 have x = 0, whose only encoding has the sign bit clear.
    for (bool minus_one : {false, true}) {
        Case c = original;
        c.public_key = minus_one ? p_plus(0, true) : small_y(1, true);
        if (minus_one)
            c.public_key[0] = 0xec;
        EXPECT_EQ(verify(c), Ed25519Verdict::malformed_public_key) << (minus_one ? "y = -1" : "y = 1");
        c.public_key[31] &= 0x7f;
        EXPECT_EQ(verify(c), Ed25519Verdict::mismatch) << (minus_one ? "y = -1" : "y = 1");
    }
}

TEST(Ed25519, KnownPointsSatisfyTheEquation)
{
    // With A the neutral element (0, 1), [S]B = R + [k]A holds for R = B and S = 1
    // whatever the message: the equation with points known independently of this code
    // (B's encoding is 4/5 with x even, RFC 8032, 5.1). RFC 8032 verification does not
    // refuse keys of small order; the keys Baton trusts are its own.
    const PublicKey neutral = small_y(1, false);
    Signature signature{};
    const Bytes base = from_hex("5866666666666666666666666666666666666666666666666666666666666666");
    std::memcpy(signature.data(), base.data(), 32);
    signature[32] = 1;
    EXPECT_EQ(verify(neutral, signature, from_hex("")), Ed25519Verdict::valid);
    EXPECT_EQ(verify(neutral, signature, from_hex("0123456789")), Ed25519Verdict::valid);
    signature[32] = 2;
    EXPECT_EQ(verify(neutral, signature, from_hex("")), Ed25519Verdict::mismatch);
    // -B (x odd) is [L - 1]B.
    signature[31] |= 0x80;
    const Bytes order = from_hex(GROUP_ORDER_HEX);
    std::memcpy(signature.data() + 32, order.data(), 32);
    signature[32] -= 1;
    EXPECT_EQ(verify(neutral, signature, from_hex("ff")), Ed25519Verdict::valid);
}

TEST(Ed25519, FieldConstants)
{
    using namespace field25519;
    auto small = [](u64 value) { return Element{{value, 0, 0, 0, 0}}; };
    // d = -121665 / 121666, 2d, and sqrt(-1) squared.
    EXPECT_TRUE(equal(mul(CURVE_D, small(121666)), negate(small(121665))));
    EXPECT_TRUE(equal(add(CURVE_D, CURVE_D), CURVE_2D));
    EXPECT_TRUE(equal(square(SQRT_MINUS_ONE), negate(ONE)));
    // p encodes as 0 and p - 1 as -1.
    u8 bytes[ENCODED_SIZE];
    const PublicKey p = p_plus(0, false);
    EXPECT_FALSE(is_canonical(p.data()));
    EXPECT_TRUE(is_zero(from_bytes(p.data())));
    to_bytes(bytes, negate(ONE));
    EXPECT_EQ(to_hex(bytes), "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
}

TEST(Ed25519, AgreesWithOpenssl)
{
    ASSERT_TRUE(have_tool("openssl")) << "openssl (the command) is a dependency of Baton and of this test: "
                                         "apt-get install openssl";
    TempDir dir;
    constexpr int KEYS = 3;
    std::vector<std::string> private_pems, public_pems;
    std::vector<PublicKey> keys;
    for (int i = 0; i < KEYS; i++) {
        const std::string name = "key" + std::to_string(i);
        private_pems.push_back(dir.file(name + ".pem"));
        public_pems.push_back(dir.file(name + ".pub.pem"));
        CommandResult made = run_words({"openssl genpkey -algorithm ed25519 -out", private_pems.back()});
        ASSERT_EQ(made.status, 0) << made.output;
        CommandResult exported =
            run_words({"openssl pkey -pubout -outform DER -in", private_pems.back(), "-out", dir.file(name + ".der")});
        ASSERT_EQ(exported.status, 0) << exported.output;
        exported = run_words({"openssl pkey -pubout -in", private_pems.back(), "-out", public_pems.back()});
        ASSERT_EQ(exported.status, 0) << exported.output;
        const Bytes spki = dir.read(name + ".der");
        ASSERT_EQ(spki.size(), 44u); // SubjectPublicKeyInfo: a 12-byte header, then the key
        keys.push_back(to_array<ED25519_PUBLIC_KEY_SIZE>(Bytes(spki.end() - 32, spki.end())));
    }

    const Bytes order = from_hex(GROUP_ORDER_HEX);
    std::mt19937 random(8032);
    for (int m = 0; m < 20; m++) {
        // From 1 byte: OpenSSL 3.0's pkeyutl refuses to sign an empty file (RFC TEST 1 has
        // the empty message).
        const Bytes message = random_bytes(random, 1 + random() % 4096);
        const int signer = m % KEYS;
        const std::string message_file = dir.write("message", message);
        CommandResult signed_ = run_words({"openssl pkeyutl -sign -rawin -inkey", private_pems[signer], "-in",
                                           message_file, "-out", dir.file("signature")});
        ASSERT_EQ(signed_.status, 0) << signed_.output;
        const Signature signature = to_array<ED25519_SIGNATURE_SIZE>(dir.read("signature"));

        EXPECT_EQ(verify(keys[signer], signature, message), Ed25519Verdict::valid)
            << "message " << m << " of " << message.size() << " bytes";
        EXPECT_EQ(verify(keys[(signer + 1) % KEYS], signature, message), Ed25519Verdict::mismatch)
            << "message " << m << " under another key";
        Bytes changed = message;
        changed[random() % changed.size()] ^= static_cast<uint8_t>(1 + random() % 255);
        EXPECT_EQ(verify(keys[signer], signature, changed), Ed25519Verdict::mismatch)
            << "message " << m << " with a changed byte";

        if (m < 3) {
            // OpenSSL refuses S + L as well: the same rule on both sides.
            Signature s_plus_l = signature;
            std::array<uint8_t, 32> sum = add_le(signature.data() + 32, order.data());
            std::memcpy(s_plus_l.data() + 32, sum.data(), 32);
            EXPECT_EQ(verify(keys[signer], s_plus_l, message), Ed25519Verdict::malformed_signature);
            dir.write("s_plus_l", Bytes(s_plus_l.begin(), s_plus_l.end()));
            CommandResult checked = run_words({"openssl pkeyutl -verify -rawin -pubin -inkey", public_pems[signer],
                                               "-in", message_file, "-sigfile", dir.file("signature")});
            EXPECT_EQ(checked.status, 0) << checked.output;
            checked = run_words({"openssl pkeyutl -verify -rawin -pubin -inkey", public_pems[signer], "-in",
                                 message_file, "-sigfile", dir.file("s_plus_l")});
            EXPECT_NE(checked.status, 0) << checked.output;
        }
    }
}
