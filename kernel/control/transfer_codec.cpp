// SPDX-License-Identifier: MIT
// CRC-32, strict base64 and the chunk words of the control channel's binary transfers.
#include "control/transfer_codec.hpp"

namespace {

struct Crc32Table {
    u32 entry[256];
};

constexpr Crc32Table make_crc32_table()
{
    Crc32Table table{};
    for (u32 i = 0; i < 256; i++) {
        u32 value = i;
        for (int bit = 0; bit < 8; bit++)
            value = (value & 1) != 0 ? (value >> 1) ^ 0xedb88320u : value >> 1;
        table.entry[i] = value;
    }
    return table;
}

constexpr Crc32Table crc32_table = make_crc32_table();

constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The 6-bit value of a base64 character, or 64 for anything else.
u32 base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return static_cast<u32>(c - 'A');
    if (c >= 'a' && c <= 'z')
        return static_cast<u32>(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return static_cast<u32>(c - '0' + 52);
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return 64;
}

u32 hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return static_cast<u32>(c - '0');
    if (c >= 'a' && c <= 'f')
        return static_cast<u32>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return static_cast<u32>(c - 'A' + 10);
    return 16;
}

usize text_length(const char *text)
{
    usize length = 0;
    while (text[length] != '\0')
        length++;
    return length;
}

} // namespace

u32 crc32(const u8 *bytes, usize length, u32 previous)
{
    u32 crc = ~previous;
    for (usize i = 0; i < length; i++)
        crc = crc32_table.entry[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

void format_crc32(u32 crc, char (&text)[CRC32_TEXT_LENGTH + 1])
{
    constexpr char digits[] = "0123456789abcdef";
    for (usize i = 0; i < CRC32_TEXT_LENGTH; i++)
        text[i] = digits[(crc >> (28 - 4 * i)) & 0xf];
    text[CRC32_TEXT_LENGTH] = '\0';
}

bool parse_crc32(const char *text, u32 &crc)
{
    u32 value = 0;
    for (usize i = 0; i < CRC32_TEXT_LENGTH; i++) {
        u32 digit = hex_value(text[i]); // stops at the NUL: it is no digit
        if (digit == 16)
            return false;
        value = value << 4 | digit;
    }
    if (text[CRC32_TEXT_LENGTH] != '\0')
        return false;
    crc = value;
    return true;
}

usize base64_encode(const u8 *bytes, usize length, char *text, usize capacity)
{
    usize needed = base64_length(length);
    if (capacity <= needed)
        return 0;
    usize out = 0;
    for (usize i = 0; i < length; i += 3) {
        usize left = length - i;
        u32 group = static_cast<u32>(bytes[i]) << 16;
        if (left > 1)
            group |= static_cast<u32>(bytes[i + 1]) << 8;
        if (left > 2)
            group |= bytes[i + 2];
        text[out++] = base64_alphabet[(group >> 18) & 63];
        text[out++] = base64_alphabet[(group >> 12) & 63];
        text[out++] = left > 1 ? base64_alphabet[(group >> 6) & 63] : '=';
        text[out++] = left > 2 ? base64_alphabet[group & 63] : '=';
    }
    text[out] = '\0';
    return out;
}

bool base64_decode(const char *text, u8 *bytes, usize capacity, usize &decoded)
{
    usize length = text_length(text);
    if (length % 4 != 0)
        return false;
    usize out = 0;
    for (usize i = 0; i < length; i += 4) {
        bool last_group = i + 4 == length;
        usize padding = 0;
        if (last_group)
            padding = text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0;
        u32 group = 0;
        for (usize j = 0; j < 4; j++) {
            u32 value = j < 4 - padding ? base64_value(text[i + j]) : 0;
            if (value == 64)
                return false; // includes '=' anywhere but the padding positions
            group = group << 6 | value;
        }
        // Bits that the padding leaves over must be zero (canonical form).
        if ((padding == 2 && (group & 0xffff) != 0) || (padding == 1 && (group & 0xff) != 0))
            return false;
        usize produced = 3 - padding;
        if (capacity - out < produced)
            return false;
        bytes[out++] = static_cast<u8>(group >> 16);
        if (produced > 1)
            bytes[out++] = static_cast<u8>(group >> 8);
        if (produced > 2)
            bytes[out++] = static_cast<u8>(group);
    }
    decoded = out;
    return true;
}

usize format_chunk(u32 seq, const u8 *bytes, usize length, char *text, usize capacity)
{
    if (length > TRANSFER_CHUNK_SIZE || capacity <= CHUNK_WORDS_MAX)
        return 0;
    char digits[10];
    usize digit_count = 0;
    do {
        digits[digit_count++] = static_cast<char>('0' + seq % 10);
        seq /= 10;
    } while (seq != 0);
    usize out = 0;
    while (digit_count > 0)
        text[out++] = digits[--digit_count];
    text[out++] = ' ';
    out += base64_encode(bytes, length, text + out, capacity - out);
    text[out++] = ' ';
    char crc_text[CRC32_TEXT_LENGTH + 1];
    format_crc32(crc32(bytes, length), crc_text);
    for (usize i = 0; i < CRC32_TEXT_LENGTH; i++)
        text[out++] = crc_text[i];
    text[out] = '\0';
    return out;
}

const char *chunk_error_text(ChunkError error)
{
    switch (error) {
    case ChunkError::none: return "no error";
    case ChunkError::bad_sequence: return "sequence number is not a decimal number below 2^32";
    case ChunkError::bad_data: return "data is not canonical base64 of at most one chunk";
    case ChunkError::bad_checksum: return "checksum is not 8 hex digits";
    case ChunkError::checksum_mismatch: return "checksum mismatch";
    }
    return "unknown chunk error";
}

ChunkError parse_chunk(const char *seq, const char *data, const char *crc, Chunk &chunk)
{
    u64 number = 0;
    usize digits = 0;
    for (; seq[digits] != '\0'; digits++) {
        if (seq[digits] < '0' || seq[digits] > '9' || digits == 10)
            return ChunkError::bad_sequence;
        number = number * 10 + static_cast<u64>(seq[digits] - '0');
    }
    if (digits == 0 || number > 0xffffffffu)
        return ChunkError::bad_sequence;
    if (!parse_crc32(crc, chunk.crc))
        return ChunkError::bad_checksum;
    // An empty data word cannot occur (it would not be a word), so a chunk has >= 1 byte.
    if (!base64_decode(data, chunk.bytes, TRANSFER_CHUNK_SIZE, chunk.length) || chunk.length == 0)
        return ChunkError::bad_data;
    chunk.seq = static_cast<u32>(number);
    chunk.computed_crc = crc32(chunk.bytes, chunk.length);
    return chunk.computed_crc == chunk.crc ? ChunkError::none : ChunkError::checksum_mismatch;
}
