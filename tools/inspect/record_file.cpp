// SPDX-License-Identifier: MIT
// baton-inspect: loading a record from a file or stdin, and shared text helpers.
#include "inspect.hpp"
#include "lib/format.hpp"
#include <cerrno>
#include <cstring>
#include <vector>

namespace inspect {

namespace {

// One segment of at most 2^29-1 words plus its table: anything larger is not a record.
constexpr size_t MAX_RECORD_BYTES = ((size_t{1} << 29) - 1 + 1) * 8;

std::vector<unsigned char> read_all(const std::string &path)
{
    FILE *file = path == "-" ? stdin : fopen(path.c_str(), "rb");
    if (file == nullptr)
        throw InputError{path + ": " + strerror(errno)};
    std::vector<unsigned char> bytes;
    unsigned char chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        bytes.insert(bytes.end(), chunk, chunk + got);
        if (bytes.size() > MAX_RECORD_BYTES) {
            if (file != stdin)
                fclose(file);
            throw InputError{path + ": larger than any single-segment record can be (4 GiB)"};
        }
    }
    const bool failed = ferror(file) != 0;
    if (file != stdin)
        fclose(file);
    if (failed)
        throw InputError{path + ": read error"};
    return bytes;
}

// What the segment table's first field says: the number of segments, less one.
uint64_t segments_declared(const void *message)
{
    uint32_t field;
    memcpy(&field, message, sizeof(field));
    return uint64_t{field} + 1;
}

} // namespace

// Other writers (libcapnp's builder for big messages, or with a small segment size) may
// spread a record over segments; the hypervisor writes one. libcapnp reads any valid
// framing, and a copy into one segment big enough for all of it gives the form the
// kernel's checks read. The copy keeps fields this tool does not know (capnp copies
// whole struct sections).
void RecordFile::flatten()
{
    capnp::ReaderOptions options;
    options.traversalLimitInWords = (size_ / 8 + 1024) * 2;
    options.nestingLimit = handover::wire::DEFAULT_MAX_DEPTH;
    try {
        capnp::FlatArrayMessageReader reader(words_.asPtr(), options);
        const size_t message_bytes = static_cast<size_t>(reader.getEnd() - words_.begin()) * 8;
        if (message_bytes != size_)
            fprintf(stderr, "baton-inspect: %s: warning: %zu bytes after the end of the message are ignored\n",
                    name_.c_str(), size_ - message_bytes);
        const capnp::AnyPointer::Reader root = reader.getRoot<capnp::AnyPointer>();
        const size_t words = root.targetSize().wordCount + 1; // and the root pointer
        capnp::MallocMessageBuilder builder(static_cast<unsigned>(words), capnp::AllocationStrategy::FIXED_SIZE);
        builder.getRoot<capnp::AnyPointer>().set(root);
        if (builder.getSegmentsForOutput().size() != 1)
            throw InputError{name_ + ": cannot copy the " + std::to_string(segments_) +
                             "-segment message into one segment"};
        words_ = capnp::messageToFlatArray(builder);
        size_ = words_.size() * sizeof(capnp::word);
    } catch (const kj::Exception &error) {
        throw InputError{name_ + ": malformed " + std::to_string(segments_) +
                         "-segment message: " + error.getDescription().cStr()};
    }
}

RecordFile::RecordFile(const std::string &path) : name_(path == "-" ? "<stdin>" : path)
{
    const std::vector<unsigned char> bytes = read_all(path);
    if (bytes.empty())
        throw InputError{name_ + ": empty input"};
    if (bytes.size() % 8 != 0)
        throw InputError{name_ + ": " + std::to_string(bytes.size()) +
                         " bytes is not a whole number of 8-byte words (truncated?)"};
    size_ = bytes.size();
    words_ = kj::heapArray<capnp::word>(size_ / 8);
    memcpy(words_.begin(), bytes.data(), size_);
    segments_ = segments_declared(words_.begin());
    if (segments_ != 1)
        flatten();

    // The kernel's checks first: they name the problem and where it is.
    handover::wire::MessageReader message(words_.begin(), size_);
    std::vector<uint64_t> bitmap(message.bitmap_words_needed() + 1);
    handover::schema::Handover::Reader unused;
    status_ = handover::open_record(message, &unused, bitmap.data(), bitmap.size());
    if (status_ == handover::RecordStatus::bad_structure) {
        structure_error_ = std::string("malformed record: ") + handover::wire::error_text(message.error()) +
                           " (at byte " + std::to_string(message.error_offset()) + ")";
        return;
    }
    if (segments_ == 1 && message.message_bytes() != size_)
        fprintf(stderr, "baton-inspect: %s: warning: %zu bytes after the end of the message are ignored\n",
                name_.c_str(), size_ - message.message_bytes());

    // libcapnp's default traversal limit (64 MiB, counted over the reader's life) would
    // refuse big records or a second pass over them: allow a few passes of this message.
    capnp::ReaderOptions options;
    options.traversalLimitInWords = (size_ / 8 + 1024) * 8;
    options.nestingLimit = handover::wire::DEFAULT_MAX_DEPTH;
    try {
        reader_ = std::make_unique<capnp::FlatArrayMessageReader>(words_.asPtr(), options);
        root_ = reader_->getRoot<baton::record::Handover>();
    } catch (const kj::Exception &error) {
        throw InputError{name_ + ": " + error.getDescription().cStr()};
    }
}

void RecordFile::require_record() const
{
    using handover::RecordStatus;
    switch (status_) {
    case RecordStatus::ok: return;
    case RecordStatus::bad_structure: throw InputError{name_ + ": " + structure_error_};
    case RecordStatus::bad_magic:
        throw InputError{name_ + ": not a handover record (magic " + hex(root_.getMagic()) + ", expected " +
                         hex(baton::record::HANDOVER_MAGIC) + ")"};
    case RecordStatus::version_missing:
    case RecordStatus::versions_inconsistent:
    case RecordStatus::version_too_new:
        fprintf(stderr,
                "baton-inspect: %s: warning: %s (ABI version %u, minimum reader %u; this tool reads %u): "
                "showing the fields it knows\n",
                name_.c_str(), handover::record_status_text(status_), root_.getAbiVersion(),
                root_.getMinReaderVersion(), baton::record::HANDOVER_ABI_VERSION);
        return;
    }
}

std::string hex(uint64_t value)
{
    char text[24];
    snprintf(text, sizeof(text), "0x%lx", value);
    return text;
}

std::string frames_text(uint64_t first, uint64_t count)
{
    if (count == 0)
        return hex(first) + " (empty)";
    return hex(first) + "-" + hex(first + count - 1);
}

std::string size_text(uint64_t bytes)
{
    char text[32];
    format_size(text, sizeof(text), bytes);
    return text;
}

std::string enum_text(capnp::DynamicValue::Reader value)
{
    const capnp::DynamicEnum enumerant = value.as<capnp::DynamicEnum>();
    KJ_IF_MAYBE (known, enumerant.getEnumerant()) {
        return known->getProto().getName();
    }
    return "unknown(" + std::to_string(enumerant.getRaw()) + ")";
}

std::string value_text(capnp::DynamicValue::Reader value)
{
    switch (value.getType()) {
    case capnp::DynamicValue::VOID: return "void";
    case capnp::DynamicValue::BOOL: return value.as<bool>() ? "yes" : "no";
    case capnp::DynamicValue::INT: return std::to_string(value.as<int64_t>());
    case capnp::DynamicValue::UINT: return hex(value.as<uint64_t>());
    case capnp::DynamicValue::ENUM: return enum_text(value);
    case capnp::DynamicValue::TEXT: return "\"" + std::string(value.as<capnp::Text>().cStr()) + "\"";
    case capnp::DynamicValue::DATA: return std::to_string(value.as<capnp::Data>().size()) + " bytes";
    case capnp::DynamicValue::STRUCT: return "{" + fields_text(value.as<capnp::DynamicStruct>()) + "}";
    case capnp::DynamicValue::LIST: {
        const auto list = value.as<capnp::DynamicList>();
        std::string text = "[";
        for (uint32_t i = 0; i < list.size(); i++)
            text += (i ? ", " : "") + value_text(list[i]);
        return text + "]";
    }
    default: return "?";
    }
}

std::string field_value_text(capnp::StructSchema::Field field, capnp::DynamicValue::Reader value)
{
    // Identities, versions, counts and times read better in decimal; frames, addresses
    // and registers in hex.
    static const char *const decimal[] = {"id",
                                          "port",
                                          "vcpu",
                                          "virq",
                                          "domainId",
                                          "remoteDomain",
                                          "remotePort",
                                          "notifyVcpu",
                                          "abiVersion",
                                          "minReaderVersion",
                                          "createdTsc",
                                          "tscKhz",
                                          "createdUnixSeconds",
                                          "tsc",
                                          "deadlineTsc",
                                          "periodTsc",
                                          "dirtyCount",
                                          "pageTableLevels",
                                          "segment",
                                          "timeOriginTsc",
                                          "updateCount",
                                          "timerPeriodNs",
                                          "timerDeadlineTsc",
                                          "altp2mView"};
    // Names that mean a count or an id in one struct only (an MSR's index is a register number).
    static const char *const decimal_in[][2] = {{"Altp2mView", "index"}};
    if (value.getType() == capnp::DynamicValue::UINT && field.getProto().getName() == "guestFrame" &&
        value.as<uint64_t>() == baton::record::NO_GUEST_FRAME)
        return "(not mapped)";
    if (value.getType() == capnp::DynamicValue::UINT) {
        for (const char *name : decimal)
            if (field.getProto().getName() == name)
                return std::to_string(value.as<uint64_t>());
        const auto container = field.getContainingStruct().getProto();
        const std::string struct_name = container.getDisplayName().cStr() + container.getDisplayNamePrefixLength();
        for (const auto &[in_struct, name] : decimal_in)
            if (struct_name == in_struct && field.getProto().getName() == name)
                return std::to_string(value.as<uint64_t>());
    }
    return value_text(value);
}

std::string duration_text(uint64_t ticks, uint64_t tsc_khz)
{
    if (tsc_khz == 0)
        return std::to_string(ticks) + " ticks";
    char text[48];
    snprintf(text, sizeof(text), "%.3f ms", static_cast<double>(ticks) / static_cast<double>(tsc_khz));
    return text;
}

double micros(uint64_t ticks, uint64_t tsc_khz)
{
    return static_cast<double>(ticks) * 1000.0 / static_cast<double>(tsc_khz);
}

std::string micros_text(uint64_t ticks, uint64_t tsc_khz)
{
    if (tsc_khz == 0)
        return std::to_string(ticks) + " ticks";
    char text[48];
    snprintf(text, sizeof(text), "%.1f us", micros(ticks, tsc_khz));
    return text;
}

PhaseTimes::PhaseTimes(capnp::List<baton::record::PhaseStamp>::Reader stamps)
{
    for (auto stamp : stamps)
        tsc_.emplace(stamp.getPhase(), stamp.getTsc());
}

bool PhaseTimes::has_blackout() const
{
    using baton::record::Phase;
    const auto paused = tsc_.find(Phase::PAUSED), resumed = tsc_.find(Phase::RESUMED);
    return paused != tsc_.end() && resumed != tsc_.end() && paused->second <= resumed->second;
}

uint64_t PhaseTimes::blackout() const
{
    using baton::record::Phase;
    return has_blackout() ? tsc_.at(Phase::RESUMED) - tsc_.at(Phase::PAUSED) : 0;
}

std::string fields_text(capnp::DynamicStruct::Reader reader)
{
    std::string text;
    for (auto field : reader.getSchema().getFields()) {
        if (field.getType().isStruct() && !reader.has(field))
            continue;
        text += (text.empty() ? "" : " ") + std::string(field.getProto().getName().cStr()) + " " +
                field_value_text(field, reader.get(field));
    }
    return text;
}

} // namespace inspect
