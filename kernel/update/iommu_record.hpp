// SPDX-License-Identifier: MIT
// The IOMMU's part of the handover record, as the architecture provides it.
#pragma once
#include "handover_layout.hpp"

// Devices keep doing DMA while the hypervisor is replaced, so every unit that translates
// is described in the record (Handover.iommu: its root table, each assigned device with
// its domain and IO page-table root, every other table frame) and the next image adopts
// those tables in place (docs/iommu.md, "Across live update"). Host tests provide fakes.

// Bytes the IOMMU part of a record can need.
u64 arch_iommu_record_bound();
// Writes Handover.iommu. Assigned devices keep running; the units are left translating.
// False, with the reason in `why`, when a table the units read is not a preserved table
// frame (the next image could not adopt it): the update must not go on.
[[nodiscard]] bool arch_iommu_write_record(handover::schema::Handover::Builder record, char *why, usize why_capacity);

// In the next image, once the domains are restored: the devices the record hands over
// become their domains' again (the IOMMU adopted its tables at boot).
void arch_iommu_adopt_devices();
// Domain `domain` of the record is not restored: its devices are blocked before any of
// its memory is freed.
void arch_iommu_domain_not_restored(u32 domain);
