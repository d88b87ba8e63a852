// SPDX-License-Identifier: MIT
// Ed25519 verification (RFC 8032, 5.1.3 decoding, 5.1.4 point arithmetic, 5.1.7 verify).
#include "lib/crypto/ed25519.hpp"
#include "lib/crypto/field25519.hpp"
#include "lib/crypto/sha512.hpp"

namespace {

using field25519::Element;

// A point of -x^2 + y^2 = 1 + d x^2 y^2 in extended coordinates (RFC 8032, 5.1.4):
// x = X/Z, y = Y/Z, x y = T/Z.
struct Point {
    Element x, y, z, t;
};

// A point prepared as the second operand of additions: Y+X, Y-X, 2Z and 2dT, the
// factors the addition formula multiplies by.
struct Addend {
    Element y_plus_x, y_minus_x, z2, t2d;
};

// The base point B = (x, 4/5) with x even (RFC 8032, 5.1), in radix 2^51.
constexpr Point BASE_POINT = {
    {{0x62d608f25d51a, 0x412a4b4f6592a, 0x75b7171a4b31d, 0x1ff60527118fe, 0x216936d3cd6e5}},
    {{0x6666666666658, 0x4cccccccccccc, 0x1999999999999, 0x3333333333333, 0x6666666666666}},
    {{1, 0, 0, 0, 0}},
    {{0x68ab3a5b7dda3, 0x00eea2a5eadbb, 0x2af8df483c27e, 0x332b375274732, 0x67875f0fd78b7}},
};

constexpr Point IDENTITY = {field25519::ZERO, field25519::ONE, field25519::ONE, field25519::ZERO};

// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian
// 64-bit words.
constexpr usize SCALAR_WORDS = 4;
constexpr u64 GROUP_ORDER[SCALAR_WORDS] = {0x5812631a5cf5d3ed, 0x14def9dea2f79cd6, 0, 0x1000000000000000};

constexpr usize SCALAR_BITS = 253; // L < 2^253, so every reduced scalar too

// A 256-bit number, little-endian 64-bit words.
struct Scalar {
    u64 words[SCALAR_WORDS];
};

Addend to_addend(const Point &p)
{
    using namespace field25519;
    return {add(p.y, p.x), sub(p.y, p.x), add(p.z, p.z), mul(p.t, CURVE_2D)};
}

// P + Q, the "add-2008-hwcd-3" formulas of RFC 8032, 5.1.4.
Point add(const Point &p, const Addend &q)
{
    using namespace field25519;
    const Element a = mul(sub(p.y, p.x), q.y_minus_x);
    const Element b = mul(add(p.y, p.x), q.y_plus_x);
    const Element c = mul(p.t, q.t2d);
    const Element d = mul(p.z, q.z2);
    const Element e = sub(b, a), f = sub(d, c), g = add(d, c), h = add(b, a);
    return {mul(e, f), mul(g, h), mul(f, g), mul(e, h)};
}

// 2P, the "dbl-2008-hwcd" formulas of RFC 8032, 5.1.4.
Point double_point(const Point &p)
{
    using namespace field25519;
    const Element a = square(p.x);
    const Element b = square(p.y);
    const Element c = add(square(p.z), square(p.z));
    const Element h = add(a, b);
    const Element e = sub(h, square(add(p.x, p.y)));
    const Element g = sub(a, b);
    const Element f = add(c, g);
    return {mul(e, f), mul(g, h), mul(f, g), mul(e, h)};
}

Point negate(const Point &p) { return {field25519::negate(p.x), p.y, p.z, field25519::negate(p.t)}; }

// Decodes a point (RFC 8032, 5.1.3); false for y >= p, for a y with no x on the curve,
// and for x = 0 with the sign bit set.
bool decode_point(const u8 *encoding, Point &point)
{
    using namespace field25519;
    if (!is_canonical(encoding))
        return false;
    const bool x_odd = (encoding[31] >> 7) != 0;
    const Element y = from_bytes(encoding);

    // x^2 = u / v with u = y^2 - 1, v = d y^2 + 1 (v is never 0: d is not a square).
    const Element y2 = square(y);
    const Element u = sub(y2, ONE);
    const Element v = add(mul(CURVE_D, y2), ONE);
    // The candidate root x = u v^3 (u v^7)^((p-5)/8): one exponentiation instead of an
    // inversion and a square root.
    const Element v3 = mul(square(v), v);
    const Element v7 = mul(square(v3), v);
    Element x = mul(mul(u, v3), pow_p_minus_5_over_8(mul(u, v7)));
    // It squares to u/v or to -u/v (then times sqrt(-1) it is a root), or u/v is not a square.
    const Element v_x2 = mul(v, square(x));
    if (!equal(v_x2, u)) {
        if (!equal(v_x2, field25519::negate(u)))
            return false;
        x = mul(x, SQRT_MINUS_ONE);
    }
    if (is_zero(x) && x_odd)
        return false; // -0 = 0: that encoding would be a second one of the same point
    if (is_negative(x) != x_odd)
        x = field25519::negate(x);
    point = {x, y, ONE, mul(x, y)};
    return true;
}

Scalar load_scalar(const u8 *bytes)
{
    Scalar s;
    for (usize w = 0; w < SCALAR_WORDS; w++) {
        s.words[w] = 0;
        for (usize i = 8; i > 0; i--)
            s.words[w] = (s.words[w] << 8) | bytes[8 * w + i - 1];
    }
    return s;
}

bool below_group_order(const Scalar &s)
{
    for (usize w = SCALAR_WORDS; w > 0; w--) {
        if (s.words[w - 1] != GROUP_ORDER[w - 1])
            return s.words[w - 1] < GROUP_ORDER[w - 1];
    }
    return false; // equal to L
}

bool scalar_bit(const Scalar &s, usize bit) { return ((s.words[bit / 64] >> (bit % 64)) & 1) != 0; }

// The 512-bit little-endian number at `bytes` mod L, by binary long division: bit by
// bit from the top, r = 2r + bit, minus L whenever r >= L. r stays below L < 2^253, so
// 2r + 1 fits in 256 bits; 512 cheap steps, no wide division.
Scalar reduce_mod_group_order(const u8 (&bytes)[SHA512_DIGEST_SIZE])
{
    Scalar r = {};
    for (usize bit = 8 * SHA512_DIGEST_SIZE; bit > 0; bit--) {
        const u64 incoming = (bytes[(bit - 1) / 8] >> ((bit - 1) % 8)) & 1;
        for (usize w = SCALAR_WORDS - 1; w > 0; w--)
            r.words[w] = (r.words[w] << 1) | (r.words[w - 1] >> 63);
        r.words[0] = (r.words[0] << 1) | incoming;
        if (!below_group_order(r)) {
            u64 borrow = 0;
            for (usize w = 0; w < SCALAR_WORDS; w++) {
                const u64 subtrahend = GROUP_ORDER[w] + borrow;
                // A borrow out when the word is smaller, or when L's word plus the borrow wrapped.
                const u64 next_borrow = (r.words[w] < subtrahend || subtrahend < borrow) ? 1 : 0;
                r.words[w] -= subtrahend;
                borrow = next_borrow;
            }
        }
    }
    return r;
}

// [s]B + [k]P by Straus-Shamir: one pass over the bits of both scalars, doubling once
// per bit and adding B, P or B + P as the bits say. Not inlined, so that its frame and
// the caller's each stay well below the kernel's 2.25 KiB limit.
[[gnu::noinline]] Point double_scalar_multiply(const Scalar &s, const Scalar &k, const Point &p)
{
    const Addend base = to_addend(BASE_POINT);
    const Addend other = to_addend(p);
    const Addend both = to_addend(add(BASE_POINT, other));
    Point result = IDENTITY;
    for (usize bit = SCALAR_BITS; bit > 0; bit--) {
        result = double_point(result);
        const bool s_bit = scalar_bit(s, bit - 1), k_bit = scalar_bit(k, bit - 1);
        if (s_bit && k_bit)
            result = add(result, both);
        else if (s_bit)
            result = add(result, base);
        else if (k_bit)
            result = add(result, other);
    }
    return result;
}

// Whether the projective point p is the affine point q: X = x Z and Y = y Z.
bool same_point(const Point &p, const Point &affine)
{
    using namespace field25519;
    return equal(p.x, mul(affine.x, p.z)) && equal(p.y, mul(affine.y, p.z));
}

} // namespace

Ed25519Verdict ed25519_verify(const u8 (&public_key)[ED25519_PUBLIC_KEY_SIZE],
                              const u8 (&signature)[ED25519_SIGNATURE_SIZE], const void *message, usize size)
{
    // The signature is R (a point's encoding) then S (a scalar), 32 bytes each.
    const u8 *r_encoding = signature;
    const u8 *s_encoding = signature + field25519::ENCODED_SIZE;

    Point a;
    if (!decode_point(public_key, a))
        return Ed25519Verdict::malformed_public_key;
    Point r;
    if (!decode_point(r_encoding, r))
        return Ed25519Verdict::malformed_signature;
    const Scalar s = load_scalar(s_encoding);
    if (!below_group_order(s))
        return Ed25519Verdict::malformed_signature; // S + L would verify too: malleability

    // k = SHA-512(R || A || M) mod L.
    Sha512 hash;
    hash.update(r_encoding, field25519::ENCODED_SIZE);
    hash.update(public_key, ED25519_PUBLIC_KEY_SIZE);
    hash.update(message, size);
    const Sha512Digest digest = hash.finish();
    const Scalar k = reduce_mod_group_order(digest.bytes);

    // [S]B = R + [k]A, checked as [S]B + [k](-A) = R (without the cofactor, as OpenSSL).
    const Point check = double_scalar_multiply(s, k, negate(a));
    return same_point(check, r) ? Ed25519Verdict::valid : Ed25519Verdict::mismatch;
}

const char *ed25519_verdict_name(Ed25519Verdict verdict)
{
    switch (verdict) {
    case Ed25519Verdict::valid: return "valid";
    case Ed25519Verdict::malformed_public_key: return "malformed public key";
    case Ed25519Verdict::malformed_signature: return "malformed signature";
    case Ed25519Verdict::mismatch: return "mismatch";
    }
    return "unknown verdict";
}
