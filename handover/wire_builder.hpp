// SPDX-License-Identifier: MIT
// Writer of single-segment Cap'n Proto messages into a caller's buffer (no heap).
//
// Objects are bump-allocated in the order they are initialised, zeroed, exactly as
// libcapnp's builder lays them out, so the same sequence of calls gives the same bytes.
// Running out of buffer sets a sticky error and turns every later builder inert (its
// setters do nothing), so a writer checks error() once, at finish().
#pragma once
#include "handover/wire.hpp"

namespace handover::wire {

class MessageBuilder;
class ListBuilder;

enum class Zeroing : u8 { now, by_caller };

class StructBuilder {
public:
    constexpr StructBuilder() = default;
    StructBuilder(MessageBuilder *message, u8 *data, u32 data_bytes)
        : message_(message), data_(data), pointers_(data + data_bytes)
    {}

    // Stores value XOR default, as the wire format requires for non-zero defaults.
    template <typename T>
    void write_data(u32 byte_offset, T value, T default_mask)
    {
        if (data_ != nullptr)
            store<T>(data_ + byte_offset, static_cast<T>(value ^ default_mask));
    }

    void write_bit(u32 bit_offset, bool value, bool default_value)
    {
        if (data_ == nullptr)
            return;
        const u8 bit = static_cast<u8>(1u << (bit_offset % 8));
        if (value != default_value)
            data_[bit_offset / 8] |= bit;
        else
            data_[bit_offset / 8] &= static_cast<u8>(~bit);
    }

    // Pointer fields: allocate the target and point field `pointer_index` at it. Each
    // pointer field is meant to be initialised once (a second call leaks the first).
    StructBuilder init_struct(u16 pointer_index, u16 data_words, u16 pointer_count);
    // With Zeroing::by_caller the elements are left as the buffer held them: the caller
    // clears each one (ListBuilder::clear_element) before it writes it, which touches the
    // memory once instead of twice.
    ListBuilder init_struct_list(u16 pointer_index, u32 count, u16 data_words, u16 pointer_count,
                                 Zeroing zeroing = Zeroing::now);
    ListBuilder init_list(u16 pointer_index, ElementSize size, u32 count);
    // Copies `length` bytes and the terminating NUL.
    void write_text(u16 pointer_index, const char *chars, u32 length);
    void write_bytes(u16 pointer_index, const u8 *bytes, u32 length);

    bool is_null() const { return message_ == nullptr; }

private:
    u8 *pointer_location(u16 index) const { return pointers_ + usize{index} * 8; }

    MessageBuilder *message_ = nullptr;
    u8 *data_ = nullptr;
    u8 *pointers_ = nullptr;
};

class ListBuilder {
public:
    constexpr ListBuilder() = default;
    ListBuilder(MessageBuilder *message, u8 *elements, u32 count, u32 step_bytes, u32 data_bytes)
        : message_(message), elements_(elements), count_(count), step_bytes_(step_bytes), data_bytes_(data_bytes)
    {}

    u32 size() const { return count_; }
    u8 *raw_elements() const { return elements_; }

    StructBuilder struct_at(u32 index) const
    {
        if (index >= count_)
            return {};
        return StructBuilder(message_, elements_ + u64{index} * step_bytes_, data_bytes_);
    }

    // Zeroes element `index` of a struct list of Bytes-sized elements. Word stores of a
    // constant count: no call, and the compiler drops those the setters overwrite.
    template <u32 Bytes>
    void clear_element(u32 index)
    {
        static_assert(Bytes % WORD_BYTES == 0, "struct elements are whole words");
        if (index >= count_)
            return;
        u8 *element = elements_ + u64{index} * Bytes;
        for (u32 word = 0; word < Bytes / WORD_BYTES; word++)
            store<u64>(element + word * WORD_BYTES, 0);
    }

    template <typename T>
    void set_value(u32 index, T value)
    {
        if (index < count_)
            store<T>(elements_ + u64{index} * sizeof(T), value);
    }

private:
    MessageBuilder *message_ = nullptr;
    u8 *elements_ = nullptr;
    u32 count_ = 0;
    u32 step_bytes_ = 0;
    u32 data_bytes_ = 0;
};

class MessageBuilder final {
public:
    // `buffer` must be 8-byte aligned; its first word becomes the segment table.
    MessageBuilder(void *buffer, u64 capacity_bytes);

    Error error() const { return error_; }
    bool ok() const { return error_ == Error::none; }

    StructBuilder init_root(u16 data_words, u16 pointer_count);
    template <class S>
    typename S::Builder init_root()
    {
        return typename S::Builder(init_root(S::DATA_WORDS, S::POINTER_COUNT));
    }

    // Writes the segment table. Returns the message size in bytes, or 0 after an error.
    u64 finish();
    // Bytes used so far, segment table included.
    u64 used_bytes() const { return (used_words_ + 1) * WORD_BYTES; }

    // Words at the end of the segment, zeroed unless the caller will, or nullptr (and the
    // error) if they do not fit.
    u8 *allocate(u64 words, Zeroing zeroing = Zeroing::now);
    // The offset field of a pointer at `location` aimed at `target`.
    [[nodiscard]] i64 offset_to(const u8 *location, const u8 *target) const
    {
        return (target - location) / static_cast<i64>(WORD_BYTES) - 1;
    }
    void report(Error error)
    {
        if (error_ == Error::none)
            error_ = error;
    }

private:
    u8 *table_ = nullptr;
    u8 *segment_ = nullptr;
    u64 capacity_words_ = 0;
    u64 used_words_ = 0;
    Error error_ = Error::none;
};

// Typed views used by the generated accessors: S is a generated struct (S::Builder).
template <class S>
class StructListBuilder final {
public:
    StructListBuilder() = default;
    explicit StructListBuilder(ListBuilder list) : list_(list) {}
    u32 size() const { return list_.size(); }
    typename S::Builder operator[](u32 index) const { return typename S::Builder(list_.struct_at(index)); }

private:
    ListBuilder list_;
};

template <typename T>
class PrimitiveListBuilder final {
public:
    PrimitiveListBuilder() = default;
    explicit PrimitiveListBuilder(ListBuilder list) : list_(list) {}
    u32 size() const { return list_.size(); }
    void set(u32 index, T value) { list_.set_value<T>(index, value); }

private:
    ListBuilder list_;
};

} // namespace handover::wire
