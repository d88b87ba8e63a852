// SPDX-License-Identifier: MIT
// The message framing SHA-256 and SHA-512 share (FIPS 180-4, 5.1): blocks in, then padding and the length.
#pragma once
#include "lib/types.hpp"

// Collects input into whole blocks for a compression function, and pads the message at
// the end. `Compress` is called with each full block of BlockSize bytes.
template <usize BlockSize>
struct BlockBuffer {
    u8 bytes[BlockSize] = {};
    usize buffered = 0;
    u64 total_bytes = 0; // images are far below 2^61 bytes, so the bit count fits 64 bits

    template <typename Compress>
    void feed(const void *data, usize size, Compress &&compress)
    {
        if (size == 0)
            return; // `data` may then be null, which memcpy must not be given
        const u8 *input = static_cast<const u8 *>(data);
        total_bytes += size;
        // Top up a partly filled buffer first.
        if (buffered > 0) {
            const usize take = size < BlockSize - buffered ? size : BlockSize - buffered;
            __builtin_memcpy(bytes + buffered, input, take);
            buffered += take;
            input += take;
            size -= take;
            if (buffered < BlockSize)
                return;
            compress(bytes);
            buffered = 0;
        }
        // Whole blocks straight from the caller's memory: no copy for the bulk of an image.
        for (; size >= BlockSize; input += BlockSize, size -= BlockSize)
            compress(input);
        __builtin_memcpy(bytes, input, size);
        buffered = size;
    }

    // Padding: a 1 bit, zeros, then the message length in bits as a big-endian number
    // filling the block's last `length_size` bytes (8 for SHA-256, 16 for SHA-512).
    template <typename Compress>
    void pad(usize length_size, Compress &&compress)
    {
        const usize length_offset = BlockSize - length_size;
        bytes[buffered++] = 0x80;
        if (buffered > length_offset) {
            __builtin_memset(bytes + buffered, 0, BlockSize - buffered);
            compress(bytes);
            buffered = 0;
        }
        __builtin_memset(bytes + buffered, 0, BlockSize - buffered);
        const u64 high_bits = total_bytes >> 61, low_bits = total_bytes << 3;
        for (usize i = 0; i < 8; i++) {
            bytes[BlockSize - 1 - i] = static_cast<u8>(low_bits >> (8 * i));
            if (length_size > 8)
                bytes[BlockSize - 9 - i] = static_cast<u8>(high_bits >> (8 * i));
        }
        compress(bytes);
    }
};
