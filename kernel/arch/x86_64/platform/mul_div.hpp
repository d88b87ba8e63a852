// SPDX-License-Identifier: MIT
// a * b / c in 64 bits with a 128-bit product, without the compiler's 128-bit division.
#pragma once
#include "lib/types.hpp"

// The PIT and the RTC convert between TSC ticks and device clocks with these: exact for
// any 64-bit operands (a 128-bit product, one MUL instruction), saturating at ~0 when the
// quotient does not fit or c == 0, and without calling a 128-bit division routine (the
// kernel links no libgcc). The division is a plain 64-bit one while the product fits in
// 64 bits, a shift-and-subtract loop otherwise.

inline constexpr u64 MUL_DIV_SATURATED = ~u64{0};

namespace mul_div_detail {

inline constexpr u32 WORD_BITS = 64;

// (high:low) / divisor for high < divisor, so the quotient fits; `*remainder` is set.
constexpr u64 divide(u64 high, u64 low, u64 divisor, u64 *remainder)
{
    u64 rest = high;
    u64 quotient = 0;
    for (u32 bit = WORD_BITS; bit-- > 0;) {
        const bool carry = (rest >> (WORD_BITS - 1)) != 0;
        rest = (rest << 1) | ((low >> bit) & 1);
        if (carry || rest >= divisor) {
            rest -= divisor; // with carry the true value exceeds 2^64 > divisor; wraps back right
            quotient |= u64{1} << bit;
        }
    }
    *remainder = rest;
    return quotient;
}

constexpr u64 mul_div(u64 a, u64 b, u64 c, bool round_up)
{
    if (c == 0)
        return MUL_DIV_SATURATED;
    const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    const u64 high = static_cast<u64>(product >> WORD_BITS);
    const u64 low = static_cast<u64>(product);
    if (high >= c)
        return MUL_DIV_SATURATED;
    u64 remainder = 0;
    u64 quotient = 0;
    if (high == 0) {
        quotient = low / c;
        remainder = low % c;
    } else {
        quotient = divide(high, low, c, &remainder);
    }
    if (round_up && remainder != 0)
        return quotient == MUL_DIV_SATURATED ? quotient : quotient + 1;
    return quotient;
}

} // namespace mul_div_detail

// floor(a * b / c), saturating.
constexpr u64 mul_div(u64 a, u64 b, u64 c) { return mul_div_detail::mul_div(a, b, c, false); }
// ceil(a * b / c), saturating.
constexpr u64 mul_div_up(u64 a, u64 b, u64 c) { return mul_div_detail::mul_div(a, b, c, true); }
// a + b, saturating.
constexpr u64 add_saturated(u64 a, u64 b)
{
    u64 sum = 0;
    return add_overflows(a, b, &sum) ? MUL_DIV_SATURATED : sum;
}
