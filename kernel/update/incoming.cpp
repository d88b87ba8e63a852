// SPDX-License-Identifier: MIT
// The incoming handover record at boot: finding it, checking it, and what it preserves.
#include "update/incoming.hpp"
#include "abi/errno.h"
#include "control/transfer_codec.hpp"
#include "handover/validate.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "update/preserved_scan.hpp"

namespace schema = handover::schema;

namespace {

struct FindingCount {
    u64 shown = 0;
};

bool log_finding(void *context, const handover::Finding &finding)
{
    auto &count = *static_cast<FindingCount *>(context);
    char line[192];
    handover::describe(finding, line, sizeof(line));
    if (count.shown++ < 8)
        log_error("update: %s", line); // "update: record: ...", "update: domain 2: ..."
    return true;
}

bool refuse(IncomingRecord &record, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool refuse(IncomingRecord &record, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    format_v(record.why, sizeof(record.why), fmt, args);
    va_end(args);
    record.usable = false;
    return false;
}

// The record's bytes must lie in frames the record itself preserves as handoverRecord.
bool bytes_are_preserved(const IncomingRecord &record)
{
    bool inside = false;
    for_each_record_range(record, [&](PhysRange range) { inside |= range.covers(record.bytes); });
    return inside;
}

} // namespace

bool check_incoming_record(const KernelOptions &options, const FrameAllocator &frames, IncomingRecord &record)
{
    record = IncomingRecord{};
    record.given = options.lu_record_given;
    if (!record.given)
        return refuse(record, "no record was handed over");
    record.bytes = PhysRange{options.lu_record_address, options.lu_record_address + options.lu_record_size};
    if (!frames.usable_ram().covers(record.bytes))
        return refuse(record, "the record at 0x%lx-0x%lx is not in RAM", record.bytes.start, record.bytes.end);
    if (record.bytes.overlaps(frames.bootmem_region()))
        return refuse(record, "the record at 0x%lx-0x%lx lies in the bootmem region, where this image booted",
                      record.bytes.start, record.bytes.end);
    const u8 *bytes = phys_to<u8>(record.bytes.start);
    const u32 crc = crc32(bytes, record.bytes.size());
    if (crc != options.lu_record_crc)
        return refuse(record, "the record's CRC-32 is 0x%08x, the old image announced 0x%08x: it was damaged", crc,
                      options.lu_record_crc);

    record.message = handover::wire::MessageReader(bytes, record.bytes.size());
    handover::RecordStatus status = handover::open_record(record.message, &record.root);
    if (status != handover::RecordStatus::ok)
        return refuse(record, "the record cannot be read: %s (%s at byte %lu)", handover::record_status_text(status),
                      handover::wire::error_text(record.message.error()), record.message.error_offset());
    FindingCount findings;
    u64 problems =
        handover::validate_record(record.message, record.root, handover::ValidationLimits{}, log_finding, &findings);
    if (problems != 0)
        return refuse(record, "the record has %lu problems (the first are listed above)", problems);

    const PhysRange region = frames.bootmem_region();
    auto bootmem = record.root.bootmem();
    if (bootmem.first_frame() != region.first_frame() ||
        bootmem.frame_count() != region.end_frame() - region.first_frame())
        return refuse(record, "the record's bootmem region (frame 0x%lx + 0x%lx) is not this image's 0x%lx-0x%lx",
                      bootmem.first_frame(), bootmem.frame_count(), region.start, region.end);
    if (!bytes_are_preserved(record))
        return refuse(record, "the record's own frames are not in its preserved list");
    record.usable = true;
    return true;
}

int incoming_preserved_ranges(IncomingRecord &record, BootAllocator &boot, PreservedRange *&ranges, usize &count)
{
    handover::PreservedReader preserved = handover::preserved_of(record.root);
    count = preserved.total();
    ranges = nullptr;
    if (count == 0)
        return 0;
    u64 phys = boot.alloc(count * sizeof(PreservedRange));
    if (phys == 0)
        return refuse(record, "no boot memory for %zu preserved ranges", count), -BATON_ENOMEM;
    ranges = phys_to<PreservedRange>(phys);
    int error = 0;
    preserved.for_each([&](schema::PreservedRange::Reader range, u64 index) {
        PreservedRange &out = ranges[index];
        out = PreservedRange{};
        out.range =
            PhysRange{frame_to_addr(range.first_frame()), frame_to_addr(range.first_frame() + range.frame_count())};
        out.owner =
            range.domain_id() == schema::NO_DOMAIN ? OWNER_HYPERVISOR : static_cast<frame_owner_t>(range.domain_id());
        bool owner_ok = range.domain_id() == schema::NO_DOMAIN || range.domain_id() < OWNER_HYPERVISOR;
        if (!frame_type_of(range.kind(), out.type, out.flags) || !owner_ok) {
            refuse(record, "preserved range %lu (frame 0x%lx) has a kind or owner this image cannot keep", index,
                   range.first_frame());
            error = -BATON_EINVAL;
            return false;
        }
        return true;
    });
    return error;
}
