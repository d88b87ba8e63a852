// SPDX-License-Identifier: MIT
// Console output: a small printf for whole lines, sent with BATON_HC_CONSOLE_WRITE.
#include "lib/console.hpp"
#include "lib/hypercalls.hpp"
#include "lib/runtime.hpp"

namespace guest {

void Line_writer::put(char c)
{
    if (length_ < CAPACITY)
        buffer_[length_++] = c;
    else
        truncated_ = true;
}

void Line_writer::put_string(const char *text)
{
    for (; *text != '\0'; ++text)
        put(*text);
}

void Line_writer::put_number(uint64_t magnitude, bool negative, unsigned base, bool upper, unsigned width,
                             bool zero_pad)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char reversed[24];
    unsigned count = 0;
    do {
        reversed[count++] = digits[magnitude % base];
        magnitude /= base;
    } while (magnitude != 0);
    unsigned used = count + (negative ? 1 : 0);
    if (negative && zero_pad)
        put('-');
    for (; used < width; ++used)
        put(zero_pad ? '0' : ' ');
    if (negative && !zero_pad)
        put('-');
    while (count > 0)
        put(reversed[--count]);
}

void Line_writer::format(const char *format_string, ...)
{
    va_list arguments;
    va_start(arguments, format_string);
    vformat(format_string, arguments);
    va_end(arguments);
}

void Line_writer::vformat(const char *f, va_list arguments)
{
    for (; *f != '\0'; ++f) {
        if (*f != '%') {
            put(*f);
            continue;
        }
        ++f;
        bool zero_pad = false;
        if (*f == '0') {
            zero_pad = true;
            ++f;
        }
        unsigned width = 0;
        for (; *f >= '0' && *f <= '9'; ++f)
            width = width * 10 + static_cast<unsigned>(*f - '0');
        unsigned longs = 0;
        bool size_t_length = false;
        for (; *f == 'l' || *f == 'z'; ++f) {
            if (*f == 'z')
                size_t_length = true;
            else
                ++longs;
        }
        bool wide = longs > 0 || size_t_length; // long, long long and size_t are 64-bit here
        switch (*f) {
        case 'd':
        case 'i': {
            int64_t value = wide ? va_arg(arguments, long) : va_arg(arguments, int);
            uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
            put_number(magnitude, value < 0, 10, false, width, zero_pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t value = wide ? va_arg(arguments, unsigned long) : va_arg(arguments, unsigned);
            put_number(value, false, *f == 'u' ? 10 : 16, *f == 'X', width, zero_pad);
            break;
        }
        case 'p':
            put_string("0x");
            put_number(reinterpret_cast<uintptr_t>(va_arg(arguments, void *)), false, 16, false, 16, true);
            break;
        case 's': {
            const char *text = va_arg(arguments, const char *);
            put_string(text != nullptr ? text : "(null)");
            break;
        }
        case 'c': put(static_cast<char>(va_arg(arguments, int))); break;
        case '%': put('%'); break;
        case '\0':
            --f; // a lone '%' at the end: stop at the terminator
            break;
        default:
            put('%');
            put(*f);
            break;
        }
    }
}

void Line_writer::send()
{
    if (truncated_) {
        for (size_t i = CAPACITY - 3; i < CAPACITY; ++i)
            buffer_[i] = '.';
        length_ = CAPACITY;
    }
    buffer_[length_++] = '\n';
    long written = console_write(buffer_, length_);
    if (written != static_cast<long>(length_)) {
        // The console hypercall failed: the emulated debug port is the last resort.
        for (size_t i = 0; i < length_; ++i)
            outb(BATON_DEBUG_CONSOLE_PORT, static_cast<uint8_t>(buffer_[i]));
    }
    length_ = 0;
    truncated_ = false;
}

void vreport(const char *format_string, va_list arguments)
{
    Line_writer line;
    line.put_string(guest_name);
    line.put_string(": ");
    line.vformat(format_string, arguments);
    line.send();
}

void report(const char *format_string, ...)
{
    va_list arguments;
    va_start(arguments, format_string);
    vreport(format_string, arguments);
    va_end(arguments);
}

void result_pass() { report("RESULT PASS"); }

void result_fail(const char *format_string, ...)
{
    Line_writer line;
    line.put_string(guest_name);
    line.put_string(": RESULT FAIL ");
    va_list arguments;
    va_start(arguments, format_string);
    line.vformat(format_string, arguments);
    va_end(arguments);
    line.send();
}

} // namespace guest
