// SPDX-License-Identifier: MIT
// The rollback kit: everything needed to enter the old image again, prepared by it before
// the jump, in preserved frames the new image leaves alone until it commits.
#pragma once
#include "arch/x86_64/kexec/kexec.hpp"
#include "update/rollback.hpp"

// 2^4 frames below 4 GiB: a header with the failure report, the trampoline, its
// parameters, the old image's boot information and page tables of their own.
inline constexpr unsigned ROLLBACK_KIT_ORDER = 4;

// The old image: writes the kit at `kit` for re-entering `self` (its own pristine copy,
// request.options already saying lu_record and lu_rolled_back) and finds the watchdog
// (the jump arms it for `watchdog_ms`). The copy's segments must be exactly where this
// image runs. Returns 0, or a negative errno with the reason; nothing irreversible happens.
[[nodiscard]] int rollback_kit_build(u64 kit, const KexecRequest &self, u64 watchdog_ms, char *why, usize why_capacity);
// The old image, as the last step before the jump.
void rollback_kit_arm_watchdog(u64 kit);

// The new image: whether `kit` holds an intact kit (magic, size, checksum), with the reason
// when it does not. Reads only through the direct map of the first 4 GiB.
[[nodiscard]] bool rollback_kit_valid(u64 kit, char *why, usize why_capacity);
// Where the failing image writes its report.
RollbackReport &rollback_kit_report(u64 kit);
// Stops the watchdog (at the commit, or before going back).
void rollback_kit_stop_watchdog(u64 kit);
// Interrupts, timer, watchdog and SVM off, then back into the old image. Does not return.
[[noreturn]] void rollback_kit_enter(u64 kit);
