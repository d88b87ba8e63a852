// SPDX-License-Identifier: MIT
// printf-style formatting into a caller-supplied buffer.
#include "lib/format.hpp"

namespace {

class Sink final {
public:
    Sink(char *buffer, usize capacity) : buffer_(buffer), capacity_(capacity) {}

    void put(char c)
    {
        if (length_ + 1 < capacity_)
            buffer_[length_] = c;
        length_++;
    }

    void repeat(char c, usize count)
    {
        for (usize i = 0; i < count; i++)
            put(c);
    }

    usize finish()
    {
        if (capacity_ > 0)
            buffer_[length_ < capacity_ ? length_ : capacity_ - 1] = '\0';
        return length_;
    }

private:
    char *buffer_;
    usize capacity_;
    usize length_ = 0;
};

struct Spec {
    bool left = false;
    bool zero = false;
    usize width = 0;
    bool has_precision = false;
    usize precision = 0;
};

void emit_padded(Sink &sink, const Spec &spec, const char *text, usize length, bool numeric_zero_ok)
{
    usize pad = spec.width > length ? spec.width - length : 0;
    if (!spec.left)
        sink.repeat(spec.zero && numeric_zero_ok ? '0' : ' ', pad);
    for (usize i = 0; i < length; i++)
        sink.put(text[i]);
    if (spec.left)
        sink.repeat(' ', pad);
}

void emit_number(Sink &sink, const Spec &spec, u64 magnitude, bool negative, unsigned base, bool upper,
                 const char *prefix)
{
    char digits[24];
    usize count = 0;
    const char *alphabet = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits[count++] = alphabet[magnitude % base];
        magnitude /= base;
    } while (magnitude != 0);

    char text[32];
    usize length = 0;
    if (negative)
        text[length++] = '-';
    for (const char *p = prefix; *p; p++)
        text[length++] = *p;
    // Zero padding goes between the sign/prefix and the digits.
    usize head = length;
    usize body = head + count;
    if (spec.zero && !spec.left && spec.width > body) {
        for (usize i = 0; i < spec.width - body && length < sizeof(text) - count; i++)
            text[length++] = '0';
    }
    while (count > 0)
        text[length++] = digits[--count];
    emit_padded(sink, spec, text, length, false);
}

} // namespace

usize format_v(char *buffer, usize capacity, const char *fmt, va_list args)
{
    Sink sink(buffer, capacity);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            sink.put(*p);
            continue;
        }
        p++;
        Spec spec;
        for (;; p++) {
            if (*p == '-')
                spec.left = true;
            else if (*p == '0')
                spec.zero = true;
            else
                break;
        }
        if (*p == '*') {
            int width = va_arg(args, int);
            spec.width = width < 0 ? 0 : static_cast<usize>(width);
            p++;
        }
        while (*p >= '0' && *p <= '9')
            spec.width = spec.width * 10 + static_cast<usize>(*p++ - '0');
        if (*p == '.') {
            spec.has_precision = true;
            p++;
            if (*p == '*') {
                int precision = va_arg(args, int);
                spec.precision = precision < 0 ? 0 : static_cast<usize>(precision);
                p++;
            }
            while (*p >= '0' && *p <= '9')
                spec.precision = spec.precision * 10 + static_cast<usize>(*p++ - '0');
        }
        int longs = 0;
        bool size_t_arg = false;
        while (*p == 'l') {
            longs++;
            p++;
        }
        if (*p == 'z') {
            size_t_arg = true;
            p++;
        }
        bool wide = longs > 0 || size_t_arg;

        switch (*p) {
        case 'd':
        case 'i': {
            i64 value = wide ? va_arg(args, i64) : va_arg(args, int);
            u64 magnitude = value < 0 ? u64{0} - static_cast<u64>(value) : static_cast<u64>(value);
            emit_number(sink, spec, magnitude, value < 0, 10, false, "");
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            u64 value = wide ? va_arg(args, u64) : va_arg(args, unsigned);
            emit_number(sink, spec, value, false, *p == 'u' ? 10 : 16, *p == 'X', "");
            break;
        }
        case 'p': {
            u64 value = reinterpret_cast<uptr>(va_arg(args, void *));
            emit_number(sink, spec, value, false, 16, false, "0x");
            break;
        }
        case 's': {
            const char *text = va_arg(args, const char *);
            if (text == nullptr)
                text = "(null)";
            usize length = 0;
            while (text[length] && (!spec.has_precision || length < spec.precision))
                length++;
            emit_padded(sink, spec, text, length, false);
            break;
        }
        case 'c': {
            char c = static_cast<char>(va_arg(args, int));
            emit_padded(sink, spec, &c, 1, false);
            break;
        }
        case '%': sink.put('%'); break;
        case '\0':
            p--; // a lone '%' at the end: stop at the terminator
            break;
        default:
            sink.put('%');
            sink.put(*p);
            break;
        }
    }
    return sink.finish();
}

usize format(char *buffer, usize capacity, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    usize length = format_v(buffer, capacity, fmt, args);
    va_end(args);
    return length;
}

int format_refusal(char *why, usize capacity, int error, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    format_v(why, capacity, fmt, args);
    va_end(args);
    return -error;
}

usize format_size(char *buffer, usize capacity, u64 bytes)
{
    static constexpr const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned unit = 0;
    while (unit + 1 < sizeof(units) / sizeof(units[0]) && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        unit++;
    }
    return format(buffer, capacity, "%lu %s", bytes, units[unit]);
}
