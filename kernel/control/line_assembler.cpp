// SPDX-License-Identifier: MIT
// Line assembly with a bounded buffer: overlong and non-ASCII lines are refused whole.
#include "control/line_assembler.hpp"

namespace {

bool is_allowed(u8 byte) { return byte == '\t' || (byte >= 0x20 && byte < 0x7f); }

} // namespace

void LineAssembler::start_line()
{
    length_ = 0;
    columns_ = 0;
    finished_ = false;
    overflowed_ = false;
    has_bad_byte_ = false;
    buffer_[0] = '\0';
}

LineAssembler::Result LineAssembler::feed(char byte)
{
    if (finished_)
        start_line();
    u8 value = static_cast<u8>(byte);

    if (value == '\n' || value == '\r') {
        buffer_[length_] = '\0';
        finished_ = true;
        if (overflowed_)
            return Result::too_long;
        if (has_bad_byte_)
            return Result::bad_byte;
        return length_ == 0 ? Result::pending : Result::line;
    }
    if (value == static_cast<u8>(CONTROL_CANCEL_LINE)) {
        start_line();
        return Result::pending;
    }

    columns_++;
    if (!is_allowed(value) && !has_bad_byte_) {
        has_bad_byte_ = true;
        bad_byte_ = value;
        bad_column_ = columns_;
    }
    if (length_ == CONTROL_LINE_MAX)
        overflowed_ = true; // keep counting to the end of the line, store nothing more
    else
        buffer_[length_++] = byte;
    return Result::pending;
}
