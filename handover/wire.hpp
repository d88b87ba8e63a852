// SPDX-License-Identifier: MIT
// Cap'n Proto wire-format constants, pointer encoding and codec errors (reader and writer).
#pragma once
#include "lib/types.hpp"

namespace handover::wire {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire format is little-endian, so is this codec");

inline constexpr u64 WORD_BYTES = 8;
// libcapnp refuses segments above 2^29-1 words, and a pointer cannot reach further.
inline constexpr u64 MAX_SEGMENT_WORDS = (u64{1} << 29) - 1;
// A list pointer's element count (or a composite list's word count) has 29 bits.
inline constexpr u32 MAX_LIST_ELEMENTS = (1u << 29) - 1;
// Without a caller's choice, a reader may charge this many times the message's words.
inline constexpr u64 DEFAULT_BUDGET_FACTOR = 8;
// Nesting limit (libcapnp's default); also the most a reader accepts, as the structure
// walk keeps one small frame per level on the stack.
inline constexpr u16 DEFAULT_MAX_DEPTH = 64;

enum class PointerKind : u8 { structure = 0, list = 1, far = 2, other = 3 };

enum class ElementSize : u8 {
    empty = 0, // Void
    bit = 1,
    byte = 2,
    two_bytes = 3,
    four_bytes = 4,
    eight_bytes = 5,
    pointer = 6,
    composite = 7, // struct list with a tag word
};

constexpr u32 element_bits(ElementSize size)
{
    constexpr u32 bits[] = {0, 1, 8, 16, 32, 64, 64, 0};
    return bits[static_cast<u8>(size) & 7];
}

// Every failure the reader or the writer can report. The first one sticks.
enum class Error : u8 {
    none = 0,
    // reader: framing
    misaligned_buffer,
    truncated_segment_table,
    multiple_segments,
    segment_exceeds_buffer,
    segment_too_large,
    // reader: pointers
    pointer_out_of_bounds,
    far_pointer,
    capability_pointer,
    expected_struct,
    expected_list,
    wrong_element_size,
    bad_composite_tag,
    composite_overrun,
    text_not_terminated,
    nesting_too_deep,
    budget_exhausted,
    overlapping_objects,
    // writer
    buffer_too_small,
    list_too_long,
};

// A short lower-case description, e.g. "far pointer (multi-segment messages are not accepted)".
const char *error_text(Error error);

// --- pointer words --------------------------------------------------------------------

constexpr PointerKind pointer_kind(u64 word) { return static_cast<PointerKind>(word & 3); }
// Signed offset in words from the end of the pointer word to the target.
[[nodiscard]] constexpr i64 pointer_offset(u64 word)
{
    return static_cast<i64>(static_cast<i32>(static_cast<u32>(word))) >> 2;
}
constexpr u16 struct_data_words(u64 word) { return static_cast<u16>(word >> 32); }
constexpr u16 struct_pointer_count(u64 word) { return static_cast<u16>(word >> 48); }
constexpr ElementSize list_element_size(u64 word) { return static_cast<ElementSize>((word >> 32) & 7); }
constexpr u32 list_count(u64 word) { return static_cast<u32>(word >> 35); }

constexpr u64 encode_struct_pointer(i64 offset, u16 data_words, u16 pointer_count)
{
    return (static_cast<u64>(static_cast<u32>(offset << 2))) | (u64{data_words} << 32) | (u64{pointer_count} << 48);
}

constexpr u64 encode_list_pointer(i64 offset, ElementSize size, u32 count)
{
    return static_cast<u64>(static_cast<u32>(offset << 2)) | 1 | (u64{static_cast<u8>(size)} << 32) |
           (u64{count} << 35);
}

// A composite list's tag word: a struct pointer whose offset field holds the element count.
constexpr u64 encode_composite_tag(u32 count, u16 data_words, u16 pointer_count)
{
    return (u64{count} << 2) | (u64{data_words} << 32) | (u64{pointer_count} << 48);
}

// Unaligned-safe little-endian loads and stores; compile to plain moves.
template <typename T>
inline T load(const u8 *at)
{
    T value;
    __builtin_memcpy(&value, at, sizeof(T));
    return value;
}

template <typename T>
inline void store(u8 *at, T value)
{
    __builtin_memcpy(at, &value, sizeof(T));
}

// Length of a NUL-terminated string (a loop: there is no strlen in the kernel).
constexpr u32 text_length(const char *text)
{
    u32 length = 0;
    while (text[length] != '\0')
        length++;
    return length;
}

// --- the layout tables a generated header carries (for the host cross-check) -----------

enum class FieldPlacement : u8 { none, data, bit, pointer };

struct StructLayout {
    const char *name;
    u64 id;
    u16 data_words;
    u16 pointer_count;
};

struct FieldLayout {
    const char *struct_name;
    const char *field_name;
    FieldPlacement placement;
    u32 offset; // in units of the field's width (bits for Bool), as capnp counts
    u8 bits; // data fields
    u64 default_bits; // the XOR mask of a non-zero default
};

struct EnumerantLayout {
    const char *enum_name;
    const char *name;
    u16 value;
};

} // namespace handover::wire
