// SPDX-License-Identifier: MIT
// Copies between the hypervisor and guest RAM, every frame checked through the p2m.
#pragma once
#include "lib/types.hpp"

class P2m;

// [gpa, gpa + length) must be guest RAM (not a hole, not MMIO); returns 0 or
// -BATON_EFAULT (also when gpa + length wraps), -BATON_EAGAIN if no frame reference could
// be taken. Each page is used under a frame reference (P2m::get_frame), so the guest
// cannot move or free it mid-copy; take no mm lock around these calls.
[[nodiscard]] int copy_from_guest(const P2m &p2m, void *destination, u64 gpa, u64 length);
// The span must also be writable by the guest; written log-dirty frames are marked dirty.
[[nodiscard]] int copy_to_guest(P2m &p2m, u64 gpa, const void *source, u64 length);
[[nodiscard]] int zero_guest(P2m &p2m, u64 gpa, u64 length);
