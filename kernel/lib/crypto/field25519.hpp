// SPDX-License-Identifier: MIT
// Arithmetic in GF(p), p = 2^255 - 19: the field under Ed25519's curve (RFC 8032, 5.1).
#pragma once
#include "lib/types.hpp"

namespace field25519 {

inline constexpr usize ENCODED_SIZE = 32;

// A field element in radix 2^51: value = sum of limbs[i] * 2^(51 i), not necessarily
// below p. Every function returns limbs below 2^52 and accepts limbs below 2^52, so
// that products of limbs and their sums fit in 128 bits.
struct Element {
    u64 limbs[5];
};

inline constexpr Element ZERO = {{0, 0, 0, 0, 0}};
inline constexpr Element ONE = {{1, 0, 0, 0, 0}};
// The curve's d = -121665 / 121666 (RFC 8032, 5.1), and 2d for the addition formulas.
inline constexpr Element CURVE_D = {
    {0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff}};
inline constexpr Element CURVE_2D = {
    {0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff}};
// 2^((p-1)/4), a square root of -1 (RFC 8032, 5.1.3).
inline constexpr Element SQRT_MINUS_ONE = {
    {0x61b274a0ea0b0, 0x0d5a5fc8f189d, 0x7ef5e9cbd0c60, 0x78595a6804c9e, 0x2b8324804fc1d}};

Element add(const Element &a, const Element &b);
Element sub(const Element &a, const Element &b);
Element negate(const Element &a);
Element mul(const Element &a, const Element &b);
Element square(const Element &a);
// a^((p-5)/8), the exponentiation inside the square root of RFC 8032, 5.1.3.
Element pow_p_minus_5_over_8(const Element &a);

// The 32 little-endian bytes of the number, bit 255 ignored (it carries x's sign in
// point encodings), so possibly a value in [p, 2^255).
Element from_bytes(const u8 *bytes);
// Whether those bytes (bit 255 ignored) encode a number below p: the only encoding RFC
// 8032 accepts.
bool is_canonical(const u8 *bytes);
// The unique encoding, of the value reduced below p.
void to_bytes(u8 *bytes, const Element &a);

bool equal(const Element &a, const Element &b);
bool is_zero(const Element &a);
// Whether the value reduced below p is odd: x's "sign" in point encodings.
bool is_negative(const Element &a);

} // namespace field25519
