// SPDX-License-Identifier: MIT
// Invariant checks over the frame table: the live-update barrier for rule 1.
#pragma once
#include "mm/frame_table.hpp"

struct InvariantResult {
    u64 violations = 0;
    u64 first_offender = 0; // physical address, meaningful when violations > 0
    bool ok() const { return violations == 0; }
};

// Rule 1 of the design: nothing preserved lies inside the bootmem region, where the next
// image boots. Walks the region's frame-table entries and reports, through log_error, each
// offender: a preserved or extra-page frame, or guest-visible memory (guest RAM, extra
// pages, the record). After the first few offenders it only counts.
InvariantResult check_bootmem_invariant(const FrameTable &table, PhysRange region);
