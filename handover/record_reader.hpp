// SPDX-License-Identifier: MIT
// Reading a handover record: open it (structure, magic, versions) and walk chunked lists.
//
// Usage (the new image, before trusting anything in the record):
//   wire::MessageReader message(record_bytes, record_size);
//   schema::Handover::Reader record;
//   RecordStatus status = open_record(message, &record, bitmap, bitmap_words);
//   if (status != RecordStatus::ok) refuse: record_status_text(status), message.error()
//   then validate_record() (validate.hpp) before acting on any field.
#pragma once
#include "handover_layout.hpp"

namespace handover {

enum class RecordStatus : u8 {
    ok = 0,
    bad_structure, // message.error() says what and message.error_offset() where
    bad_magic,
    version_missing, // abiVersion 0
    versions_inconsistent, // minReaderVersion above abiVersion
    version_too_new, // the record needs a newer reader than this one
};

const char *record_status_text(RecordStatus status);

// The magic and version checks alone, for a root that is already at hand.
RecordStatus check_record_header(schema::Handover::Reader record);

// Checks the whole message's structure (with the optional overlap bitmap, see
// MessageReader::check_structure), then the header. On ok, *record is the root.
RecordStatus open_record(wire::MessageReader &message, schema::Handover::Reader *record, u64 *bitmap = nullptr,
                         u64 bitmap_words = 0);

// A chunked list seen as one sequence. Each chunk's list is followed (and charged)
// once per pass, so a pass costs what the chunk lists occupy.
template <class Chunk, class Element>
class ChunkedListReader final {
public:
    ChunkedListReader() = default;
    explicit ChunkedListReader(wire::StructListReader<Chunk> chunks) : chunks_(chunks) {}

    u32 chunk_count() const { return chunks_.size(); }
    wire::StructListReader<Element> chunk(u32 index) const { return chunks_[index].ranges(); }

    // Calls fn(element, index) for every element in order; stops early if fn returns false.
    template <class Fn>
    void for_each(Fn &&fn) const
    {
        u64 index = 0;
        for (u32 c = 0; c < chunks_.size(); c++) {
            const wire::StructListReader<Element> list = chunk(c);
            for (u32 i = 0; i < list.size(); i++)
                if (!fn(list[i], index++))
                    return;
        }
    }

    // Elements in all chunks (one pass over the chunk pointers).
    u64 total() const
    {
        u64 sum = 0;
        for (u32 c = 0; c < chunks_.size(); c++)
            sum += chunk(c).size();
        return sum;
    }

private:
    wire::StructListReader<Chunk> chunks_;
};

using P2mReader = ChunkedListReader<schema::P2mChunk, schema::P2mRange>;
using PreservedReader = ChunkedListReader<schema::PreservedChunk, schema::PreservedRange>;

inline P2mReader p2m_of(schema::Domain::Reader domain) { return P2mReader(domain.p2m()); }
inline PreservedReader preserved_of(schema::Handover::Reader record) { return PreservedReader(record.preserved()); }

} // namespace handover
