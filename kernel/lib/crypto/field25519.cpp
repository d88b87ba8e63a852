// SPDX-License-Identifier: MIT
// GF(2^255 - 19) in five 51-bit limbs: carries, products through 128-bit integers.
#include "lib/crypto/field25519.hpp"

namespace field25519 {
namespace {

using u128 = unsigned __int128;

constexpr u64 LIMB_MASK = (u64{1} << 51) - 1;

// 4p in radix 2^51, added before a subtraction so that no limb goes below zero.
constexpr u64 FOUR_P_LIMB0 = 4 * ((u64{1} << 51) - 19);
constexpr u64 FOUR_P_LIMB = 4 * ((u64{1} << 51) - 1);

// Brings limbs below 2^63 back below 2^52. 2^255 = 19 (mod p): what carries out of the
// top limb comes back into the bottom one times 19.
Element carry(Element h)
{
    u64 *l = h.limbs;
    for (unsigned i = 0; i < 4; i++) {
        l[i + 1] += l[i] >> 51;
        l[i] &= LIMB_MASK;
    }
    l[0] += 19 * (l[4] >> 51);
    l[4] &= LIMB_MASK;
    l[1] += l[0] >> 51;
    l[0] &= LIMB_MASK;
    return h;
}

// The same for the 128-bit column sums of a product (each below 2^116).
Element carry_wide(u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
    Element h;
    r1 += r0 >> 51;
    h.limbs[0] = static_cast<u64>(r0) & LIMB_MASK;
    r2 += r1 >> 51;
    h.limbs[1] = static_cast<u64>(r1) & LIMB_MASK;
    r3 += r2 >> 51;
    h.limbs[2] = static_cast<u64>(r2) & LIMB_MASK;
    r4 += r3 >> 51;
    h.limbs[3] = static_cast<u64>(r3) & LIMB_MASK;
    h.limbs[4] = static_cast<u64>(r4) & LIMB_MASK;
    const u128 low = h.limbs[0] + (r4 >> 51) * 19;
    h.limbs[0] = static_cast<u64>(low) & LIMB_MASK;
    h.limbs[1] += static_cast<u64>(low >> 51);
    return h;
}

u128 wide(u64 a, u64 b) { return static_cast<u128>(a) * b; }

// a^(2^count).
Element square_times(Element a, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        a = square(a);
    return a;
}

// The fully reduced limbs (each below 2^51, value below p) of a.
Element reduce(const Element &a)
{
    Element h = carry(a); // now below 2^255 + 2^14, far below 2p
    // q = 1 exactly when h >= p, i.e. when h + 19 carries into bit 255.
    u64 q = (h.limbs[0] + 19) >> 51;
    for (unsigned i = 1; i < 5; i++)
        q = (h.limbs[i] + q) >> 51;
    // h - q p = h + 19 q - q 2^255: add 19 q and drop what carries out of bit 255.
    h.limbs[0] += 19 * q;
    for (unsigned i = 0; i < 4; i++) {
        h.limbs[i + 1] += h.limbs[i] >> 51;
        h.limbs[i] &= LIMB_MASK;
    }
    h.limbs[4] &= LIMB_MASK;
    return h;
}

u64 load_le64(const u8 *bytes)
{
    u64 value = 0;
    for (unsigned i = 8; i > 0; i--)
        value = (value << 8) | bytes[i - 1];
    return value;
}

void store_le64(u8 *bytes, u64 value)
{
    for (unsigned i = 0; i < 8; i++)
        bytes[i] = static_cast<u8>(value >> (8 * i));
}

} // namespace

Element add(const Element &a, const Element &b)
{
    Element sum;
    for (unsigned i = 0; i < 5; i++)
        sum.limbs[i] = a.limbs[i] + b.limbs[i];
    return carry(sum);
}

Element sub(const Element &a, const Element &b)
{
    Element difference;
    difference.limbs[0] = a.limbs[0] + FOUR_P_LIMB0 - b.limbs[0];
    for (unsigned i = 1; i < 5; i++)
        difference.limbs[i] = a.limbs[i] + FOUR_P_LIMB - b.limbs[i];
    return carry(difference);
}

Element negate(const Element &a) { return sub(ZERO, a); }

Element mul(const Element &a, const Element &b)
{
    const u64 *x = a.limbs;
    const u64 *y = b.limbs;
    // Column i + j >= 5 wraps to column i + j - 5 times 19 (2^255 = 19 mod p).
    const u64 y1_19 = 19 * y[1], y2_19 = 19 * y[2], y3_19 = 19 * y[3], y4_19 = 19 * y[4];
    const u128 r0 = wide(x[0], y[0]) + wide(x[1], y4_19) + wide(x[2], y3_19) + wide(x[3], y2_19) + wide(x[4], y1_19);
    const u128 r1 = wide(x[0], y[1]) + wide(x[1], y[0]) + wide(x[2], y4_19) + wide(x[3], y3_19) + wide(x[4], y2_19);
    const u128 r2 = wide(x[0], y[2]) + wide(x[1], y[1]) + wide(x[2], y[0]) + wide(x[3], y4_19) + wide(x[4], y3_19);
    const u128 r3 = wide(x[0], y[3]) + wide(x[1], y[2]) + wide(x[2], y[1]) + wide(x[3], y[0]) + wide(x[4], y4_19);
    const u128 r4 = wide(x[0], y[4]) + wide(x[1], y[3]) + wide(x[2], y[2]) + wide(x[3], y[1]) + wide(x[4], y[0]);
    return carry_wide(r0, r1, r2, r3, r4);
}

Element square(const Element &a)
{
    const u64 *x = a.limbs;
    // mul(a, a) with each symmetric product x[i] x[j] (i != j) computed once, doubled.
    const u64 x0_2 = 2 * x[0], x1_2 = 2 * x[1];
    const u64 x3_19 = 19 * x[3], x4_19 = 19 * x[4];
    const u128 r0 = wide(x[0], x[0]) + wide(x1_2, x4_19) + wide(2 * x[2], x3_19);
    const u128 r1 = wide(x0_2, x[1]) + wide(2 * x[2], x4_19) + wide(x[3], x3_19);
    const u128 r2 = wide(x0_2, x[2]) + wide(x[1], x[1]) + wide(2 * x[3], x4_19);
    const u128 r3 = wide(x0_2, x[3]) + wide(x1_2, x[2]) + wide(x[4], x4_19);
    const u128 r4 = wide(x0_2, x[4]) + wide(x1_2, x[3]) + wide(x[2], x[2]);
    return carry_wide(r0, r1, r2, r3, r4);
}

Element pow_p_minus_5_over_8(const Element &a)
{
    // (p - 5) / 8 = 2^252 - 3 = (2^250 - 1) * 4 + 1. The chain builds a^(2^n - 1) for
    // n = 5, 10, 20, 40, 50, 100, 200, 250, each from smaller ones:
    // a^(2^(m+n) - 1) = (a^(2^m - 1))^(2^n) * a^(2^n - 1).
    const Element a2 = square(a);
    const Element a9 = mul(square_times(a2, 2), a);
    const Element a11 = mul(a9, a2);
    const Element a_5 = mul(square(a11), a9); // a^31
    const Element a_10 = mul(square_times(a_5, 5), a_5);
    const Element a_20 = mul(square_times(a_10, 10), a_10);
    const Element a_40 = mul(square_times(a_20, 20), a_20);
    const Element a_50 = mul(square_times(a_40, 10), a_10);
    const Element a_100 = mul(square_times(a_50, 50), a_50);
    const Element a_200 = mul(square_times(a_100, 100), a_100);
    const Element a_250 = mul(square_times(a_200, 50), a_50);
    return mul(square_times(a_250, 2), a);
}

Element from_bytes(const u8 *bytes)
{
    const u64 w0 = load_le64(bytes), w1 = load_le64(bytes + 8);
    const u64 w2 = load_le64(bytes + 16), w3 = load_le64(bytes + 24);
    Element a;
    a.limbs[0] = w0 & LIMB_MASK;
    a.limbs[1] = ((w0 >> 51) | (w1 << 13)) & LIMB_MASK;
    a.limbs[2] = ((w1 >> 38) | (w2 << 26)) & LIMB_MASK;
    a.limbs[3] = ((w2 >> 25) | (w3 << 39)) & LIMB_MASK;
    a.limbs[4] = (w3 >> 12) & LIMB_MASK; // drops bit 255
    return a;
}

bool is_canonical(const u8 *bytes)
{
    // The numbers in [p, 2^255) are 0x7fff...ffed to 0x7fff...ffff: below p unless the
    // top byte (without bit 255) is 0x7f, bytes 30 to 1 are 0xff and byte 0 is >= 0xed.
    if ((bytes[31] & 0x7f) != 0x7f)
        return true;
    for (unsigned i = 30; i > 0; i--) {
        if (bytes[i] != 0xff)
            return true;
    }
    return bytes[0] < 0xed;
}

void to_bytes(u8 *bytes, const Element &a)
{
    const Element h = reduce(a);
    const u64 *l = h.limbs;
    store_le64(bytes, l[0] | (l[1] << 51));
    store_le64(bytes + 8, (l[1] >> 13) | (l[2] << 38));
    store_le64(bytes + 16, (l[2] >> 26) | (l[3] << 25));
    store_le64(bytes + 24, (l[3] >> 39) | (l[4] << 12));
}

bool equal(const Element &a, const Element &b)
{
    const Element x = reduce(a), y = reduce(b);
    for (unsigned i = 0; i < 5; i++) {
        if (x.limbs[i] != y.limbs[i])
            return false;
    }
    return true;
}

bool is_zero(const Element &a) { return equal(a, ZERO); }

bool is_negative(const Element &a) { return (reduce(a).limbs[0] & 1) != 0; }

} // namespace field25519
