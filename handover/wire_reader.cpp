// SPDX-License-Identifier: MIT
// Checked reader of single-segment Cap'n Proto messages.
#include "handover/wire_reader.hpp"

namespace handover::wire {

const char *error_text(Error error)
{
    switch (error) {
    case Error::none: return "no error";
    case Error::misaligned_buffer: return "buffer is not 8-byte aligned";
    case Error::truncated_segment_table: return "message shorter than its segment table";
    case Error::multiple_segments: return "message has more than one segment";
    case Error::segment_exceeds_buffer: return "segment size in the table exceeds the bytes given";
    case Error::segment_too_large: return "segment larger than 2^29-1 words";
    case Error::pointer_out_of_bounds: return "pointer target outside the segment";
    case Error::far_pointer: return "far pointer (multi-segment messages are not accepted)";
    case Error::capability_pointer: return "capability or reserved pointer";
    case Error::expected_struct: return "list pointer where a struct was expected";
    case Error::expected_list: return "struct pointer where a list was expected";
    case Error::wrong_element_size: return "list element size does not match the schema";
    case Error::bad_composite_tag: return "struct list tag is not a valid struct tag";
    case Error::composite_overrun: return "struct list elements exceed the list's words";
    case Error::text_not_terminated: return "text is empty or not NUL-terminated";
    case Error::nesting_too_deep: return "pointers nested too deeply";
    case Error::budget_exhausted: return "read budget exhausted (amplified or oversized message)";
    case Error::overlapping_objects: return "two objects share words";
    case Error::buffer_too_small: return "record does not fit the buffer";
    case Error::list_too_long: return "list longer than one Cap'n Proto list can hold";
    }
    return "unknown error";
}

namespace {

// The table: u32 (segments - 1), then one u32 word count per segment (padded to a word).
Error check_segment_table(const u8 *message, u64 size_bytes, u64 *segment_words)
{
    if ((reinterpret_cast<uptr>(message) & 7) != 0)
        return Error::misaligned_buffer;
    if (message == nullptr || size_bytes < WORD_BYTES)
        return Error::truncated_segment_table;
    if (load<u32>(message) != 0)
        return Error::multiple_segments;
    *segment_words = load<u32>(message + 4);
    if (*segment_words > MAX_SEGMENT_WORDS)
        return Error::segment_too_large;
    if (*segment_words > size_bytes / WORD_BYTES - 1)
        return Error::segment_exceeds_buffer;
    return Error::none;
}

} // namespace

MessageReader::MessageReader(const void *data, u64 size_bytes, ReaderLimits limits)
    : message_(static_cast<const u8 *>(data)),
      max_depth_(limits.max_depth < DEFAULT_MAX_DEPTH ? limits.max_depth : DEFAULT_MAX_DEPTH)
{
    u64 segment_words = 0;
    const Error error = check_segment_table(message_, size_bytes, &segment_words);
    if (error != Error::none) {
        report(error, message_);
        return;
    }
    segment_ = message_ + WORD_BYTES;
    segment_words_ = segment_words;
    budget_left_ = limits.budget_words != 0 ? limits.budget_words : (segment_words + 1) * DEFAULT_BUDGET_FACTOR;
}

void MessageReader::report(Error error, const u8 *where)
{
    if (error_ != Error::none)
        return;
    error_ = error;
    error_offset_ = (where != nullptr && message_ != nullptr) ? static_cast<u64>(where - message_) : 0;
}

bool MessageReader::charge(u64 words, const u8 *where)
{
    if (words > budget_left_) {
        budget_left_ = 0;
        report(Error::budget_exhausted, where);
        return false;
    }
    budget_left_ -= words;
    return true;
}

StructReader MessageReader::root()
{
    if (error_ != Error::none)
        return {};
    if (segment_words_ == 0) {
        report(Error::pointer_out_of_bounds, segment_); // no room for the root pointer
        return {};
    }
    return follow_struct(segment_, 0);
}

bool MessageReader::open_object(const u8 *location, u64 word, u16 parent_depth, Object *object)
{
    const PointerKind kind = pointer_kind(word);
    if (kind == PointerKind::far) {
        report(Error::far_pointer, location);
        return false;
    }
    if (kind == PointerKind::other) {
        report(Error::capability_pointer, location);
        return false;
    }
    if (parent_depth >= max_depth_) {
        report(Error::nesting_too_deep, location);
        return false;
    }
    // Offsets have 30 bits and the segment at most 2^29 words: i64 cannot overflow.
    const i64 pointer_word = (location - segment_) / static_cast<i64>(WORD_BYTES);
    const i64 first = pointer_word + 1 + pointer_offset(word);
    const ElementSize size = list_element_size(word);
    u64 words;
    if (kind == PointerKind::structure)
        words = u64{struct_data_words(word)} + struct_pointer_count(word);
    else if (size == ElementSize::composite)
        words = u64{list_count(word)} + 1; // the tag word, then the elements
    else
        words = (u64{list_count(word)} * element_bits(size) + 63) / 64;
    if (first < 0 || static_cast<u64>(first) > segment_words_ || words > segment_words_ - static_cast<u64>(first)) {
        report(Error::pointer_out_of_bounds, location);
        return false;
    }
    const u8 *target = segment_ + static_cast<u64>(first) * WORD_BYTES;

    u64 cost = words;
    if (kind == PointerKind::structure) {
        *object = {target, 1, static_cast<u32>(words * WORD_BYTES), u32{struct_data_words(word)} * 8u,
                   struct_pointer_count(word)};
        cost = words != 0 ? words : 1;
    } else if (size != ElementSize::composite) {
        const u32 step = element_bits(size) / 8;
        const bool pointers = size == ElementSize::pointer;
        *object = {target, list_count(word), step, pointers ? 0 : step, static_cast<u16>(pointers ? 1 : 0)};
        // Void lists occupy no words but still cost their length to iterate.
        if (size == ElementSize::empty)
            cost = list_count(word);
    } else {
        const u64 tag = load<u64>(target);
        const u64 element_count = (tag >> 2) & 0x3fffffff;
        if (pointer_kind(tag) != PointerKind::structure || element_count > MAX_LIST_ELEMENTS) {
            report(Error::bad_composite_tag, target);
            return false;
        }
        const u64 words_per_element = u64{struct_data_words(tag)} + struct_pointer_count(tag);
        if (words_per_element * element_count > words - 1) {
            report(Error::composite_overrun, target);
            return false;
        }
        *object = {target + WORD_BYTES, static_cast<u32>(element_count),
                   static_cast<u32>(words_per_element * WORD_BYTES), u32{struct_data_words(tag)} * 8u,
                   struct_pointer_count(tag)};
        // Zero-sized elements are free in words but not to iterate: one per element.
        if (words_per_element == 0)
            cost = words + element_count;
    }
    if (!charge(cost != 0 ? cost : 1, location))
        return false;
    return bitmap_ == nullptr || mark(static_cast<u64>(first), words, location);
}

StructReader MessageReader::follow_struct(const u8 *location, u16 parent_depth)
{
    if (location == nullptr || error_ != Error::none)
        return {};
    const u64 word = load<u64>(location);
    if (word == 0)
        return {};
    if (pointer_kind(word) == PointerKind::list) {
        report(Error::expected_struct, location);
        return {};
    }
    Object object;
    if (!open_object(location, word, parent_depth, &object))
        return {};
    return StructReader(this, object.elements, object.data_bytes, object.pointer_count,
                        static_cast<u16>(parent_depth + 1));
}

ListReader MessageReader::follow_list(const u8 *location, ElementSize expected, u16 parent_depth)
{
    if (location == nullptr || error_ != Error::none)
        return {};
    const u64 word = load<u64>(location);
    if (word == 0)
        return {};
    if (pointer_kind(word) == PointerKind::structure) {
        report(Error::expected_list, location);
        return {};
    }
    if (pointer_kind(word) == PointerKind::list && list_element_size(word) != expected) {
        report(Error::wrong_element_size, location);
        return {};
    }
    Object object;
    if (!open_object(location, word, parent_depth, &object))
        return {};
    return ListReader(this, object.elements, object.count, object.step, object.data_bytes, object.pointer_count,
                      static_cast<u16>(parent_depth + 1));
}

// Sets the bits of [first_word, first_word + words); any bit already set is an overlap.
bool MessageReader::mark(u64 first_word, u64 words, const u8 *where)
{
    u64 word = first_word;
    const u64 end = first_word + words;
    while (word < end) {
        const u64 bit = word % 64;
        const u64 span = (end - word) < (64 - bit) ? (end - word) : (64 - bit);
        const u64 mask = (span == 64 ? ~u64{0} : ((u64{1} << span) - 1)) << bit;
        u64 &slot = bitmap_[word / 64];
        if ((slot & mask) != 0) {
            report(Error::overlapping_objects, where);
            return false;
        }
        slot |= mask;
        word += span;
    }
    return true;
}

Error MessageReader::check_structure(u64 *bitmap, u64 bitmap_words)
{
    if (error_ != Error::none)
        return error_;
    if (segment_words_ == 0) {
        report(Error::pointer_out_of_bounds, segment_);
        return error_;
    }
    if (bitmap != nullptr && bitmap_words >= bitmap_words_needed()) {
        for (u64 i = 0; i < bitmap_words_needed(); i++)
            bitmap[i] = 0;
        bitmap_ = bitmap;
        (void)mark(0, 1, segment_); // the root pointer: the bitmap was just cleared, so no overlap
    }

    // Depth-first over every pointer, iteratively: one frame per nesting level.
    struct Frame {
        Object object;
        u32 element;
        u16 pointer;
        u16 depth;
    };
    Frame stack[DEFAULT_MAX_DEPTH + 1];
    u32 top = 0;
    stack[top++] = {{segment_, 1, WORD_BYTES, 0, 1}, 0, 0, 0}; // the root pointer as a one-pointer struct
    while (top > 0 && error_ == Error::none) {
        Frame &frame = stack[top - 1];
        if (frame.object.pointer_count == 0 || frame.element == frame.object.count) {
            top--;
            continue;
        }
        const u8 *location = frame.object.elements + u64{frame.element} * frame.object.step + frame.object.data_bytes +
                             u64{frame.pointer} * 8u;
        if (++frame.pointer == frame.object.pointer_count) {
            frame.pointer = 0;
            frame.element++;
        }
        const u64 word = load<u64>(location);
        Object child;
        if (word == 0 || !open_object(location, word, frame.depth, &child))
            continue;
        if (child.pointer_count != 0 && child.count != 0)
            stack[top++] = {child, 0, 0, static_cast<u16>(frame.depth + 1)};
    }
    bitmap_ = nullptr;
    return error_;
}

StructReader StructReader::read_struct(u16 pointer_index) const
{
    return message_ != nullptr ? message_->follow_struct(pointer_location(pointer_index), depth_) : StructReader{};
}

ListReader StructReader::read_list(u16 pointer_index, ElementSize expected) const
{
    return message_ != nullptr ? message_->follow_list(pointer_location(pointer_index), expected, depth_)
                               : ListReader{};
}

TextReader StructReader::read_text(u16 pointer_index) const
{
    const ListReader bytes = read_list(pointer_index, ElementSize::byte);
    const u8 *location = pointer_location(pointer_index);
    if (bytes.size() == 0) {
        // Null text reads as "", but a present zero-length byte list lacks the NUL.
        if (location != nullptr && message_->ok() && load<u64>(location) != 0)
            message_->report(Error::text_not_terminated, location);
        return {};
    }
    const char *chars = reinterpret_cast<const char *>(bytes.raw_elements());
    if (chars[bytes.size() - 1] != '\0') {
        message_->report(Error::text_not_terminated, location);
        return {};
    }
    return {chars, bytes.size() - 1};
}

BytesReader StructReader::read_bytes(u16 pointer_index) const
{
    const ListReader bytes = read_list(pointer_index, ElementSize::byte);
    return {bytes.raw_elements(), bytes.size()};
}

} // namespace handover::wire
