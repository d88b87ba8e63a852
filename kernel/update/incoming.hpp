// SPDX-License-Identifier: MIT
// The incoming handover record at boot: finding it, checking it, and what it preserves.
#pragma once
#include "boot/cmdline.hpp"
#include "handover/record_reader.hpp"
#include "mm/frames.hpp"

inline constexpr usize INCOMING_WHY_SIZE = 256;

struct IncomingRecord {
    bool given = false; // the command line named a record (this boot is a live update)
    bool usable = false; // it passed every check; `root` may be acted upon
    PhysRange bytes; // where the record's bytes are
    handover::wire::MessageReader message{nullptr, 0};
    handover::schema::Handover::Reader root;
    char why[INCOMING_WHY_SIZE] = {}; // why it is not usable
};

// Checks the record `options` names (after early_init() and the direct map, before
// init()): CRC-32, structure, header, the meaning of every field, and that it fits this
// machine (its bootmem region is ours, it lies in a preserved record range). Findings are
// logged. Returns true when record.usable.
[[nodiscard]] bool check_incoming_record(const KernelOptions &options, const FrameAllocator &frames,
                                         IncomingRecord &record);

// The preserved ranges for FrameAllocator::init(), in boot memory taken from `boot`.
// Returns 0 or a negative errno with the reason in record.why.
[[nodiscard]] int incoming_preserved_ranges(IncomingRecord &record, BootAllocator &boot, PreservedRange *&ranges,
                                            usize &count);

// Every range of the record's own frames, so they can be freed once it is consumed.
template <typename Visit>
void for_each_record_range(const IncomingRecord &record, Visit &&visit)
{
    handover::preserved_of(record.root).for_each([&](handover::schema::PreservedRange::Reader range, u64) {
        if (range.kind() == handover::schema::PreservedKind::handover_record)
            visit(PhysRange{frame_to_addr(range.first_frame()),
                            frame_to_addr(range.first_frame() + range.frame_count())});
        return true;
    });
}
