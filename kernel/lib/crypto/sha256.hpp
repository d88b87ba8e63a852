// SPDX-License-Identifier: MIT
// SHA-256 (FIPS 180-4): the digest every Baton image carries of what it loads.
#pragma once
#include "lib/crypto/block_buffer.hpp"
#include "lib/types.hpp"

inline constexpr usize SHA256_DIGEST_SIZE = 32;
inline constexpr usize SHA256_BLOCK_SIZE = 64;

struct Sha256Digest {
    u8 bytes[SHA256_DIGEST_SIZE] = {};
    friend bool operator==(const Sha256Digest &, const Sha256Digest &) = default;
};

// Incremental hashing: update() any number of times, then finish() once. No heap, no
// failure; the object is about 110 bytes and safe on the kernel stack.
class Sha256 final {
public:
    Sha256();
    void update(const void *data, usize size);
    [[nodiscard]] Sha256Digest finish();

private:
    void compress(const u8 *block);
    u32 state_[8];
    BlockBuffer<SHA256_BLOCK_SIZE> input_;
};

[[nodiscard]] Sha256Digest sha256(const void *data, usize size);
