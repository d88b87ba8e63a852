// SPDX-License-Identifier: MIT
// A PC guest's platform as generic code sees it: create, destroy, run its timers.
#pragma once
#include "lib/types.hpp"

class Domain;
class PcPlatform; // guest/pc_platform.hpp

// Create maps the device pages as emulated MMIO and builds the devices
// (docs/guest-platform.md); -BATON_ENOMEM or the p2m's error, with `why`. Destroy is safe
// on a domain without one.
[[nodiscard]] int arch_platform_create(Domain &domain, char *why, usize why_capacity);
void arch_platform_destroy(Domain &domain);
// Runs the domain's device timers to now; true when an interrupt waits for its vCPU.
bool arch_platform_tick(Domain &domain);
