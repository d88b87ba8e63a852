// SPDX-License-Identifier: MIT
// Adopting the IOMMU state an earlier image handed over: units' tables, assigned devices.
#pragma once
#include "arch/x86_64/iommu/iommu.hpp"
#include "handover_layout.hpp"

// docs/iommu.md, "Across live update". The record names each translating unit's root
// table and each assigned device's domain and IO page-table root. The next image checks
// them against the hardware and the frame table, keeps using those tables (translation
// never stops, no context entry is rewritten) and rebuilds its bookkeeping around them.
namespace iommu {

struct AdoptedUnit {
    Kind kind = Kind::vtd;
    u64 register_base = 0;
    u64 root = 0; // root table (VT-d) or device table (AMD-Vi), physical
    u64 table_frames = 0; // VT-d: root and context tables, as walked; AMD-Vi: all four
    u64 command_buffer = 0; // AMD-Vi rings (physical), 0 if the record names none
    u64 event_log = 0;
};

struct AdoptedDevice {
    pci::Address device;
    u16 domain = 0;
    u64 register_base = 0; // of its unit
    u64 table_root = 0;
    unsigned levels = 0;
    u64 table_frames = 0; // of the domain's IO page table, as walked
    Kind kind = Kind::vtd; // of its unit: the table's format
};

struct Handover {
    AdoptedUnit units[MAX_UNITS];
    usize unit_count = 0;
    AdoptedDevice devices[16];
    usize device_count = 0;
};

// Reads and checks the IOMMU part of a usable record (after the frame allocator marked
// its preserved frames): every table must be a preserved page_table frame of the right
// owner. What does not check out is logged and left out (its devices end up blocked).
void read_handover(handover::schema::Handover::Reader record, Handover &out);
// The handover init() adopts from (nullptr after a cold boot).
const Handover *pending_handover();
void set_pending_handover(Handover *handover);

// After the domains were restored: each handed-over device becomes an assignment of its
// domain again, its IO table following the p2m. A device whose domain did not come back
// is blocked. Then the handover is forgotten.
void adopt_devices();
// The domain `domain` of the handover will not be restored: block its devices now,
// before its memory is freed.
void block_handover_devices(u16 domain);

} // namespace iommu
