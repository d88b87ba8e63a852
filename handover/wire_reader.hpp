// SPDX-License-Identifier: MIT
// Checked reader of single-segment Cap'n Proto messages in a caller's buffer (no heap).
//
// Every pointer is checked when it is followed: kind (far and capability pointers are
// refused), bounds (in signed 64-bit word arithmetic, so no overflow), element size
// against the schema, nesting depth, and a work budget charged per object read so that
// pointers aimed at the same bytes cannot amplify the work. The first failure sticks
// in the MessageReader; after it every accessor returns defaults, so callers check
// error() once at the end instead of after every field.
#pragma once
#include "handover/wire.hpp"

namespace handover::wire {

class MessageReader;

struct ReaderLimits {
    u64 budget_words = 0; // 0: DEFAULT_BUDGET_FACTOR times the message's words
    u16 max_depth = DEFAULT_MAX_DEPTH;
};

// A view of text: chars[size] is the NUL the wire format guarantees.
struct TextReader {
    const char *chars = "";
    u32 size = 0;
};

struct BytesReader {
    const u8 *bytes = nullptr;
    u32 size = 0;
};

class ListReader;

class StructReader {
public:
    constexpr StructReader() = default;
    StructReader(MessageReader *message, const u8 *data, u32 data_bytes, u16 pointer_count, u16 depth)
        : message_(message), data_(data), pointers_(data + data_bytes), data_bytes_(data_bytes),
          pointer_count_(pointer_count), depth_(depth)
    {}

    // Fields beyond the struct's data section (an older writer) read as their default.
    template <typename T>
    T read_data(u32 byte_offset, T default_mask) const
    {
        if (byte_offset + sizeof(T) > data_bytes_)
            return default_mask;
        return static_cast<T>(load<T>(data_ + byte_offset) ^ default_mask);
    }

    bool read_bit(u32 bit_offset, bool default_value) const
    {
        if (bit_offset / 8 >= data_bytes_)
            return default_value;
        return (((data_[bit_offset / 8] >> (bit_offset % 8)) & 1) != 0) != default_value;
    }

    StructReader read_struct(u16 pointer_index) const;
    ListReader read_list(u16 pointer_index, ElementSize expected) const;
    TextReader read_text(u16 pointer_index) const;
    BytesReader read_bytes(u16 pointer_index) const;

    bool is_null() const { return message_ == nullptr; }
    u32 data_bytes() const { return data_bytes_; }
    u16 pointer_count() const { return pointer_count_; }

private:
    const u8 *pointer_location(u16 index) const
    {
        return index < pointer_count_ ? pointers_ + usize{index} * 8 : nullptr;
    }

    MessageReader *message_ = nullptr;
    const u8 *data_ = nullptr;
    const u8 *pointers_ = nullptr;
    u32 data_bytes_ = 0;
    u16 pointer_count_ = 0;
    u16 depth_ = 0;
};

class ListReader {
public:
    constexpr ListReader() = default;
    ListReader(MessageReader *message, const u8 *elements, u32 count, u32 step_bytes, u32 data_bytes, u16 pointer_count,
               u16 depth)
        : message_(message), elements_(elements), count_(count), step_bytes_(step_bytes), data_bytes_(data_bytes),
          pointer_count_(pointer_count), depth_(depth)
    {}

    u32 size() const { return count_; }
    const u8 *raw_elements() const { return elements_; }

    // Element of a struct list; an index past the end gives a default struct.
    StructReader struct_at(u32 index) const
    {
        if (index >= count_)
            return {};
        return StructReader(message_, elements_ + u64{index} * step_bytes_, data_bytes_, pointer_count_, depth_);
    }

    // Element of a list of T (the reader checked the element size is sizeof(T)).
    template <typename T>
    T value_at(u32 index) const
    {
        return index < count_ ? load<T>(elements_ + u64{index} * sizeof(T)) : T{};
    }

private:
    MessageReader *message_ = nullptr;
    const u8 *elements_ = nullptr;
    u32 count_ = 0;
    u32 step_bytes_ = 0;
    u32 data_bytes_ = 0;
    u16 pointer_count_ = 0;
    u16 depth_ = 0;
};

class MessageReader final {
public:
    // `data` must be 8-byte aligned and outlive the reader. Parses the segment table.
    MessageReader(const void *data, u64 size_bytes, ReaderLimits limits = {});

    Error error() const { return error_; }
    bool ok() const { return error_ == Error::none; }
    // Byte offset in the message of the word where the first error was found.
    u64 error_offset() const { return error_offset_; }
    u64 segment_words() const { return segment_words_; }
    // Segment table plus segment: the bytes the message occupies in the buffer.
    u64 message_bytes() const { return (segment_words_ + 1) * WORD_BYTES; }
    u64 budget_left() const { return budget_left_; }

    StructReader root();

    // Walks every pointer in the message, whether the schema knows its field or not,
    // charging the budget like the accessors do. With a scratch bitmap of at least
    // bitmap_words_needed() words it also refuses objects that share words.
    Error check_structure(u64 *bitmap = nullptr, u64 bitmap_words = 0);
    u64 bitmap_words_needed() const { return (segment_words_ + 63) / 64; }

    // Used by the accessors.
    StructReader follow_struct(const u8 *location, u16 parent_depth);
    ListReader follow_list(const u8 *location, ElementSize expected, u16 parent_depth);
    // Records `error` found at `where` unless an earlier error is already recorded.
    void report(Error error, const u8 *where);

private:
    // What a valid pointer leads to, in the uniform shape the walk needs: `count`
    // elements `step` bytes apart, each with `data_bytes` of data then pointers.
    struct Object {
        const u8 *elements = nullptr;
        u32 count = 0;
        u32 step = 0;
        u32 data_bytes = 0;
        u16 pointer_count = 0;
    };

    // Checks the non-null pointer at `location` and charges for its target.
    [[nodiscard]] bool open_object(const u8 *location, u64 word, u16 parent_depth, Object *object);
    [[nodiscard]] bool charge(u64 words, const u8 *where);
    [[nodiscard]] bool mark(u64 first_word, u64 words, const u8 *where);

    const u8 *message_ = nullptr;
    const u8 *segment_ = nullptr;
    u64 segment_words_ = 0;
    u64 budget_left_ = 0;
    u16 max_depth_ = DEFAULT_MAX_DEPTH;
    Error error_ = Error::none;
    u64 error_offset_ = 0;
    u64 *bitmap_ = nullptr;
};

// Typed views used by the generated accessors: S is a generated struct (S::Reader).
template <class S>
class StructListReader final {
public:
    StructListReader() = default;
    explicit StructListReader(ListReader list) : list_(list) {}

    u32 size() const { return list_.size(); }
    typename S::Reader operator[](u32 index) const { return typename S::Reader(list_.struct_at(index)); }

    class Iterator final {
    public:
        Iterator(const ListReader *list, u32 index) : list_(list), index_(index) {}
        typename S::Reader operator*() const { return typename S::Reader(list_->struct_at(index_)); }
        Iterator &operator++()
        {
            index_++;
            return *this;
        }
        bool operator!=(const Iterator &other) const { return index_ != other.index_; }

    private:
        const ListReader *list_;
        u32 index_;
    };
    Iterator begin() const { return Iterator(&list_, 0); }
    Iterator end() const { return Iterator(&list_, list_.size()); }

private:
    ListReader list_;
};

template <typename T>
class PrimitiveListReader final {
public:
    PrimitiveListReader() = default;
    explicit PrimitiveListReader(ListReader list) : list_(list) {}
    u32 size() const { return list_.size(); }
    T operator[](u32 index) const { return list_.value_at<T>(index); }

private:
    ListReader list_;
};

} // namespace handover::wire
