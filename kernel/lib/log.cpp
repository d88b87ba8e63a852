// SPDX-License-Identifier: MIT
// Leveled console logging and panic.
#include "lib/log.hpp"
#include "lib/format.hpp"
#include <stdarg.h>

namespace {
LogLevel current_level = LogLevel::info;

void write_line(const char *prefix, const char *fmt, va_list args)
{
    char line[512];
    usize length = format(line, sizeof(line), "%s", prefix);
    if (length < sizeof(line))
        length += format_v(line + length, sizeof(line) - length, fmt, args);
    if (length >= sizeof(line) - 1)
        length = sizeof(line) - 2; // truncated: keep room for the newline
    line[length++] = '\n';
    console_write(line, length);
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
    emit("PANIC: ", "%s", message);
    platform_fail_stop(message);
}
