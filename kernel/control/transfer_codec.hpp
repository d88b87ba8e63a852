// SPDX-License-Identifier: MIT
// Framing for binary transfers over the line protocol: CRC-32, base64, chunk words.
#pragma once
#include "control/protocol.hpp"

// CRC-32 as zlib and Python's zlib.crc32 compute it (IEEE 802.3, reflected, inverted
// in and out). Chains: crc32(b, n, crc32(a, m)) is the CRC of a followed by b.
u32 crc32(const u8 *bytes, usize length, u32 previous = 0);

// Exactly 8 hex digits, lower case when written, either case when read.
inline constexpr usize CRC32_TEXT_LENGTH = 8;
void format_crc32(u32 crc, char (&text)[CRC32_TEXT_LENGTH + 1]);
bool parse_crc32(const char *text, u32 &crc);

// Standard base64 (RFC 4648 alphabet, '=' padding). The decoder is strict: length a
// multiple of 4, padding only at the end, unused bits zero, so every byte string has
// exactly one accepted spelling and a corrupted character cannot pass as another.
constexpr usize base64_length(usize bytes) { return (bytes + 2) / 3 * 4; }
// Writes base64_length(length) characters and a NUL; capacity must allow for both.
// Returns the number of characters, or 0 (writing nothing) if capacity is too small.
usize base64_encode(const u8 *bytes, usize length, char *text, usize capacity);
// Decodes NUL-terminated `text` into at most `capacity` bytes. Returns false if the text
// is not canonical base64 or would decode to more than capacity bytes.
bool base64_decode(const char *text, u8 *bytes, usize capacity, usize &decoded);

// How a transfer of `size` bytes is cut: chunk `seq` starts at seq * TRANSFER_CHUNK_SIZE
// and only the last one may be shorter. A zero-byte transfer has no chunks.
constexpr u64 transfer_chunk_count(u64 size) { return (size + TRANSFER_CHUNK_SIZE - 1) / TRANSFER_CHUNK_SIZE; }
constexpr usize transfer_chunk_length(u64 size, u64 seq)
{
    u64 offset = seq * TRANSFER_CHUNK_SIZE;
    if (offset >= size)
        return 0;
    return size - offset < TRANSFER_CHUNK_SIZE ? size - offset : TRANSFER_CHUNK_SIZE;
}

// One chunk on the wire is three words: `SEQ BASE64 CRC32` (decimal sequence number,
// the chunk's bytes, the CRC-32 of those bytes). The same words follow `upload chunk`
// in a request and `. chunk` in a download response.
inline constexpr usize CHUNK_WORDS_MAX = 10 + 1 + TRANSFER_CHUNK_TEXT_MAX + 1 + CRC32_TEXT_LENGTH;

// Writes the three words for `length` (<= TRANSFER_CHUNK_SIZE) bytes into `text`, which
// needs CHUNK_WORDS_MAX + 1 characters. Returns the length, or 0 if it does not fit.
usize format_chunk(u32 seq, const u8 *bytes, usize length, char *text, usize capacity);

enum class ChunkError : u8 {
    none,
    bad_sequence, // not a decimal number below 2^32
    bad_data, // not canonical base64, or more than TRANSFER_CHUNK_SIZE bytes
    bad_checksum, // not 8 hex digits
    checksum_mismatch, // well formed, but the bytes do not match the CRC
};
const char *chunk_error_text(ChunkError error);

struct Chunk {
    u32 seq = 0;
    usize length = 0;
    u32 crc = 0; // as the line states it
    u32 computed_crc = 0; // of the decoded bytes
    u8 bytes[TRANSFER_CHUNK_SIZE] = {};
};

// Checks and decodes the three words of a chunk into `chunk`.
ChunkError parse_chunk(const char *seq, const char *data, const char *crc, Chunk &chunk);
