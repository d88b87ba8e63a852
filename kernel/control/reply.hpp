// SPDX-License-Identifier: MIT
// Response lines: data lines (". " prefix) and exactly one status line per request.
#pragma once
#include "control/protocol.hpp"
#include <stdarg.h>

// Where response bytes go: the kernel writes them to the control serial port.
class ControlOutput {
public:
    // Called once per complete line, the '\n' included.
    virtual void write(const char *text, usize length) = 0;

protected:
    ~ControlOutput() = default;
};

// Formats one request's response. Whatever the handlers do, the client sees data lines
// then one status line: a second status is dropped (the first one stands), data after
// the status is dropped, and every line is cut to CONTROL_LINE_MAX characters with any
// non-printable byte replaced by '?', so text from a backend can never forge a line.
class Reply final {
public:
    explicit Reply(ControlOutput &output) : output_(output) {}

    // A new request begins: no status written yet.
    void start();

    // ". <text>"
    void data(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    void data_v(const char *fmt, va_list args);
    // "ok" or "ok <text>"
    void ok();
    void ok(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    // "error <ENAME> <text>"; `error` is an abi/errno.h code, negative or positive.
    void error(int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

    bool finished() const { return finished_; }

private:
    void emit(const char *prefix, const char *fmt, va_list args);
    // Cuts, cleans, terminates and writes the `length` characters formatted in line_.
    void send(usize length);

    ControlOutput &output_;
    bool finished_ = false;
    char line_[CONTROL_LINE_MAX + 2] = {}; // the line, its '\n' and format()'s NUL
};
