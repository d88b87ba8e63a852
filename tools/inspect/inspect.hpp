// SPDX-License-Identifier: MIT
// baton-inspect: shared declarations of the handover record decoder's commands.
#pragma once
#include "abi/handover.capnp.h"
#include "handover/record_reader.hpp"
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace inspect {

// Exit codes (docs/baton-inspect.md): 0 fine, 1 invalid record or records differ,
// 2 usage error, 3 input unreadable or not a well-formed record.
enum ExitCode { exit_ok = 0, exit_findings = 1, exit_usage = 2, exit_input = 3 };

// Thrown for input that cannot be decoded; main() prints it and exits with exit_input.
struct InputError {
    std::string message;
};

// A record file (or stdin) in memory, checked by the kernel's reader and opened with
// libcapnp, whose reader limits are sized to the message.
class RecordFile final {
public:
    // Reads `path` ("-" for stdin). Throws InputError if it cannot be read as words; a
    // malformed message, a bad magic or version is left to the caller (see status()).
    explicit RecordFile(const std::string &path);

    const std::string &name() const { return name_; }
    const void *bytes() const { return words_.begin(); }
    size_t size() const { return size_; }
    handover::RecordStatus status() const { return status_; }
    baton::record::Handover::Reader root() const { return root_; }
    const std::string &structure_error() const { return structure_error_; }
    // Segments in the file; bytes() and size() are the message copied into one.
    uint64_t segments() const { return segments_; }
    // For decode, stats and diff: refuses what is not a well-formed record, and
    // warns (once, on stderr) about a record meant for a newer reader.
    void require_record() const;

private:
    void flatten();

    std::string name_;
    kj::Array<capnp::word> words_;
    uint64_t segments_ = 1;
    size_t size_ = 0;
    handover::RecordStatus status_ = handover::RecordStatus::ok;
    std::string structure_error_;
    std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
    baton::record::Handover::Reader root_;
};

int decode_text(const RecordFile &record, FILE *out);
int decode_json(const RecordFile &record, FILE *out);
int validate(const RecordFile &record, FILE *out);
int stats(const RecordFile &record, bool json, FILE *out);
int diff(const RecordFile &a, const RecordFile &b, FILE *out);

// Text helpers shared by the commands.
std::string hex(uint64_t value);
std::string frames_text(uint64_t first, uint64_t count); // "0x100-0x1ff"
std::string size_text(uint64_t bytes); // "16 MiB"
// The schema's name of an enum value, or "unknown(N)" for values from newer writers.
std::string enum_text(capnp::DynamicValue::Reader value);
// One struct's fields as "name value" pairs, e.g. for vCPU registers and added elements.
std::string fields_text(capnp::DynamicStruct::Reader reader);
std::string value_text(capnp::DynamicValue::Reader value);
// value_text(), but decimal for the fields that hold ids, versions, counts and times.
std::string field_value_text(capnp::StructSchema::Field field, capnp::DynamicValue::Reader value);
// TSC ticks as time: "1.250 ms" / "90.0 us", or "N ticks" when the frequency is unknown.
std::string duration_text(uint64_t ticks, uint64_t tsc_khz);
std::string micros_text(uint64_t ticks, uint64_t tsc_khz);
double micros(uint64_t ticks, uint64_t tsc_khz); // tsc_khz > 0

// When each phase of a list of phase stamps was reached, for the spans between them.
class PhaseTimes final {
public:
    explicit PhaseTimes(capnp::List<baton::record::PhaseStamp>::Reader stamps);
    // The blackout, paused to resumed: both stamped, in that order.
    bool has_blackout() const;
    uint64_t blackout() const;

private:
    std::map<baton::record::Phase, uint64_t> tsc_;
};

} // namespace inspect
