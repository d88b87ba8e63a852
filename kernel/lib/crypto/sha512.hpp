// SPDX-License-Identifier: MIT
// SHA-512 (FIPS 180-4): the hash inside Ed25519 (RFC 8032).
#pragma once
#include "lib/crypto/block_buffer.hpp"
#include "lib/types.hpp"

inline constexpr usize SHA512_DIGEST_SIZE = 64;
inline constexpr usize SHA512_BLOCK_SIZE = 128;

struct Sha512Digest {
    u8 bytes[SHA512_DIGEST_SIZE] = {};
    friend bool operator==(const Sha512Digest &, const Sha512Digest &) = default;
};

// Incremental hashing, as Sha256.
class Sha512 final {
public:
    Sha512();
    void update(const void *data, usize size);
    [[nodiscard]] Sha512Digest finish();

private:
    void compress(const u8 *block);
    u64 state_[8];
    BlockBuffer<SHA512_BLOCK_SIZE> input_;
};

[[nodiscard]] Sha512Digest sha512(const void *data, usize size);
