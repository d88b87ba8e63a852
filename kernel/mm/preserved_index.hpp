// SPDX-License-Identifier: MIT
// The preserved-block index: which allocated blocks are preserved, found in block order.
#pragma once
#include "mm/buddy.hpp"

// A hierarchical bitmap over frame numbers with one bit set per head of an allocated
// preserved block. Level 0 has a bit per frame; a bit of level n + 1 says that the word
// below it (64 bits of level n) is not zero. Inserting or erasing touches at most one
// word per level (6 levels cover the frame table's 2^32 frames) and next() costs at most
// two words per level, so listing the preserved blocks costs what they number, not what
// RAM holds. The metadata (order, type, owner, flags) stays in the blocks' frame-table
// heads: the index only says where they are. Memory: a bit per frame plus 1/63 of that
// for the upper levels (about 33 KiB per GiB of RAM), taken from the boot allocator
// next to the frame table.
class PreservedIndex final {
public:
    static constexpr unsigned MAX_LEVELS = 6;

    // Bytes of bitmap words for a frame table of `frames` entries.
    static u64 bytes_for(frame_t frames);

    constexpr PreservedIndex() = default;

    // `words` (bytes_for(frames) bytes, through the direct map) starts out empty.
    void init(u64 *words, frame_t frames);
    frame_t frames() const { return frames_; }

    void insert(frame_t frame);
    void erase(frame_t frame); // erasing a frame that is not in the index does nothing
    bool contains(frame_t frame) const;
    // The first frame in the index at or above `from`, or NO_FRAME.
    frame_t next(frame_t from) const;
    u64 count() const { return count_; }

private:
    u64 *words_ = nullptr;
    frame_t frames_ = 0;
    u64 count_ = 0;
    unsigned levels_ = 0;
    u64 level_offset_[MAX_LEVELS]{}; // first word of each level in words_
    u64 level_words_[MAX_LEVELS]{};
};
