// SPDX-License-Identifier: MIT
// Console output: printf-like lines sent whole with BATON_HC_CONSOLE_WRITE.
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

namespace guest {

// Builds one line in its own buffer and sends it with a single hypercall, so lines from
// an interrupt handler and from the main flow never interleave. Conversions: %d %i %u
// %x %X %s %c %p %% with an optional '0' flag, width and the l, ll or z length modifier.
class Line_writer final {
public:
    static constexpr size_t CAPACITY = 240; // longer lines are cut and end in "..."

    void put(char c);
    void put_string(const char *text);
    void format(const char *format_string, ...) __attribute__((format(printf, 2, 3)));
    void vformat(const char *format_string, va_list arguments);
    // Appends the newline and sends the line (falling back to the debug console port if
    // the hypercall fails); the writer is empty afterwards.
    void send();

private:
    void put_number(uint64_t magnitude, bool negative, unsigned base, bool upper, unsigned width, bool zero_pad);

    char buffer_[CAPACITY + 1];
    size_t length_ = 0;
    bool truncated_ = false;
};

// One self-describing line: "<guest_name>: <text>".
void report(const char *format_string, ...) __attribute__((format(printf, 1, 2)));
void vreport(const char *format_string, va_list arguments);

// The uniform end of a guest that ends: "<name>: RESULT PASS" / "<name>: RESULT FAIL <reason>".
void result_pass();
void result_fail(const char *format_string, ...) __attribute__((format(printf, 1, 2)));

} // namespace guest
