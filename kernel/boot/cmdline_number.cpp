// SPDX-License-Identifier: MIT
// Numbers on the kernel command line: decimal or 0x-hex, with an optional K/M/G[iB] unit.
#include "boot/cmdline.hpp"

namespace {

u64 digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return static_cast<u64>(c - '0');
    if (c >= 'a' && c <= 'f')
        return static_cast<u64>(c - 'a') + 10;
    if (c >= 'A' && c <= 'F')
        return static_cast<u64>(c - 'A') + 10;
    return 16; // not a digit in any base used here
}

} // namespace

bool parse_cmdline_number(const char *text, usize length, u64 &value)
{
    usize i = 0;
    u64 base = 10;
    if (length >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        i = 2;
    }
    usize digits_start = i;
    u64 number = 0;
    for (; i < length && digit_value(text[i]) < base; i++)
        if (__builtin_mul_overflow(number, base, &number) ||
            __builtin_add_overflow(number, digit_value(text[i]), &number))
            return false;
    if (i == digits_start)
        return false;

    u64 unit = 1;
    if (i < length) {
        switch (text[i]) {
        case 'K':
        case 'k': unit = KiB; break;
        case 'M':
        case 'm': unit = MiB; break;
        case 'G':
        case 'g': unit = GiB; break;
        default: return false;
        }
        i++;
        if (i < length && !(length - i == 2 && text[i] == 'i' && text[i + 1] == 'B'))
            return false;
    }
    return !__builtin_mul_overflow(number, unit, &value);
}
