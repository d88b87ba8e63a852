// SPDX-License-Identifier: MIT
// Leveled console logging and panic.
#include "lib/log.hpp"
#include "lib/format.hpp"
#include <stdarg.h>

namespace {
LogLevel current_level = LogLevel::info;

// The held lines, oldest first, in [held_start, held_end). Room for the ~40 lines an
// update boot prints before its guests resume, with a margin.
constexpr usize HELD_CAPACITY = 16 * KiB;
char held[HELD_CAPACITY];
usize held_start, held_end;
bool holding;

void write_or_keep(const char *text, usize length)
{
    if (!holding && held_start == held_end) {
        console_write(text, length);
        return;
    }
    if (HELD_CAPACITY - held_end < length)
        log_flush(); // full: what is kept goes first, so the order stays
    __builtin_memcpy(held + held_end, text, length);
    held_end += length;
}

void write_line(const char *prefix, const char *fmt, va_list args)
{
    char line[512];
    usize length = format(line, sizeof(line), "%s", prefix);
    if (length < sizeof(line))
        length += format_v(line + length, sizeof(line) - length, fmt, args);
    if (length >= sizeof(line) - 1)
        length = sizeof(line) - 2; // truncated: keep room for the newline
    line[length++] = '\n';
    write_or_keep(line, length);
}

void emit(const char *prefix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emit(const char *prefix, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    write_line(prefix, fmt, args);
    va_end(args);
}

constexpr const char *prefixes[] = {"[E] ", "[W] ", "[I] ", "[D] "};
} // namespace

void log_hold() { holding = true; }
void log_release() { holding = false; }

bool log_drain_one()
{
    usize end = held_start;
    while (end < held_end && held[end] != '\n')
        end++;
    if (end == held_end)
        return false; // every kept line ends with a newline, so nothing is kept
    console_write(held + held_start, end + 1 - held_start);
    held_start = end + 1;
    if (held_start == held_end)
        held_start = held_end = 0;
    return true;
}

void log_flush()
{
    if (held_end > held_start)
        console_write(held + held_start, held_end - held_start);
    held_start = held_end = 0;
}

void log_set_level(LogLevel level) { current_level = level; }
LogLevel log_level() { return current_level; }

void log(LogLevel level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    va_list args;
    va_start(args, fmt);
    write_line(prefixes[static_cast<u8>(level)], fmt, args);
    va_end(args);
}

void panic(const char *fmt, ...)
{
    // Static: the stack may be what failed. Panics do not nest usefully anyway.
    static char message[256];
    va_list args;
    va_start(args, fmt);
    format_v(message, sizeof(message), fmt, args);
    va_end(args);
    log_release();
    log_flush();
    emit("PANIC: ", "%s", message);
    platform_fail_stop(message);
}
