// SPDX-License-Identifier: MIT
// Unit tests for SHA-256: the FIPS 180-4 examples, every split of incremental updates
// around the block boundaries, and random messages checked against the host's sha256sum.
#include "crypto_test_support.hpp"
#include "lib/crypto/sha256.hpp"
#include <algorithm>
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

using namespace crypto_test;

namespace {

std::string hex_of(const Sha256Digest &digest) { return to_hex(digest.bytes); }

std::string sha256_hex(const std::string &text) { return hex_of(sha256(text.data(), text.size())); }

constexpr size_t LONGEST = 200;

// Messages of every length from 0 to 200: across 55/56 (where the padding needs a second
// block), 63/64, 111/112, 127/128 and beyond three blocks.
std::vector<Bytes> boundary_messages()
{
    std::mt19937 random(256);
    std::vector<Bytes> messages;
    messages.reserve(LONGEST + 1);
    for (size_t length = 0; length <= LONGEST; length++)
        messages.push_back(random_bytes(random, length));
    return messages;
}

} // namespace

TEST(Sha256, FipsExamples)
{
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
                         "rlmnopqrsmnopqrstnopqrstu"),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, OneMillionAs)
{
    const std::string million(1000000, 'a');
    const char *expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    EXPECT_EQ(sha256_hex(million), expected);
    // The same through the buffered path: chunks of a prime size straddle every offset.
    Sha256 hash;
    for (size_t done = 0; done < million.size();) {
        size_t chunk = std::min<size_t>(997, million.size() - done);
        hash.update(million.data() + done, chunk);
        done += chunk;
    }
    EXPECT_EQ(hex_of(hash.finish()), expected);
}

TEST(Sha256, EverySplitOfIncrementalUpdatesMatchesTheHost)
{
    const std::vector<Bytes> messages = boundary_messages();
    ASSERT_TRUE(have_tool("sha256sum")) << "sha256sum (coreutils) is needed by this test";
    const std::vector<std::string> expected = host_digests("sha256sum", messages);
    ASSERT_EQ(expected.size(), messages.size());
    for (size_t m = 0; m < messages.size(); m++) {
        const Bytes &message = messages[m];
        ASSERT_EQ(hex_of(sha256(message.data(), message.size())), expected[m]) << "length " << message.size();
        for (size_t split = 0; split <= message.size(); split++) {
            Sha256 hash;
            hash.update(message.data(), split);
            hash.update(message.data() + split, message.size() - split);
            ASSERT_EQ(hex_of(hash.finish()), expected[m]) << "length " << message.size() << " split " << split;
        }
        // A byte at a time, with empty updates in between.
        Sha256 hash;
        for (uint8_t byte : message) {
            hash.update(&byte, 1);
            hash.update(nullptr, 0);
        }
        ASSERT_EQ(hex_of(hash.finish()), expected[m]) << "length " << message.size() << " byte by byte";
    }
}

TEST(Sha256, RandomMessagesMatchTheHost)
{
    std::mt19937 random(0x5a256);
    std::vector<Bytes> messages(50);
    for (Bytes &message : messages)
        message = random_bytes(random, random() % (10 * 1024 + 1));
    ASSERT_TRUE(have_tool("sha256sum")) << "sha256sum (coreutils) is needed by this test";
    const std::vector<std::string> expected = host_digests("sha256sum", messages);
    ASSERT_EQ(expected.size(), messages.size());
    for (size_t m = 0; m < messages.size(); m++)
        EXPECT_EQ(hex_of(sha256(messages[m].data(), messages[m].size())), expected[m])
            << "message " << m << " of " << messages[m].size() << " bytes";
}
