// SPDX-License-Identifier: MIT
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
    u64 lapic_timer_khz = 0; // v7; 0: unknown
};

// Initialises the root struct with the magic, this writer's ABI version and minimum
// reader version (handoverMinReaderVersion), and the identity.
schema::Handover::Builder begin_record(wire::MessageBuilder &message, const WriterIdentity &identity);

// The minReaderVersion a record needs: handoverMinReaderVersion, raised to
// altp2mMinReaderVersion when any domain has alternate p2m views, which an older reader
// would silently drop (its vCPUs would run in the host p2m). A writer with views sets
// record.set_min_reader_version(min_reader_version_for(true)) after begin_record(); the
// validator refuses a record with views whose minReaderVersion is lower.
// Likewise pcGuestMinReaderVersion when any domain is a PC guest (v4): an older reader
// would run it without its emulated devices.
// And rollbackMinReaderVersion when the record carries a way back (v5): an older reader
// would not know the image copies and the kit are its to free.
// And smpMinReaderVersion when any domain has more than one vCPU (v6): an older reader
// restores one vCPU per domain and would refuse such a domain only after the jump.
// And vcpuInfoMinReaderVersion when any vCPU has an info page (v7): an older reader
// refuses the domain (it made no such pages) only after the jump.
constexpr u32 min_reader_version_for(bool has_altp2m_views, bool has_pc_guest = false, bool has_rollback = false,
                                     bool has_smp = false, bool has_vcpu_info = false)
{
    u32 version = schema::HANDOVER_MIN_READER_VERSION;
    if (has_vcpu_info && schema::VCPU_INFO_MIN_READER_VERSION > version)
        version = schema::VCPU_INFO_MIN_READER_VERSION;
    if (has_smp && schema::SMP_MIN_READER_VERSION > version)
        version = schema::SMP_MIN_READER_VERSION;
    if (has_rollback && schema::ROLLBACK_MIN_READER_VERSION > version)
        version = schema::ROLLBACK_MIN_READER_VERSION;
    if (has_altp2m_views && schema::ALTP2M_MIN_READER_VERSION > version)
        version = schema::ALTP2M_MIN_READER_VERSION;
    if (has_pc_guest && schema::PC_GUEST_MIN_READER_VERSION > version)
        version = schema::PC_GUEST_MIN_READER_VERSION;
    return version;
}

// Chunks needed for `count` elements of at most `per_chunk` each (per_chunk > 0).
constexpr u64 chunks_for(u64 count, u32 per_chunk) { return (count + per_chunk - 1) / per_chunk; }

// Hands out the elements of a chunked list (a list of Chunk structs, each with a
// `ranges` list of Element) in order, allocating each chunk's list when it is reached.
// Each element is zeroed just before it is handed out, while its cache line is being
// written anyway; elements never handed out are zeroed when the writer goes away, so
// stopping early leaves zeroed (empty) ranges, never stale buffer contents.
template <class Chunk, class Element>
class ChunkedListWriter final {
public:
    ChunkedListWriter() = default;
    ChunkedListWriter(wire::StructListBuilder<Chunk> chunks, u64 count, u32 per_chunk)
        : chunks_(chunks), count_(count), per_chunk_(per_chunk)
    {}
    ChunkedListWriter(const ChunkedListWriter &) = delete;
    ChunkedListWriter &operator=(const ChunkedListWriter &) = delete;
    ChunkedListWriter(ChunkedListWriter &&other) noexcept { *this = static_cast<ChunkedListWriter &&>(other); }
    ChunkedListWriter &operator=(ChunkedListWriter &&other) noexcept
    {
        clear_rest();
        chunks_ = other.chunks_, current_ = other.current_, count_ = other.count_, written_ = other.written_;
        per_chunk_ = other.per_chunk_, chunk_ = other.chunk_, in_chunk_ = other.in_chunk_;
        other.current_ = {}; // the moved-from writer has nothing left to clear
        other.in_chunk_ = 0;
        return *this;
    }
    ~ChunkedListWriter() { clear_rest(); }

    // The next element; an inert builder once `count` elements were handed out.
    typename Element::Builder next() { return advance(true); }

    // The next element, with every data field from `values`. The fast way to write many:
    // whole words are stored and nothing is zeroed first.
    void add(const typename Element::Values &values) { advance(Element::POINTER_COUNT != 0).set_values(values); }

    u64 written() const { return written_; }
    bool complete() const { return written_ == count_; }

private:
    static constexpr u32 ELEMENT_BYTES = (u32{Element::DATA_WORDS} + Element::POINTER_COUNT) * 8;

    typename Element::Builder advance(bool clear)
    {
        if (written_ == count_)
            return {};
        if (in_chunk_ == current_.size()) {
            const u64 left = count_ - written_;
            const u32 length = static_cast<u32>(left < per_chunk_ ? left : per_chunk_);
            current_ = chunks_[chunk_++].init_struct_list(Chunk::Pointer::ranges, length, Element::DATA_WORDS,
                                                          Element::POINTER_COUNT, wire::Zeroing::by_caller);
            in_chunk_ = 0;
        }
        written_++;
        if (clear)
            current_.template clear_element<ELEMENT_BYTES>(in_chunk_);
        return typename Element::Builder(current_.struct_at(in_chunk_++));
    }

    void clear_rest()
    {
        for (; in_chunk_ < current_.size(); in_chunk_++)
            current_.template clear_element<ELEMENT_BYTES>(in_chunk_);
    }

    wire::StructListBuilder<Chunk> chunks_;
    wire::ListBuilder current_;
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
