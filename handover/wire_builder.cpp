// SPDX-License-Identifier: MIT
// Writer of single-segment Cap'n Proto messages into a caller's buffer.
#include "handover/wire_builder.hpp"

namespace handover::wire {

MessageBuilder::MessageBuilder(void *buffer, u64 capacity_bytes)
{
    if ((reinterpret_cast<uptr>(buffer) & 7) != 0 || buffer == nullptr) {
        report(Error::misaligned_buffer);
        return;
    }
    // Room for the segment table and the root pointer at least.
    if (capacity_bytes < 2 * WORD_BYTES) {
        report(Error::buffer_too_small);
        return;
    }
    table_ = static_cast<u8 *>(buffer);
    segment_ = table_ + WORD_BYTES;
    const u64 words = capacity_bytes / WORD_BYTES - 1;
    capacity_words_ = words < MAX_SEGMENT_WORDS ? words : MAX_SEGMENT_WORDS;
    allocate(1); // the root pointer, null until init_root()
}

u8 *MessageBuilder::allocate(u64 words, Zeroing zeroing)
{
    if (error_ != Error::none)
        return nullptr;
    if (words > capacity_words_ - used_words_) {
        report(Error::buffer_too_small);
        return nullptr;
    }
    u8 *start = segment_ + used_words_ * WORD_BYTES;
    // The caller's buffer may hold anything; the format needs zeroed padding and defaults.
    if (zeroing == Zeroing::now)
        __builtin_memset(start, 0, words * WORD_BYTES);
    used_words_ += words;
    return start;
}

StructBuilder MessageBuilder::init_root(u16 data_words, u16 pointer_count)
{
    if (error_ != Error::none)
        return {};
    StructBuilder root_holder(this, segment_, 0); // a struct whose one pointer is the root
    return root_holder.init_struct(0, data_words, pointer_count);
}

u64 MessageBuilder::finish()
{
    if (error_ != Error::none)
        return 0;
    store<u32>(table_, 0); // one segment
    store<u32>(table_ + 4, static_cast<u32>(used_words_));
    return used_bytes();
}

StructBuilder StructBuilder::init_struct(u16 pointer_index, u16 data_words, u16 pointer_count)
{
    if (message_ == nullptr)
        return {};
    const u64 words = u64{data_words} + pointer_count;
    u8 *target = message_->allocate(words);
    if (target == nullptr)
        return {};
    u8 *location = pointer_location(pointer_index);
    // An empty struct points just before itself (offset -1) so that it is not null.
    const i64 offset = words == 0 ? -1 : message_->offset_to(location, target);
    store<u64>(location, encode_struct_pointer(offset, data_words, pointer_count));
    return StructBuilder(message_, target, u32{data_words} * 8u);
}

ListBuilder StructBuilder::init_struct_list(u16 pointer_index, u32 count, u16 data_words, u16 pointer_count,
                                            Zeroing zeroing)
{
    if (message_ == nullptr)
        return {};
    const u64 words_per_element = u64{data_words} + pointer_count;
    const u64 words = words_per_element * count;
    if (count > MAX_LIST_ELEMENTS || words > MAX_LIST_ELEMENTS) {
        message_->report(Error::list_too_long);
        return {};
    }
    u8 *tag = message_->allocate(words + 1, zeroing);
    if (tag == nullptr)
        return {};
    u8 *location = pointer_location(pointer_index);
    store<u64>(tag, encode_composite_tag(count, data_words, pointer_count));
    store<u64>(location, encode_list_pointer(message_->offset_to(location, tag), ElementSize::composite,
                                             static_cast<u32>(words)));
    return ListBuilder(message_, tag + WORD_BYTES, count, static_cast<u32>(words_per_element * WORD_BYTES),
                       u32{data_words} * 8u);
}

ListBuilder StructBuilder::init_list(u16 pointer_index, ElementSize size, u32 count)
{
    if (message_ == nullptr)
        return {};
    if (count > MAX_LIST_ELEMENTS) {
        message_->report(Error::list_too_long);
        return {};
    }
    const u64 words = (u64{count} * element_bits(size) + 63) / 64;
    u8 *elements = message_->allocate(words);
    if (elements == nullptr)
        return {};
    u8 *location = pointer_location(pointer_index);
    store<u64>(location, encode_list_pointer(message_->offset_to(location, elements), size, count));
    const u32 step = element_bits(size) / 8;
    return ListBuilder(message_, elements, count, step, size == ElementSize::pointer ? 0 : step);
}

void StructBuilder::write_text(u16 pointer_index, const char *chars, u32 length)
{
    if (message_ == nullptr)
        return;
    if (length >= MAX_LIST_ELEMENTS) {
        message_->report(Error::list_too_long);
        return;
    }
    ListBuilder bytes = init_list(pointer_index, ElementSize::byte, length + 1);
    if (bytes.size() != 0 && length != 0)
        __builtin_memcpy(bytes.raw_elements(), chars, length); // NUL: already zero
}

void StructBuilder::write_bytes(u16 pointer_index, const u8 *bytes, u32 length)
{
    ListBuilder list = init_list(pointer_index, ElementSize::byte, length);
    if (list.size() != 0)
        __builtin_memcpy(list.raw_elements(), bytes, length);
}

} // namespace handover::wire
