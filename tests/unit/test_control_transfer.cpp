// SPDX-License-Identifier: MIT
// Unit tests for binary transfers: CRC-32 and base64 against known vectors, chunk framing
// round trips and corruption detection, and the upload/download commands.
#include "control/transfer_codec.hpp"
#include "test_control_support.hpp"
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

namespace {

using Lines = std::vector<std::string>;
using Bytes = std::vector<u8>;

Bytes bytes_of(const std::string &text) { return Bytes(text.begin(), text.end()); }

Bytes random_bytes(size_t count, unsigned seed)
{
    std::mt19937 generator(seed);
    Bytes bytes(count);
    for (u8 &byte : bytes)
        byte = static_cast<u8>(generator());
    return bytes;
}

std::string encode(const Bytes &bytes)
{
    std::string text(base64_length(bytes.size()) + 1, '?');
    usize length = base64_encode(bytes.data(), bytes.size(), text.data(), text.size());
    EXPECT_EQ(length, base64_length(bytes.size()));
    text.resize(length);
    return text;
}

bool decode(const std::string &text, Bytes &bytes, usize capacity = 64)
{
    bytes.assign(capacity, 0);
    usize decoded = 0;
    if (!base64_decode(text.c_str(), bytes.data(), capacity, decoded))
        return false;
    bytes.resize(decoded);
    return true;
}

std::string crc_text(u32 crc)
{
    char text[CRC32_TEXT_LENGTH + 1];
    format_crc32(crc, text);
    return text;
}

std::string chunk_words(u32 seq, const Bytes &bytes)
{
    std::string text(CHUNK_WORDS_MAX + 1, '\0');
    usize length = format_chunk(seq, bytes.data(), bytes.size(), text.data(), text.size());
    EXPECT_GT(length, 0u);
    text.resize(length);
    return text;
}

// The chunk words split back into three, for parse_chunk.
ChunkError parse_words(const std::string &words, Chunk &chunk)
{
    size_t first = words.find(' '), second = words.rfind(' ');
    if (first == std::string::npos || first == second)
        return ChunkError::bad_data;
    std::string seq = words.substr(0, first), data = words.substr(first + 1, second - first - 1),
                crc = words.substr(second + 1);
    return parse_chunk(seq.c_str(), data.c_str(), crc.c_str(), chunk);
}

// Uploads `data` through the channel the way batonctl does; returns the last status.
std::string upload(ControlHarness &harness, const char *kind, const Bytes &data)
{
    std::string status = harness.status(std::string("upload begin ") + kind + " " + std::to_string(data.size()) + " " +
                                        crc_text(crc32(data.data(), data.size())));
    if (status.rfind("ok", 0) != 0)
        return status;
    for (u32 seq = 0; seq * TRANSFER_CHUNK_SIZE < data.size(); seq++) {
        size_t offset = seq * TRANSFER_CHUNK_SIZE;
        Bytes chunk(data.begin() + static_cast<long>(offset),
                    data.begin() + static_cast<long>(std::min(data.size(), offset + TRANSFER_CHUNK_SIZE)));
        status = harness.status("upload chunk " + chunk_words(seq, chunk));
        if (status != "ok chunk " + std::to_string(seq))
            return status;
    }
    return harness.status("upload end");
}

} // namespace

// ---- CRC-32 and base64 -------------------------------------------------------------------

TEST(ControlCodec, Crc32MatchesZlib)
{
    EXPECT_EQ(crc32(nullptr, 0), 0u);
    Bytes check = bytes_of("123456789");
    EXPECT_EQ(crc32(check.data(), check.size()), 0xcbf43926u);
    Bytes fox = bytes_of("The quick brown fox jumps over the lazy dog");
    EXPECT_EQ(crc32(fox.data(), fox.size()), 0x414fa339u);
    // Chaining over any split gives the CRC of the whole.
    for (size_t cut = 0; cut <= fox.size(); cut++)
        EXPECT_EQ(crc32(fox.data() + cut, fox.size() - cut, crc32(fox.data(), cut)), 0x414fa339u);
}

TEST(ControlCodec, Crc32Text)
{
    EXPECT_EQ(crc_text(0xcbf43926u), "cbf43926");
    EXPECT_EQ(crc_text(0x0000000au), "0000000a");
    u32 crc = 0;
    EXPECT_TRUE(parse_crc32("CBF43926", crc));
    EXPECT_EQ(crc, 0xcbf43926u);
    for (const char *bad : {"", "cbf4392", "cbf439266", "cbf4392g", "0xf43926", " bf43926"})
        EXPECT_FALSE(parse_crc32(bad, crc)) << bad;
}

TEST(ControlCodec, Base64MatchesRfc4648)
{
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
        {"\xff\xfe\xfd", "//79"},
        {std::string("\0\0\0\0", 4), "AAAAAA=="},
    };
    for (const auto &[plain, text] : vectors) {
        EXPECT_EQ(encode(bytes_of(plain)), text);
        Bytes decoded;
        ASSERT_TRUE(decode(text, decoded)) << text;
        EXPECT_EQ(decoded, bytes_of(plain)) << text;
    }
}

TEST(ControlCodec, Base64RoundTripsEveryLength)
{
    for (size_t length = 0; length <= TRANSFER_CHUNK_SIZE; length++) {
        Bytes data = random_bytes(length, static_cast<unsigned>(length));
        Bytes decoded;
        ASSERT_TRUE(decode(encode(data), decoded, TRANSFER_CHUNK_SIZE)) << length;
        EXPECT_EQ(decoded, data);
    }
}

TEST(ControlCodec, Base64DecoderIsStrict)
{
    Bytes decoded;
    for (const char *bad : {"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm=v", "Zh==", "Zm9=", "Zm9v\n", "Zm 9",
                            "Zm-v", "Zm_v", "Zm9v=", "Zm8=Zm9v"})
        EXPECT_FALSE(decode(bad, decoded)) << bad;
    // Capacity is respected exactly.
    EXPECT_TRUE(decode("Zm9vYmFy", decoded, 6));
    EXPECT_FALSE(decode("Zm9vYmFy", decoded, 5));
    EXPECT_FALSE(decode("Zm9vYg==", decoded, 3));
    // The encoder refuses a buffer without room for the NUL.
    char text[4];
    Bytes three = bytes_of("foo");
    EXPECT_EQ(base64_encode(three.data(), 3, text, sizeof(text)), 0u);
}

// ---- chunk framing -----------------------------------------------------------------------

TEST(ControlCodec, ChunkLayout)
{
    EXPECT_EQ(transfer_chunk_count(0), 0u);
    EXPECT_EQ(transfer_chunk_count(1), 1u);
    EXPECT_EQ(transfer_chunk_count(TRANSFER_CHUNK_SIZE), 1u);
    EXPECT_EQ(transfer_chunk_count(TRANSFER_CHUNK_SIZE + 1), 2u);
    EXPECT_EQ(transfer_chunk_length(TRANSFER_CHUNK_SIZE + 1, 0), TRANSFER_CHUNK_SIZE);
    EXPECT_EQ(transfer_chunk_length(TRANSFER_CHUNK_SIZE + 1, 1), 1u);
    EXPECT_EQ(transfer_chunk_length(TRANSFER_CHUNK_SIZE + 1, 2), 0u);
    EXPECT_EQ(transfer_chunk_count(TRANSFER_MAX_SIZE), TRANSFER_MAX_SIZE / TRANSFER_CHUNK_SIZE);
    // The longest request and response lines fit the line limit.
    EXPECT_LE(std::string("upload chunk ").size() + CHUNK_WORDS_MAX, CONTROL_LINE_MAX);
    EXPECT_LE(std::string(". chunk ").size() + CHUNK_WORDS_MAX, CONTROL_LINE_MAX);
}

TEST(ControlCodec, ChunkRoundTrip)
{
    Bytes data = random_bytes(TRANSFER_CHUNK_SIZE, 7);
    std::string words = chunk_words(4294967295u, data);
    EXPECT_EQ(words.rfind("4294967295 ", 0), 0u);
    EXPECT_LE(words.size(), CHUNK_WORDS_MAX);
    Chunk chunk;
    ASSERT_EQ(parse_words(words, chunk), ChunkError::none);
    EXPECT_EQ(chunk.seq, 4294967295u);
    EXPECT_EQ(Bytes(chunk.bytes, chunk.bytes + chunk.length), data);
    EXPECT_EQ(chunk.crc, crc32(data.data(), data.size()));

    EXPECT_EQ(chunk_words(0, bytes_of("foo")), "0 Zm9v " + crc_text(crc32(bytes_of("foo").data(), 3)));
    char small[CHUNK_WORDS_MAX];
    EXPECT_EQ(format_chunk(0, data.data(), data.size(), small, sizeof(small)), 0u);
    Bytes too_big(TRANSFER_CHUNK_SIZE + 1);
    std::string room(CHUNK_WORDS_MAX + 64, '\0');
    EXPECT_EQ(format_chunk(0, too_big.data(), too_big.size(), room.data(), room.size()), 0u);
}

TEST(ControlCodec, EveryCorruptedCharacterOfAChunkIsCaught)
{
    Bytes data = random_bytes(100, 11);
    std::string words = chunk_words(12, data);
    const std::string replacements = "A/9z+=0xQ ";
    usize caught = 0, tries = 0;
    for (size_t i = 0; i < words.size(); i++) {
        for (char replacement : replacements) {
            if (replacement == words[i] || (words[i] == ' ') != (replacement == ' '))
                continue; // same text, or a change of word boundaries (tested below)
            std::string corrupted = words;
            corrupted[i] = replacement;
            Chunk chunk;
            ChunkError error = parse_words(corrupted, chunk);
            tries++;
            // Either the line is refused, or (a changed sequence number) the chunk
            // arrives as a different, still self-consistent chunk that the sequence
            // check catches.
            if (error != ChunkError::none)
                caught++;
            else
                EXPECT_TRUE(i < 2 && chunk.seq != 12) << corrupted;
        }
    }
    EXPECT_GT(caught, tries * 9 / 10);
    Chunk chunk;
    EXPECT_EQ(parse_words("12 " + encode(data) + "x " + crc_text(crc32(data.data(), data.size())), chunk),
              ChunkError::bad_data);
    EXPECT_EQ(parse_words("x12 Zm9v 00000000", chunk), ChunkError::bad_sequence);
    EXPECT_EQ(parse_words("12345678901 Zm9v 00000000", chunk), ChunkError::bad_sequence);
    EXPECT_EQ(parse_words("4294967296 Zm9v 00000000", chunk), ChunkError::bad_sequence);
    EXPECT_EQ(parse_words("1 Zm9v 0000000", chunk), ChunkError::bad_checksum);
    EXPECT_EQ(parse_words("1 Zm9v 00000000", chunk), ChunkError::checksum_mismatch);
    std::string too_long = encode(random_bytes(TRANSFER_CHUNK_SIZE + 3, 1));
    EXPECT_EQ(parse_words("1 " + too_long + " 00000000", chunk), ChunkError::bad_data);
}

// ---- upload ----------------------------------------------------------------------------------

TEST(ControlUpload, RoundTripOfEverySizeShape)
{
    for (size_t size : {size_t{1}, TRANSFER_CHUNK_SIZE - 1, TRANSFER_CHUNK_SIZE, TRANSFER_CHUNK_SIZE * 3 + 17}) {
        ControlHarness harness;
        Bytes data = random_bytes(size, static_cast<unsigned>(size));
        std::string status = upload(harness, "image", data);
        EXPECT_EQ(status, "ok upload image complete: " + std::to_string(size) + " bytes, crc32 " +
                              crc_text(crc32(data.data(), data.size())));
        EXPECT_EQ(harness.backend.stored[TransferKind::image], data) << size;
    }
}

TEST(ControlUpload, BeginChecksItsArguments)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("upload begin kernel 10 00000000"),
              "error EINVAL upload: unknown kind 'kernel' (image, record or snapshot)");
    EXPECT_EQ(harness.status("upload begin image 10k 00000000"),
              "error EINVAL upload: size '10k' is not a decimal byte count up to 1073741824");
    EXPECT_EQ(harness.status("upload begin image 1073741825 00000000"),
              "error EINVAL upload: size '1073741825' is not a decimal byte count up to 1073741824");
    EXPECT_EQ(harness.status("upload begin image 10 xyz"), "error EINVAL upload: checksum 'xyz' is not 8 hex digits");
    EXPECT_EQ(
        harness.status("upload begin image 10"),
        "error EINVAL usage: upload begin KIND SIZE CRC32 | upload chunk SEQ BASE64 CRC32 | upload end | upload abort");
    EXPECT_EQ(
        harness.status("upload start"),
        "error EINVAL usage: upload begin KIND SIZE CRC32 | upload chunk SEQ BASE64 CRC32 | upload end | upload abort");
    EXPECT_TRUE(harness.backend.calls.empty());
    EXPECT_EQ(harness.status("upload begin image 1025 0000000A"), "ok upload image: 1025 bytes in 3 chunks");
    EXPECT_EQ(harness.backend.calls, Lines{"upload_begin image 1025"});
}

TEST(ControlUpload, ChunksMustComeInOrderWithTheRightLength)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("upload chunk 0 Zm9v " + crc_text(crc32(bytes_of("foo").data(), 3))),
              "error EINVAL upload chunk: no upload in progress (upload begin first)");
    Bytes data = random_bytes(TRANSFER_CHUNK_SIZE + 3, 5);
    Bytes first(data.begin(), data.begin() + TRANSFER_CHUNK_SIZE), last(data.end() - 3, data.end());
    ASSERT_EQ(harness
                  .status("upload begin image " + std::to_string(data.size()) + " " +
                          crc_text(crc32(data.data(), data.size())))
                  .rfind("ok", 0),
              0u);
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(1, last)),
              "error ERANGE chunk 1 out of order: expected chunk 0 of 2");
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(0, last)), "error EINVAL chunk 0 has 3 bytes, expected 512");
    EXPECT_EQ(harness.status("upload end"), "error EINVAL upload end: only 0 of 2 chunks received");
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(0, first)), "ok chunk 0");
    // The client lost our answer and sends chunk 0 again: confirmed, not written twice.
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(0, first)), "ok chunk 0 (repeat)");
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(1, first)),
              "error EINVAL chunk 1 has 512 bytes, expected 3");
    std::string corrupt = chunk_words(1, last);
    corrupt[3] = corrupt[3] == 'A' ? 'B' : 'A';
    std::string status = harness.status("upload chunk " + corrupt);
    EXPECT_EQ(status.rfind("error EIO chunk 1: checksum mismatch", 0), 0u) << status;
    EXPECT_EQ(harness.status("upload chunk 1 Zm9v* 00000000"),
              "error EINVAL upload chunk: data is not canonical base64 of at most one chunk");
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(1, last)), "ok chunk 1");
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(2, last)),
              "error ERANGE chunk 2 is beyond the last chunk (2 chunks)");
    EXPECT_EQ(harness.status("upload end").rfind("ok upload image complete", 0), 0u);
    EXPECT_EQ(harness.backend.stored[TransferKind::image], data);
    int writes = 0;
    for (const std::string &call : harness.backend.calls)
        writes += call.rfind("upload_write", 0) == 0;
    EXPECT_EQ(writes, 2);
}

TEST(ControlUpload, WholeChecksumMismatchAbortsTheUpload)
{
    ControlHarness harness;
    Bytes data = random_bytes(40, 3);
    ASSERT_EQ(harness.status("upload begin image 40 12345678"), "ok upload image: 40 bytes in 1 chunks");
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(0, data)), "ok chunk 0");
    EXPECT_EQ(harness.status("upload end"), "error EIO upload checksum mismatch (received " +
                                                crc_text(crc32(data.data(), 40)) +
                                                ", declared 12345678); upload aborted");
    EXPECT_EQ(harness.backend.calls.back(), "upload_abort");
    EXPECT_EQ(harness.status("upload end"), "error EINVAL upload end: no upload in progress");
    EXPECT_TRUE(harness.backend.stored.empty());
}

TEST(ControlUpload, AbortAndRestart)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("upload abort"), "ok no upload in progress");
    ASSERT_EQ(harness.status("upload begin image 10 00000000").rfind("ok", 0), 0u);
    EXPECT_EQ(harness.status("upload abort"), "ok upload aborted");
    ASSERT_EQ(harness.status("upload begin image 10 00000000").rfind("ok", 0), 0u);
    // A new begin (a client starting over) abandons the open upload first.
    ASSERT_EQ(harness.status("upload begin image 20 00000000").rfind("ok", 0), 0u);
    EXPECT_EQ(harness.backend.calls, (Lines{"upload_begin image 10", "upload_abort", "upload_begin image 10",
                                            "upload_abort", "upload_begin image 20"}));
    // So does a download.
    harness.backend.stored[TransferKind::record] = bytes_of("rec");
    EXPECT_EQ(harness.status("download begin record"), "ok");
    EXPECT_EQ(harness.backend.calls[5], "upload_abort");
}

TEST(ControlUpload, BackendRefusalsAndWriteFailures)
{
    ControlHarness harness;
    harness.backend.fail_next = -BATON_E2BIG;
    harness.backend.fail_reason = "image of 10 bytes is larger than the staging area";
    EXPECT_EQ(harness.status("upload begin image 10 00000000"),
              "error E2BIG image of 10 bytes is larger than the staging area");
    Bytes data = random_bytes(TRANSFER_CHUNK_SIZE * 2, 9);
    ASSERT_EQ(harness.status("upload begin image 1024 " + crc_text(crc32(data.data(), data.size()))).rfind("ok", 0),
              0u);
    harness.backend.fail_next = -BATON_EFAULT;
    harness.backend.fail_reason.clear();
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(0, Bytes(data.begin(), data.begin() + 512))),
              "error EFAULT upload chunk (upload aborted): bad address");
    EXPECT_EQ(harness.backend.calls.back(), "upload_abort");
    EXPECT_EQ(harness.status("upload chunk " + chunk_words(1, Bytes(data.begin() + 512, data.end()))),
              "error EINVAL upload chunk: no upload in progress (upload begin first)");
    // A refusal at the end (the image fails verification) is reported as such.
    harness.backend.fail_next = 0;
    ASSERT_EQ(harness.status("upload begin image 3 " + crc_text(crc32(bytes_of("abc").data(), 3))).rfind("ok", 0), 0u);
    ASSERT_EQ(harness.status("upload chunk " + chunk_words(0, bytes_of("abc"))), "ok chunk 0");
    harness.backend.fail_next = -BATON_EINVAL;
    harness.backend.fail_reason = "not an ELF image";
    EXPECT_EQ(harness.status("upload end"), "error EINVAL not an ELF image");
}

TEST(ControlUpload, DefaultBackendRefusesTransfers)
{
    MinimalBackend backend; // no transfer methods: the defaults refuse
    CapturedOutput output;
    ControlChannel channel(backend, output);
    std::string requests = "upload begin image 1 00000000\ndownload begin record\n";
    channel.feed(requests.data(), requests.size());
    EXPECT_EQ(output.take_lines(), (Lines{"error ENOSYS this image does not transfer image data",
                                          "error ENOSYS this image does not transfer record data"}));
}

// ---- download ---------------------------------------------------------------------------------

TEST(ControlDownload, RoundTrip)
{
    ControlHarness harness;
    Bytes record = random_bytes(TRANSFER_CHUNK_SIZE * 2 + 100, 21);
    harness.backend.stored[TransferKind::record] = record;
    Lines lines = harness.send("download begin record");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], ". transfer kind=record size=1124 chunks=3 chunk_size=512 crc32=" +
                            crc_text(crc32(record.data(), record.size())));
    EXPECT_EQ(lines[1], "ok");
    Bytes assembled;
    for (u32 seq : {2u, 0u, 1u, 1u}) { // any order, any number of times
        lines = harness.send("download chunk " + std::to_string(seq));
        ASSERT_EQ(lines.size(), 2u);
        ASSERT_EQ(lines[1], "ok");
        ASSERT_EQ(lines[0].rfind(". chunk ", 0), 0u);
        Chunk chunk;
        ASSERT_EQ(parse_words(lines[0].substr(8), chunk), ChunkError::none);
        EXPECT_EQ(chunk.seq, seq);
        if (seq == assembled.size() / TRANSFER_CHUNK_SIZE) {
            assembled.insert(assembled.end(), chunk.bytes, chunk.bytes + chunk.length);
        } else if (seq == 2) {
            EXPECT_EQ(chunk.length, 100u);
        }
    }
    lines = harness.send("download chunk 2");
    Chunk last;
    ASSERT_EQ(parse_words(lines[0].substr(8), last), ChunkError::none);
    assembled.insert(assembled.end(), last.bytes, last.bytes + last.length);
    EXPECT_EQ(assembled, record);
    EXPECT_EQ(harness.status("download chunk 3"), "error ERANGE download chunk: 3 is beyond the last chunk (3 chunks)");
    EXPECT_EQ(harness.status("download chunk -1"), "error EINVAL download chunk: '-1' is not a chunk number");
    EXPECT_EQ(harness.status("download end"), "ok download ended");
    EXPECT_EQ(harness.backend.calls.back(), "download_end");
    EXPECT_EQ(harness.status("download chunk 0"),
              "error EINVAL download chunk: no download in progress (download begin first)");
    EXPECT_EQ(harness.status("download end"), "ok no download in progress");
}

TEST(ControlDownload, RefusalsAndFailures)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("download begin record"), "error ENOENT no record stored");
    EXPECT_EQ(harness.status("download begin disk"),
              "error EINVAL download: unknown kind 'disk' (image, record or snapshot)");
    EXPECT_EQ(harness.status("download chunk"),
              "error EINVAL usage: download begin KIND | download chunk SEQ | download end");
    harness.backend.stored[TransferKind::record] = bytes_of("abc");
    harness.backend.extra_download_size = TRANSFER_MAX_SIZE;
    EXPECT_EQ(harness.status("download begin record"),
              "error E2BIG download: 1073741827 bytes is more than a transfer carries (1073741824)");
    EXPECT_EQ(harness.backend.calls.back(), "download_end");
    harness.backend.extra_download_size = 0;
    harness.backend.fail_next = 0;
    ASSERT_EQ(harness.status("download begin record"), "ok");
    harness.backend.fail_next = -BATON_EIO;
    EXPECT_EQ(harness.status("download chunk 0"), "error EIO download chunk: input/output error");
    // An empty record is a transfer without chunks.
    harness.backend.stored[TransferKind::record] = {};
    EXPECT_EQ(harness.send("download begin record"),
              (Lines{". transfer kind=record size=0 chunks=0 chunk_size=512 crc32=00000000", "ok"}));
    EXPECT_EQ(harness.status("download chunk 0"), "error ERANGE download chunk: 0 is beyond the last chunk (0 chunks)");
}
