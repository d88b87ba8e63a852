// SPDX-License-Identifier: MIT
// The preserved-block index: a hierarchical bitmap of preserved block heads.
#include "mm/preserved_index.hpp"

namespace {

constexpr u64 words_for(u64 bits) { return (bits + 63) / 64; }

// Word counts of each level for `frames` bits at level 0, top level last; the level count.
unsigned level_sizes(frame_t frames, u64 *words)
{
    unsigned levels = 0;
    u64 bits = frames == 0 ? 1 : frames;
    do {
        words[levels] = words_for(bits);
        bits = words[levels++];
    } while (bits > 1 && levels < PreservedIndex::MAX_LEVELS);
    return levels;
}

constexpr u64 bit_of(u64 index) { return u64{1} << (index & 63); }

} // namespace

u64 PreservedIndex::bytes_for(frame_t frames)
{
    u64 words[MAX_LEVELS]{};
    unsigned levels = level_sizes(frames, words);
    u64 total = 0;
    for (unsigned level = 0; level < levels; level++)
        total += words[level];
    return total * sizeof(u64);
}

void PreservedIndex::init(u64 *words, frame_t frames)
{
    words_ = words;
    frames_ = frames;
    count_ = 0;
    levels_ = level_sizes(frames, level_words_);
    u64 offset = 0;
    for (unsigned level = 0; level < levels_; level++) {
        level_offset_[level] = offset;
        offset += level_words_[level];
    }
    for (u64 word = 0; word < offset; word++)
        words_[word] = 0;
}

void PreservedIndex::insert(frame_t frame)
{
    if (frame >= frames_ || contains(frame))
        return;
    count_++;
    u64 index = frame;
    for (unsigned level = 0; level < levels_; level++) {
        u64 &word = words_[level_offset_[level] + index / 64];
        bool was_empty = word == 0;
        word |= bit_of(index);
        if (!was_empty)
            return; // the levels above already know this word
        index /= 64;
    }
}

void PreservedIndex::erase(frame_t frame)
{
    if (frame >= frames_ || !contains(frame))
        return;
    count_--;
    u64 index = frame;
    for (unsigned level = 0; level < levels_; level++) {
        u64 &word = words_[level_offset_[level] + index / 64];
        word &= ~bit_of(index);
        if (word != 0)
            return; // the word still has bits: the levels above stay set
        index /= 64;
    }
}

bool PreservedIndex::contains(frame_t frame) const
{
    return frame < frames_ && (words_[level_offset_[0] + frame / 64] & bit_of(frame)) != 0;
}

frame_t PreservedIndex::next(frame_t from) const
{
    if (from >= frames_)
        return NO_FRAME;
    // Climb until a word has a bit at or after the position, then go down its first bits.
    u64 position = from;
    unsigned level = 0;
    for (;;) {
        if (level == levels_)
            return NO_FRAME;
        u64 index = position / 64;
        if (index >= level_words_[level])
            return NO_FRAME;
        u64 word = words_[level_offset_[level] + index] & (~u64{0} << (position & 63));
        if (word != 0) {
            position = index * 64 + static_cast<u64>(__builtin_ctzll(word));
            break;
        }
        position = index + 1; // the next word of this level is that bit of the level above
        level++;
    }
    while (level > 0) {
        level--;
        position = position * 64 + static_cast<u64>(__builtin_ctzll(words_[level_offset_[level] + position]));
    }
    return position < frames_ ? position : NO_FRAME;
}
