// SPDX-License-Identifier: MIT
// printf-style formatting into a caller-supplied buffer (no heap, no libc).
#pragma once
#include "lib/types.hpp"
#include <stdarg.h>

// Supports %d %i %u %x %X %p %s %c %% with flags '-' '0', a width (or '*'), a precision
// for %s (or '.*'), and the length modifiers l, ll, z. Always NUL-terminates when
// capacity > 0. Returns the length the full output would have (like vsnprintf).
usize format_v(char *buffer, usize capacity, const char *fmt, va_list args);
usize format(char *buffer, usize capacity, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Writes a one-line reason into `why` and returns -error: the shape of every refusal
// that explains itself ("return format_refusal(why, size, BATON_EINVAL, ...)").
[[nodiscard]] int format_refusal(char *why, usize capacity, int error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// Writes "12 MiB", "4 KiB", "1536 KiB" style sizes: the largest unit that divides exactly.
usize format_size(char *buffer, usize capacity, u64 bytes);
