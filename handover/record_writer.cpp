// SPDX-License-Identifier: MIT
// Writing a handover record: header fields and chunked range lists.
#include "handover/record_writer.hpp"

namespace handover {

namespace {

// A chunk count that does not fit a list still reaches the builder, which refuses it.
u32 chunk_list_length(u64 count, u32 per_chunk)
{
    const u64 chunks = chunks_for(count, per_chunk);
    return chunks > wire::MAX_LIST_ELEMENTS ? wire::MAX_LIST_ELEMENTS + 1 : static_cast<u32>(chunks);
}

u32 usable_chunk_size(u32 per_chunk) { return per_chunk != 0 ? per_chunk : DEFAULT_RANGES_PER_CHUNK; }

} // namespace

schema::Handover::Builder begin_record(wire::MessageBuilder &message, const WriterIdentity &identity)
{
    schema::Handover::Builder record = message.init_root<schema::Handover>();
    record.set_magic(schema::HANDOVER_MAGIC);
    record.set_abi_version(schema::HANDOVER_ABI_VERSION);
    record.set_min_reader_version(schema::HANDOVER_MIN_READER_VERSION);
    record.set_writer_build_id(identity.build_id);
    record.set_writer_version(identity.version);
    record.set_created_tsc(identity.created_tsc);
    record.set_tsc_khz(identity.tsc_khz);
    record.set_created_unix_seconds(identity.created_unix_seconds);
    record.set_lapic_timer_khz(identity.lapic_timer_khz);
    return record;
}

P2mWriter init_p2m(schema::Domain::Builder domain, u64 count, u32 per_chunk)
{
    per_chunk = usable_chunk_size(per_chunk);
    return P2mWriter(domain.init_p2m(chunk_list_length(count, per_chunk)), count, per_chunk);
}

PreservedWriter init_preserved(schema::Handover::Builder record, u64 count, u32 per_chunk)
{
    per_chunk = usable_chunk_size(per_chunk);
    return PreservedWriter(record.init_preserved(chunk_list_length(count, per_chunk)), count, per_chunk);
}

} // namespace handover
