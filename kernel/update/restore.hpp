// SPDX-License-Identifier: MIT
// Rebuilding the domains of a checked handover record in the new image.
#pragma once
#include "handover_layout.hpp"
#include "update/timeline.hpp"

// What stopped a restore that must be all or nothing.
struct RestoreFailure {
    u32 domain_id = 0;
    int error = 0; // 0: nothing failed
};

// Rebuilds every domain of `record` (already checked by check_incoming_record(), its
// frames marked preserved by FrameAllocator::init()): p2m and nested tables, extra pages,
// event channels, vCPU; the shared-info pages are refreshed later, by the caller, once
// guest memory may be written (domain_refresh_shared_info()). Returns how many domains
// were rebuilt.
// Without `first_failure`, a domain that cannot be rebuilt is reported and left out (its
// devices stopped, its memory freed); the others go on. With it (an update that can still
// roll back), the first failure stops the restore and is described there: nothing is
// discarded and no device touched, so the old image can take everything back.
// `fail_last_domain` makes the record's last domain fail (the rollback tests).
usize restore_domains(handover::schema::Handover::Reader record, const UpdateClock &clock,
                      RestoreFailure *first_failure = nullptr, bool fail_last_domain = false);

// What the restore leaves until guest memory may be written (after the commit): every
// domain's shared-info page is filled again.
void refresh_restored_domains();

// The phases of the update that started this image: the old image's stamps from the
// record plus `entered` and later stamped here. With `last_update`, the record's
// lastUpdate instead: the update that started its writer.
void timeline_from_record(handover::schema::Handover::Reader record, UpdateTimeline &timeline,
                          bool last_update = false);
