// SPDX-License-Identifier: MIT
// How a 16- or 32-bit port access reaches an 8-bit ISA device: one byte access per port.
#pragma once
#include "lib/types.hpp"

// The legacy devices (PIT, PIC, RTC, UART) have 8-bit registers. On a PC a wider access
// is split by the bus into byte cycles on consecutive ports, the lowest port carrying
// the least significant byte; a port the device does not decode reads as open bus.
// Sizes other than 1, 2 and 4 read as all ones and write nothing.

inline constexpr u8 ISA_OPEN_BUS = 0xFF;
inline constexpr u32 ISA_BYTE_BITS = 8;
inline constexpr u32 ISA_BYTE_MASK = 0xFF;

constexpr bool isa_size_valid(u8 size) { return size == 1 || size == 2 || size == 4; }

// `handles(port)` and `read_byte(port)` are the device's; returns the assembled value.
template <typename Handles, typename ReadByte>
u32 isa_split_read(u16 port, u8 size, Handles handles, ReadByte read_byte)
{
    if (!isa_size_valid(size))
        return ~u32{0};
    u32 value = 0;
    for (u32 i = 0; i < size; ++i) {
        const u16 byte_port = static_cast<u16>(port + i);
        const u8 byte = handles(byte_port) ? read_byte(byte_port) : ISA_OPEN_BUS;
        value |= u32{byte} << (i * ISA_BYTE_BITS);
    }
    return value;
}

template <typename Handles, typename WriteByte>
void isa_split_write(u16 port, u8 size, u32 value, Handles handles, WriteByte write_byte)
{
    if (!isa_size_valid(size))
        return;
    for (u32 i = 0; i < size; ++i) {
        const u16 byte_port = static_cast<u16>(port + i);
        if (handles(byte_port))
            write_byte(byte_port, static_cast<u8>((value >> (i * ISA_BYTE_BITS)) & ISA_BYTE_MASK));
    }
}
