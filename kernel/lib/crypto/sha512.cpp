// SPDX-License-Identifier: MIT
// SHA-512 (FIPS 180-4, sections 4.1.3, 4.2.3, 5.1.2, 6.4): block compression and padding.
#include "lib/crypto/sha512.hpp"

namespace {

// The first 64 bits of the fractional parts of the cube roots of the first 80 primes
// (FIPS 180-4, 4.2.3).
constexpr u64 ROUND_CONSTANTS[80] = {
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538,
    0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe,
    0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
    0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab,
    0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
    0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
    0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53,
    0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c,
    0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6,
    0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
};

// The first 64 bits of the fractional parts of the square roots of the first 8 primes
// (FIPS 180-4, 5.3.5).
constexpr u64 INITIAL_STATE[8] = {
    0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
    0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
};

constexpr u64 rotr(u64 value, unsigned count) { return (value >> count) | (value << (64 - count)); }

// Σ0, Σ1, σ0, σ1 and Ch, Maj of FIPS 180-4, 4.1.3.
constexpr u64 big_sigma0(u64 x) { return rotr(x, 28) ^ rotr(x, 34) ^ rotr(x, 39); }
constexpr u64 big_sigma1(u64 x) { return rotr(x, 14) ^ rotr(x, 18) ^ rotr(x, 41); }
constexpr u64 small_sigma0(u64 x) { return rotr(x, 1) ^ rotr(x, 8) ^ (x >> 7); }
constexpr u64 small_sigma1(u64 x) { return rotr(x, 19) ^ rotr(x, 61) ^ (x >> 6); }
constexpr u64 choose(u64 x, u64 y, u64 z) { return (x & y) ^ (~x & z); }
constexpr u64 majority(u64 x, u64 y, u64 z) { return (x & y) ^ (x & z) ^ (y & z); }

// SHA-512 is big-endian throughout.
u64 load_be64(const u8 *bytes)
{
    u64 value = 0;
    for (unsigned i = 0; i < 8; i++)
        value = (value << 8) | bytes[i];
    return value;
}

void store_be64(u8 *bytes, u64 value)
{
    for (unsigned i = 0; i < 8; i++)
        bytes[i] = static_cast<u8>(value >> (56 - 8 * i));
}

} // namespace

Sha512::Sha512() { __builtin_memcpy(state_, INITIAL_STATE, sizeof(state_)); }

void Sha512::compress(const u8 *block)
{
    // The message schedule kept as a ring of 16 words (W[t] only needs W[t-16..t-1]).
    u64 schedule[16];
    for (usize t = 0; t < 16; t++)
        schedule[t] = load_be64(block + 8 * t);

    u64 a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    u64 e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (unsigned t = 0; t < 80; t++) {
        if (t >= 16) {
            schedule[t % 16] +=
                small_sigma1(schedule[(t - 2) % 16]) + schedule[(t - 7) % 16] + small_sigma0(schedule[(t - 15) % 16]);
        }
        const u64 temp1 = h + big_sigma1(e) + choose(e, f, g) + ROUND_CONSTANTS[t] + schedule[t % 16];
        const u64 temp2 = big_sigma0(a) + majority(a, b, c);
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

void Sha512::update(const void *data, usize size)
{
    input_.feed(data, size, [this](const u8 *block) { compress(block); });
}

Sha512Digest Sha512::finish()
{
    // Padding (5.1.2): the length takes the block's last 16 bytes.
    input_.pad(16, [this](const u8 *block) { compress(block); });
    Sha512Digest digest;
    for (usize i = 0; i < 8; i++)
        store_be64(digest.bytes + 8 * i, state_[i]);
    return digest;
}

Sha512Digest sha512(const void *data, usize size)
{
    Sha512 hash;
    hash.update(data, size);
    return hash.finish();
}
