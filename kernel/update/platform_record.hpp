// SPDX-License-Identifier: MIT
// A PC guest's emulated devices in the handover record, as the architecture provides them.
#pragma once
#include "handover_layout.hpp"
#include "lib/types.hpp"

class Domain;

// Domain.pcPlatform (v4): every device model's state field for field. Only for domains
// of GuestKind::pc; host tests use the real implementation (it is pure conversion).

// Writes the domain's platform into `out` (the caller has set guestKind to pc).
void arch_platform_write_record(const Domain &domain, handover::schema::PcPlatform::Builder out);
// Bytes the platform part of a record can need.
u64 arch_platform_record_bound();
// Builds the domain's platform from the record: its device pages are already in the
// restored p2m. Every model checks its state; 0, or -BATON_EINVAL (a state a model
// refuses, a list of the wrong length) / -BATON_ENOMEM with the reason in `why`. On
// failure the domain has no platform.
[[nodiscard]] int arch_platform_restore(Domain &domain, handover::schema::PcPlatform::Reader in, char *why,
                                        usize why_capacity);
