// SPDX-License-Identifier: MIT
// Assembles request lines from the control channel's byte stream, in a fixed buffer.
#pragma once
#include "control/protocol.hpp"

// Bytes arrive one at a time from a serial port that may hold anything: stale halves of
// old lines, binary noise, a human's typing. The assembler never blocks and never
// grows: a line longer than CONTROL_LINE_MAX is discarded up to its end and reported
// once, and a line holding a byte that is not printable ASCII (tab allowed) is
// reported instead of parsed.
class LineAssembler final {
public:
    enum class Result : u8 {
        pending, // nothing to do yet (also for an empty line or a Ctrl-U)
        line, // line() holds a complete line
        too_long, // a line longer than CONTROL_LINE_MAX ended
        bad_byte, // a line with a forbidden byte ended; see bad_byte(), bad_column()
    };

    // CR and LF both end a line, so CRLF gives one line and one ignored empty line.
    Result feed(char byte);

    // After Result::line: the line without its terminator, NUL-terminated. Writable so
    // that the tokenizer can split it in place; valid until the next feed().
    char *line() { return buffer_; }
    usize length() const { return length_; }

    // After Result::bad_byte: the first forbidden byte and its 1-based column.
    u8 bad_byte() const { return bad_byte_; }
    usize bad_column() const { return bad_column_; }

private:
    void start_line();

    char buffer_[CONTROL_LINE_MAX + 1] = {};
    usize length_ = 0;
    usize columns_ = 0; // bytes of this line so far, kept or not
    bool finished_ = false; // the buffer holds a handed-out line; the next byte starts anew
    bool overflowed_ = false;
    bool has_bad_byte_ = false;
    u8 bad_byte_ = 0;
    usize bad_column_ = 0;
};
