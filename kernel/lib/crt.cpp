// SPDX-License-Identifier: MIT
// The few C runtime symbols a freestanding C++ kernel still needs.
#include "lib/log.hpp"
#include "lib/types.hpp"

// GCC emits calls to these four for struct copies and large zeroing even with
// -fno-tree-loop-distribute-patterns, so the loops here must not become calls to
// themselves: they are written with volatile-free byte loops and that flag.
extern "C" {

// Declared here for -Wmissing-declarations: nothing in the kernel includes a libc header.
void *memset(void *destination, int value, usize count);
void *memcpy(void *destination, const void *source, usize count);
void *memmove(void *destination, const void *source, usize count);
int memcmp(const void *a, const void *b, usize count);
usize strlen(const char *text);
void __cxa_pure_virtual();

void *memset(void *destination, int value, usize count)
{
    u8 *bytes = static_cast<u8 *>(destination);
    for (usize i = 0; i < count; i++)
        bytes[i] = static_cast<u8>(value);
    return destination;
}

void *memcpy(void *destination, const void *source, usize count)
{
    u8 *to = static_cast<u8 *>(destination);
    const u8 *from = static_cast<const u8 *>(source);
    for (usize i = 0; i < count; i++)
        to[i] = from[i];
    return destination;
}

void *memmove(void *destination, const void *source, usize count)
{
    u8 *to = static_cast<u8 *>(destination);
    const u8 *from = static_cast<const u8 *>(source);
    if (to < from) {
        for (usize i = 0; i < count; i++)
            to[i] = from[i];
    } else {
        for (usize i = count; i > 0; i--)
            to[i - 1] = from[i - 1];
    }
    return destination;
}

int memcmp(const void *left, const void *right, usize count)
{
    const u8 *a = static_cast<const u8 *>(left);
    const u8 *b = static_cast<const u8 *>(right);
    for (usize i = 0; i < count; i++) {
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

usize strlen(const char *text)
{
    usize length = 0;
    while (text[length])
        length++;
    return length;
}

void __cxa_pure_virtual() { panic("pure virtual function called"); }

// 128-bit division, which GCC calls for `unsigned __int128` '/' and '%' (the device models
// scale TSC spans by clock rates). The kernel links no libgcc, so it is here: restoring
// long division, one quotient bit per step; callers are rare (timer deadlines).
using u128 = unsigned __int128;
u128 __udivti3(u128 dividend, u128 divisor);
u128 __umodti3(u128 dividend, u128 divisor);
}

namespace {
u128 divide_u128(u128 dividend, u128 divisor, u128 *remainder)
{
    if (divisor == 0)
        panic("128-bit division by zero");
    u128 quotient = 0, rest = 0;
    for (int bit = 127; bit >= 0; bit--) {
        rest = (rest << 1) | ((dividend >> bit) & 1);
        if (rest >= divisor) {
            rest -= divisor;
            quotient |= u128{1} << bit;
        }
    }
    *remainder = rest;
    return quotient;
}
} // namespace

extern "C" {
u128 __udivti3(u128 dividend, u128 divisor)
{
    u128 remainder = 0;
    return divide_u128(dividend, divisor, &remainder);
}

u128 __umodti3(u128 dividend, u128 divisor)
{
    u128 remainder = 0;
    (void)divide_u128(dividend, divisor, &remainder);
    return remainder;
}

} // extern "C"
