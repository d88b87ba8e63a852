// SPDX-License-Identifier: MIT
// Device assignment: domains' IO page tables, devices' context entries, BARs in the p2m.
#pragma once
#include "arch/x86_64/iommu/io_mapper.hpp"
#include "arch/x86_64/iommu/iommu.hpp"

// docs/iommu.md, "Device assignment". One IO page table per domain (IO address = guest-
// physical address), built from and kept in step with the domain's p2m (its IO listener);
// every device of the domain points at it from its context entry, tagged with the domain
// id as the unit's domain id (DID). Calls come from the control channel, the boot path
// and domain destruction, which never run at the same time (one CPU).
class Domain;

namespace iommu {

inline constexpr usize MAX_ASSIGNED = 16;

// One device given to a domain.
struct Assignment {
    pci::Address device;
    u16 domain = 0; // Baton domain id; also the DID in the unit's context entry
    Unit *unit = nullptr;
    u16 host_command = 0; // the command register before assignment, restored after
    u16 guest_command = 0; // Memory and Bus Master as the guest set them
    u8 bars_sizing = 0; // BARs the guest wrote all ones to: the next read gives the size
};

// A live update handed `device` over, assigned to `domain` through `unit` with the IO
// page table at `table_root` (`table_frames` frames, walked and checked): the table is
// adopted as the domain's, follows its p2m from now on, and the context entry is left as
// it is (the device's DMA never stops). 0 or -errno with `why`.
[[nodiscard]] int adopt_assignment(Domain &domain, pci::Address device, Unit &unit, u64 table_root, unsigned levels,
                                   u64 table_frames, char *why, usize why_capacity);

// Registers the assigner with the domain layer (iommu::init does, once a unit runs).
void register_assigner();

// Every current assignment, in no particular order (handover: each device's domain; the
// unit's context_of() gives DID, root and levels).
usize assignment_count();
Assignment &assignment(usize index);
// The assignment of `device` (to any domain), or nullptr.
Assignment *find_assignment(pci::Address device);
// The IO page table of domain `domain` (nullptr while it has no device): its root, levels
// and frames (preserved page_table frames owned by the domain) for the handover.
const vtd::IoPageTable *domain_io_table(u16 domain);

} // namespace iommu
