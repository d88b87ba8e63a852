// SPDX-License-Identifier: MIT
// Fixed-width types and page constants shared by kernel and host builds.
#pragma once

using u8 = unsigned char;
using u16 = unsigned short;
using u32 = unsigned int;
using u64 = unsigned long;
using i8 = signed char;
using i16 = short;
using i32 = int;
using i64 = long;
using usize = unsigned long;
using uptr = unsigned long;

static_assert(sizeof(u64) == 8 && sizeof(u32) == 4 && sizeof(u16) == 2, "LP64 only");

// A machine or guest frame number: a physical address shifted right by PAGE_SHIFT.
using frame_t = u64;

inline constexpr unsigned PAGE_SHIFT = 12;
inline constexpr u64 PAGE_SIZE = u64{1} << PAGE_SHIFT;
inline constexpr u64 KiB = 1024;
inline constexpr u64 MiB = 1024 * KiB;
inline constexpr u64 GiB = 1024 * MiB;

constexpr u64 align_down(u64 value, u64 align) { return value & ~(align - 1); }
constexpr u64 align_up(u64 value, u64 align) { return (value + align - 1) & ~(align - 1); }
constexpr bool is_aligned(u64 value, u64 align) { return (value & (align - 1)) == 0; }
constexpr frame_t addr_to_frame(u64 addr) { return addr >> PAGE_SHIFT; }
constexpr u64 frame_to_addr(frame_t frame) { return frame << PAGE_SHIFT; }

// Overflow-checked addition for values that come from outside (memory maps, records).
constexpr bool add_overflows(u64 a, u64 b, u64 *sum) { return __builtin_add_overflow(a, b, sum); }
