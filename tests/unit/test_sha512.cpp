// SPDX-License-Identifier: MIT
// Unit tests for SHA-512: the FIPS 180-4 examples, every split of incremental updates
// around the block boundaries, and random messages checked against the host's sha512sum.
#include "crypto_test_support.hpp"
#include "lib/crypto/sha512.hpp"
#include <algorithm>
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

using namespace crypto_test;

namespace {

std::string hex_of(const Sha512Digest &digest) { return to_hex(digest.bytes); }

std::string sha512_hex(const std::string &text) { return hex_of(sha512(text.data(), text.size())); }

constexpr size_t LONGEST = 300;

// Messages of every length from 0 to 300: across 111/112 (where the padding needs a
// second block), 127/128, 239/240, 255/256 and beyond two blocks.
std::vector<Bytes> boundary_messages()
{
    std::mt19937 random(512);
    std::vector<Bytes> messages;
    messages.reserve(LONGEST + 1);
    for (size_t length = 0; length <= LONGEST; length++)
        messages.push_back(random_bytes(random, length));
    return messages;
}

} // namespace

TEST(Sha512, FipsExamples)
{
    EXPECT_EQ(sha512_hex("abc"), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                                 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    EXPECT_EQ(sha512_hex(""), "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                              "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
    EXPECT_EQ(sha512_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
              "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445");
    EXPECT_EQ(sha512_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
                         "rlmnopqrsmnopqrstnopqrstu"),
              "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
              "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909");
}

TEST(Sha512, OneMillionAs)
{
    const std::string million(1000000, 'a');
    const char *expected = "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
                           "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b";
    EXPECT_EQ(sha512_hex(million), expected);
    // The same through the buffered path: chunks of a prime size straddle every offset.
    Sha512 hash;
    for (size_t done = 0; done < million.size();) {
        size_t chunk = std::min<size_t>(997, million.size() - done);
        hash.update(million.data() + done, chunk);
        done += chunk;
    }
    EXPECT_EQ(hex_of(hash.finish()), expected);
}

TEST(Sha512, EverySplitOfIncrementalUpdatesMatchesTheHost)
{
    const std::vector<Bytes> messages = boundary_messages();
    ASSERT_TRUE(have_tool("sha512sum")) << "sha512sum (coreutils) is needed by this test";
    const std::vector<std::string> expected = host_digests("sha512sum", messages);
    ASSERT_EQ(expected.size(), messages.size());
    for (size_t m = 0; m < messages.size(); m++) {
        const Bytes &message = messages[m];
        ASSERT_EQ(hex_of(sha512(message.data(), message.size())), expected[m]) << "length " << message.size();
        for (size_t split = 0; split <= message.size(); split++) {
            Sha512 hash;
            hash.update(message.data(), split);
            hash.update(message.data() + split, message.size() - split);
            ASSERT_EQ(hex_of(hash.finish()), expected[m]) << "length " << message.size() << " split " << split;
        }
        // A byte at a time, with empty updates in between.
        Sha512 hash;
        for (uint8_t byte : message) {
            hash.update(&byte, 1);
            hash.update(nullptr, 0);
        }
        ASSERT_EQ(hex_of(hash.finish()), expected[m]) << "length " << message.size() << " byte by byte";
    }
}

TEST(Sha512, RandomMessagesMatchTheHost)
{
    std::mt19937 random(0x5a512);
    std::vector<Bytes> messages(50);
    for (Bytes &message : messages)
        message = random_bytes(random, random() % (10 * 1024 + 1));
    ASSERT_TRUE(have_tool("sha512sum")) << "sha512sum (coreutils) is needed by this test";
    const std::vector<std::string> expected = host_digests("sha512sum", messages);
    ASSERT_EQ(expected.size(), messages.size());
    for (size_t m = 0; m < messages.size(); m++)
        EXPECT_EQ(hex_of(sha512(messages[m].data(), messages[m].size())), expected[m])
            << "message " << m << " of " << messages[m].size() << " bytes";
}
