// SPDX-License-Identifier: MIT
// Live update in the running image: quiesce, serialize, check, hand over; and what the
// next image remembers of the update that started it.
#pragma once
#include "arch/arch.hpp"
#include "update/incoming.hpp"
#include "update/rollback.hpp"
#include "update/serialize.hpp"
#include "update/timeline.hpp"

// A deliberate fault for the refusal tests (`batonctl update-fault`).
enum class UpdateFault : u8 {
    none,
    bootmem_violation, // a preserved frame planted in the bootmem region before the barrier
    slow_cpu, // an application processor keeps its vCPU past the quiesce bound
};

struct LiveUpdateResult {
    u64 record_phys = 0;
    u64 record_bytes = 0;
    usize domains = 0;
    u64 quiesce_ns = 0; // from stopping every vCPU until no CPU was inside one
    u32 cpus = 0; // CPUs that ran vCPUs
};

// How long the next image has, from the jump, to commit before the watchdog sends the
// machine back (docs/live-update.md: a hang is back in the old image within about this).
inline constexpr u64 UPDATE_WATCHDOG_MS = 1000;

// Stamps `phases` (requested and image_verified already stamped by the caller) through
// serialized. Needs this image's own copy (self_image()) for the way back. Stops every
// vCPU on every CPU (-BATON_ETIMEDOUT if a CPU does not leave its vCPU in time), writes the record into preserved
// frames, builds the rollback kit, checks the invariants (no preserved frame in the bootmem region, none where the next
// image will be copied) and prepares the jump into `next` (whose command line gains lu_record, lu_rollback and
// `next_fault`). `next_copy` is the next image's file as the record names it (preserved: an upload; else a boot
// module). Returns 0 when the caller may kexec_jump() (after answering); otherwise everything is as before (record and
// kit freed, interrupts back on, guests runnable) and `why` says what failed.
[[nodiscard]] int live_update_prepare(KexecRequest next, const ImageCopy &next_copy, UpdateFault fault,
                                      InjectedFault next_fault, UpdateTimeline &phases, LiveUpdateResult &result,
                                      char *why, usize why_capacity);

// Writes a record of the running state into ephemeral memory (for `batonctl record
// --snapshot`): guests do not run meanwhile (stopped on every CPU as for an update). Returns the buffer's physical
// address and size (free with free_snapshot()), or 0 with the reason.
u64 write_snapshot(u64 &size, unsigned &order, char *why, usize why_capacity);

// ---- the new image ---------------------------------------------------------------------

struct UpdateHistory {
    bool happened = false; // this image was started by a live update
    UpdateTimeline phases; // every stamp of that update (after a rollback: of the failed attempt)
    // The update that started this image, for its next record's lastUpdate: `phases` after
    // a commit; after a rollback the writer's own arrival, from the record (empty when
    // it was booted cold), since the attempt did not start it.
    UpdateTimeline arrival;
    u64 update_count = 0; // updates since the first boot (this image's generation)
    u64 tsc_khz = 0;
    char from_build_id[64] = {};
    char from_version[64] = {};
    usize domains_in_record = 0;
    usize domains_restored = 0;
    u64 record_bytes = 0;
    u64 record_copy_phys = 0; // the incoming record, copied to ephemeral memory
    unsigned record_copy_order = 0;
    // The transaction: this boot entered this image again after the next one failed
    // (`rolled_back`); the rollbacks since the first boot and the most recent one's report.
    bool rolled_back = false;
    u64 rollback_count = 0;
    bool has_last_rollback = false;
    RollbackReport last_rollback;
};
const UpdateHistory &update_history();

// Rebuilds the domains from a checked record, commits (rollback.hpp: from here a failure
// no longer goes back), frees what only the old image or a rollback needed (the record,
// the kit, the copy of the image not kept), stamps the phases and prints the timings.
// `entered_tsc` is the TSC at kernel entry, `parsed_tsc` when the record had been
// checked. With `rolled_back` this image is the old one, entered again by a rollback
// whose report is in the kit `options.lu_rolled_back_kit`.
void resume_after_update(IncomingRecord &record, const KernelOptions &options, u64 entered_tsc, u64 parsed_tsc);
