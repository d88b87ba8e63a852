// SPDX-License-Identifier: MIT
// Writing the outgoing handover record: every domain, the preserved frames, the phases.
#pragma once
#include "handover_layout.hpp"
#include "mm/frames.hpp"
#include "update/rollback.hpp"
#include "update/timeline.hpp"

// What the record says besides the domains, which it takes from the domain table.
// A hypervisor image's ELF as the record names it (Handover.writerImage / nextImage).
struct ImageCopy {
    u64 address = 0;
    u64 bytes = 0; // 0: none
    const char *build_id = "";
    bool preserved = false; // in preserved frames of type hypervisor_image; false: a boot module
};

struct OutgoingRecord {
    const char *build_id = "";
    const char *version = "";
    u64 tsc_khz = 0;
    u64 lapic_timer_khz = 0; // v7: the next image keeps it rather than measure it
    u64 time_origin_tsc = 0; // TSC at hypervisor time 0 (time_now_ns() continues from it)
    u64 update_count = 0; // this update's number (1 for the first)
    const UpdateTimeline *last_update = nullptr; // the update that started this image, if any
    UpdateTimeline *phases = nullptr; // stamps so far; `serialized` is added while writing
    u64 (*read_tsc)() = nullptr;
    // The transaction (v5): what a rollback needs, and the rollbacks so far.
    ImageCopy writer_image;
    ImageCopy next_image;
    PhysRange rollback_kit; // empty: no way back (a snapshot)
    u64 rollback_count = 0;
    const RollbackReport *last_rollback = nullptr;
};

// Bytes a record of the current state can need: generous, so one try is enough.
u64 record_size_bound(const FrameAllocator &frames);

// Writes the record into `buffer`, which must lie in preserved frames of type record so
// that the preserved list describes it. Domains must be quiesced (no vCPU running,
// p2m changes resolved). Returns the record's size, or 0 with the reason in `why`.
u64 write_update_record(const OutgoingRecord &outgoing, const FrameAllocator &frames, void *buffer, u64 capacity,
                        char *why, usize why_capacity);
