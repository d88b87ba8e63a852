// SPDX-License-Identifier: MIT
// SHA-256 (FIPS 180-4, sections 4.1.2, 4.2.2, 5.1.1, 6.2): block compression and padding.
#include "lib/crypto/sha256.hpp"

namespace {

// The first 32 bits of the fractional parts of the cube roots of the first 64 primes
// (FIPS 180-4, 4.2.2).
constexpr u32 ROUND_CONSTANTS[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// The first 32 bits of the fractional parts of the square roots of the first 8 primes
// (FIPS 180-4, 5.3.3).
constexpr u32 INITIAL_STATE[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

constexpr u32 rotr(u32 value, unsigned count) { return (value >> count) | (value << (32 - count)); }

// Σ0, Σ1, σ0, σ1 and Ch, Maj of FIPS 180-4, 4.1.2.
constexpr u32 big_sigma0(u32 x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
constexpr u32 big_sigma1(u32 x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
constexpr u32 small_sigma0(u32 x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
constexpr u32 small_sigma1(u32 x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }
constexpr u32 choose(u32 x, u32 y, u32 z) { return (x & y) ^ (~x & z); }
constexpr u32 majority(u32 x, u32 y, u32 z) { return (x & y) ^ (x & z) ^ (y & z); }

// SHA-256 is big-endian throughout.
u32 load_be32(const u8 *bytes)
{
    return (u32{bytes[0]} << 24) | (u32{bytes[1]} << 16) | (u32{bytes[2]} << 8) | u32{bytes[3]};
}

void store_be32(u8 *bytes, u32 value)
{
    for (unsigned i = 0; i < 4; i++)
        bytes[i] = static_cast<u8>(value >> (24 - 8 * i));
}

} // namespace

Sha256::Sha256() { __builtin_memcpy(state_, INITIAL_STATE, sizeof(state_)); }

void Sha256::compress(const u8 *block)
{
    // The message schedule kept as a ring of 16 words (W[t] only needs W[t-16..t-1]).
    u32 schedule[16];
    for (usize t = 0; t < 16; t++)
        schedule[t] = load_be32(block + 4 * t);

    u32 a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    u32 e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (unsigned t = 0; t < 64; t++) {
        if (t >= 16) {
            schedule[t % 16] +=
                small_sigma1(schedule[(t - 2) % 16]) + schedule[(t - 7) % 16] + small_sigma0(schedule[(t - 15) % 16]);
        }
        const u32 temp1 = h + big_sigma1(e) + choose(e, f, g) + ROUND_CONSTANTS[t] + schedule[t % 16];
        const u32 temp2 = big_sigma0(a) + majority(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + temp1;
        d = c;
        c = b;
        b = a;
        a = temp1 + temp2;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
}

void Sha256::update(const void *data, usize size)
{
    input_.feed(data, size, [this](const u8 *block) { compress(block); });
}

Sha256Digest Sha256::finish()
{
    // Padding (5.1.1): the length takes the block's last 8 bytes.
    input_.pad(8, [this](const u8 *block) { compress(block); });
    Sha256Digest digest;
    for (usize i = 0; i < 8; i++)
        store_be32(digest.bytes + 4 * i, state_[i]);
    return digest;
}

Sha256Digest sha256(const void *data, usize size)
{
    Sha256 hash;
    hash.update(data, size);
    return hash.finish();
}
