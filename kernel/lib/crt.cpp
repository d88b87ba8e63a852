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

} // extern "C"
