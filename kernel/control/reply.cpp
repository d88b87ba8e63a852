// SPDX-License-Identifier: MIT
// Response formatting: bounded, single-line, one status per request.
#include "control/reply.hpp"
#include "control/errno_names.hpp"
#include "lib/format.hpp"

void Reply::start() { finished_ = false; }

namespace {
constexpr usize LINE_CAPACITY = CONTROL_LINE_MAX + 1; // format() wants room for its NUL
} // namespace

void Reply::emit(const char *prefix, const char *fmt, va_list args)
{
    usize length = format(line_, LINE_CAPACITY, "%s", prefix);
    length += format_v(line_ + length, LINE_CAPACITY - length, fmt, args);
    send(length);
}

void Reply::send(usize length)
{
    if (length > CONTROL_LINE_MAX) {
        length = CONTROL_LINE_MAX;
        for (usize i = length - 3; i < length; i++)
            line_[i] = '.'; // visibly cut, not silently
    }
    for (usize i = 0; i < length; i++) {
        u8 c = static_cast<u8>(line_[i]);
        if (c < 0x20 || c >= 0x7f)
            line_[i] = '?';
    }
    line_[length++] = '\n';
    output_.write(line_, length);
}

void Reply::data(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    data_v(fmt, args);
    va_end(args);
}

void Reply::data_v(const char *fmt, va_list args)
{
    if (finished_)
        return;
    emit(". ", fmt, args);
}

void Reply::ok()
{
    if (finished_)
        return;
    finished_ = true;
    send(format(line_, LINE_CAPACITY, "%s", "ok"));
}

void Reply::ok(const char *fmt, ...)
{
    if (finished_)
        return;
    finished_ = true;
    va_list args;
    va_start(args, fmt);
    emit("ok ", fmt, args);
    va_end(args);
}

void Reply::error(int error, const char *fmt, ...)
{
    if (finished_)
        return;
    finished_ = true;
    char prefix[24];
    format(prefix, sizeof(prefix), "error %s ", errno_name(error));
    va_list args;
    va_start(args, fmt);
    emit(prefix, fmt, args);
    va_end(args);
}
