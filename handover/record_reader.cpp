// SPDX-License-Identifier: MIT
// Reading a handover record: structure, magic and version checks.
#include "handover/record_reader.hpp"

namespace handover {

const char *record_status_text(RecordStatus status)
{
    switch (status) {
    case RecordStatus::ok: return "ok";
    case RecordStatus::bad_structure: return "the message is not a well-formed single-segment Cap'n Proto message";
    case RecordStatus::bad_magic: return "not a handover record (wrong magic)";
    case RecordStatus::version_missing: return "record has no ABI version";
    case RecordStatus::versions_inconsistent: return "record's minimum reader version is above its own ABI version";
    case RecordStatus::version_too_new: return "record needs a newer reader than this one";
    }
    return "unknown status";
}

RecordStatus check_record_header(schema::Handover::Reader record)
{
    if (record.magic() != schema::HANDOVER_MAGIC)
        return RecordStatus::bad_magic;
    if (record.abi_version() == 0)
        return RecordStatus::version_missing;
    if (record.min_reader_version() > record.abi_version())
        return RecordStatus::versions_inconsistent;
    // A newer writer is fine as long as it says readers of our version may read it.
    if (record.min_reader_version() > schema::HANDOVER_ABI_VERSION)
        return RecordStatus::version_too_new;
    return RecordStatus::ok;
}

RecordStatus open_record(wire::MessageReader &message, schema::Handover::Reader *record, u64 *bitmap, u64 bitmap_words)
{
    *record = {};
    if (message.check_structure(bitmap, bitmap_words) != wire::Error::none)
        return RecordStatus::bad_structure;
    const schema::Handover::Reader root(message.root());
    if (!message.ok())
        return RecordStatus::bad_structure;
    const RecordStatus status = check_record_header(root);
    if (status == RecordStatus::ok)
        *record = root;
    return status;
}

} // namespace handover
