// SPDX-License-Identifier: MIT
// Rebuilding the domains of a checked handover record in the new image.
#pragma once
#include "handover_layout.hpp"
#include "update/timeline.hpp"

// Rebuilds every domain of `record` (already checked by check_incoming_record(), its
// frames marked preserved by FrameAllocator::init()): p2m and nested tables, shared-info
// page, event channels, vCPU. A domain that cannot be rebuilt is reported and left out;
// the others go on. Returns how many domains were rebuilt.
usize restore_domains(handover::schema::Handover::Reader record, const UpdateClock &clock);

// The phases of the update that started this image: the old image's stamps from the
// record plus `entered` and later stamped here.
void timeline_from_record(handover::schema::Handover::Reader record, UpdateTimeline &timeline);
