// SPDX-License-Identifier: MIT
// PCI device addresses as text: "BB:DD.F" in hex, exactly as lspci prints them.
#pragma once
#include "lib/types.hpp"

// Bus 00-ff, device 00-1f, function 0-7; false for anything else (`length` characters).
[[nodiscard]] inline bool parse_pci_address_text(const char *text, usize length, u8 &bus, u8 &device, u8 &function)
{
    auto hex_digit = [](char c) {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    if (length != 7 || text[2] != ':' || text[5] != '.')
        return false;
    const int b1 = hex_digit(text[0]), b0 = hex_digit(text[1]), d1 = hex_digit(text[3]), d0 = hex_digit(text[4]),
              f = hex_digit(text[6]);
    if (b1 < 0 || b0 < 0 || d1 < 0 || d0 < 0 || f < 0 || f > 7 || d1 * 16 + d0 > 0x1f)
        return false;
    bus = static_cast<u8>(b1 * 16 + b0);
    device = static_cast<u8>(d1 * 16 + d0);
    function = static_cast<u8>(f);
    return true;
}
