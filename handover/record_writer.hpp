// Writing a handover record: the header every record carries, and chunked range lists.
//
// Usage (the old image, at serialization time):
//   wire::MessageBuilder message(buffer, buffer_bytes);
//   schema::Handover::Builder record = begin_record(message, identity);
//   record.init_bootmem() ...; auto domains = record.init_domains(n); ...
//   P2mWriter p2m = init_p2m(domains[i], range_count);
//   for (...) { auto range = p2m.next(); range.set_guest_frame(...); ... }
//   u64 bytes = message.finish();   // 0: message.error() says why
#pragma once
#include "handover_layout.hpp"

namespace handover {

// Ranges per chunk unless the caller chooses: a P2mRange is 4 words, so a chunk stays
// far below one list's 2^29-1 words, and 10^6 ranges still fit one chunk.
inline constexpr u32 DEFAULT_RANGES_PER_CHUNK = 1u << 20;

struct WriterIdentity {
    const char *build_id = "";
    const char *version = "";
    u64 created_tsc = 0;
    u64 tsc_khz = 0;
    u64 created_unix_seconds = 0; // 0: unknown
};

// Initialises the root struct with the magic, this writer's ABI version and minimum
// reader version, and the identity.
schema::Handover::Builder begin_record(wire::MessageBuilder &message, const WriterIdentity &identity);

// Chunks needed for `count` elements of at most `per_chunk` each (per_chunk > 0).
constexpr u64 chunks_for(u64 count, u32 per_chunk) { return (count + per_chunk - 1) / per_chunk; }

// Hands out the elements of a chunked list (a list of Chunk structs, each with a
// `ranges` list of Element) in order, allocating each chunk's list when it is reached.
template <class Chunk, class Element> class ChunkedListWriter final {
public:
    ChunkedListWriter() = default;
    ChunkedListWriter(wire::StructListBuilder<Chunk> chunks, u64 count, u32 per_chunk)
        : chunks_(chunks), count_(count), per_chunk_(per_chunk)
    {
    }

    // The next element; an inert builder once `count` elements were handed out.
    typename Element::Builder next()
    {
        if (written_ == count_)
            return {};
        if (in_chunk_ == current_.size()) {
            const u64 left = count_ - written_;
            current_ = chunks_[chunk_++].init_ranges(static_cast<u32>(left < per_chunk_ ? left : per_chunk_));
            in_chunk_ = 0;
        }
        written_++;
        return current_[in_chunk_++];
    }

    u64 written() const { return written_; }
    bool complete() const { return written_ == count_; }

private:
    wire::StructListBuilder<Chunk> chunks_;
    wire::StructListBuilder<Element> current_;
    u64 count_ = 0;
    u64 written_ = 0;
    u32 per_chunk_ = 1;
    u32 chunk_ = 0;
    u32 in_chunk_ = 0;
};

using P2mWriter = ChunkedListWriter<schema::P2mChunk, schema::P2mRange>;
using PreservedWriter = ChunkedListWriter<schema::PreservedChunk, schema::PreservedRange>;

// Allocate the chunk list for `count` ranges; the writer then hands out the ranges.
// Too many chunks for one list marks the message with list_too_long.
P2mWriter init_p2m(schema::Domain::Builder domain, u64 count, u32 per_chunk = DEFAULT_RANGES_PER_CHUNK);
PreservedWriter init_preserved(schema::Handover::Builder record, u64 count, u32 per_chunk = DEFAULT_RANGES_PER_CHUNK);

} // namespace handover
