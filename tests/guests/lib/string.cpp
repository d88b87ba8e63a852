// SPDX-License-Identifier: MIT
// memset, memcpy, memmove and memcmp: GCC may emit calls to these even in freestanding code.
#include <stddef.h>

extern "C" {

void *memset(void *destination, int value, size_t count)
{
    auto *bytes = static_cast<unsigned char *>(destination);
    for (size_t i = 0; i < count; ++i)
        bytes[i] = static_cast<unsigned char>(value);
    return destination;
}

void *memcpy(void *destination, const void *source, size_t count)
{
    auto *to = static_cast<unsigned char *>(destination);
    const auto *from = static_cast<const unsigned char *>(source);
    for (size_t i = 0; i < count; ++i)
        to[i] = from[i];
    return destination;
}

void *memmove(void *destination, const void *source, size_t count)
{
    auto *to = static_cast<unsigned char *>(destination);
    const auto *from = static_cast<const unsigned char *>(source);
    if (to < from) {
        for (size_t i = 0; i < count; ++i)
            to[i] = from[i];
    } else {
        for (size_t i = count; i > 0; --i)
            to[i - 1] = from[i - 1];
    }
    return destination;
}

int memcmp(const void *left, const void *right, size_t count)
{
    const auto *a = static_cast<const unsigned char *>(left);
    const auto *b = static_cast<const unsigned char *>(right);
    for (size_t i = 0; i < count; ++i)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

} // extern "C"
