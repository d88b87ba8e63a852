// SPDX-License-Identifier: MIT
// The update as a transaction: until the new image commits, any failure of it sends the
// machine back into the old image, which reports what happened (docs/live-update.md).
#pragma once
#include "boot/cmdline.hpp"
#include "update/timeline.hpp"

inline constexpr usize ROLLBACK_REASON_SIZE = 192;
inline constexpr u32 ROLLBACK_REPORT_MAGIC = 0x4b434142; // "BACK"

// What a failing image leaves, inside the rollback kit, for the image it falls back to.
struct RollbackReport {
    u32 magic = 0; // ROLLBACK_REPORT_MAGIC once written
    UpdatePhase reached_phase = UpdatePhase::serialized;
    u64 failed_tsc = 0;
    char failed_build_id[48] = {};
    char failed_version[16] = {};
    char reason[ROLLBACK_REASON_SIZE] = {};
};

// ---- the new image, until it commits ------------------------------------------------------

// Once the command line is read: with `lu_rollback=`, checks the kit the old image left
// and arms the way back (a kit that fails its checks is reported, and this boot then has
// none). Also takes `lu_fault=`.
void rollback_arm(const KernelOptions &options);
// True from rollback_arm() with a good kit until rollback_commit().
bool rollback_pending();
// The last phase this image reached, for the report.
void rollback_reached(UpdatePhase phase);
// Every failure before the commit calls this. When the way back is armed it writes the
// report into the kit and enters the old image with the same record (it does not
// return); otherwise it returns and the caller fails as it would without rollback.
// Safe from panic and exception context: it allocates nothing and takes no lock.
void rollback_if_pending(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// The commit point: the watchdog stops and the way back is given up. The caller then
// frees what only a rollback needed (the kit, the old image's copy).
void rollback_commit();
// The fault this boot was asked to inject (`lu_fault=`), or none.
InjectedFault injected_fault();
// The hang faults: spin forever with interrupts off or on.
[[noreturn]] void injected_hang(InjectedFault fault);

// ---- the old image, entered again through the kit -------------------------------------

// With `lu_rolled_back=KIT`: copies the failed image's report out of the kit (before the
// kit's frames are freed). Returns false when the kit holds no report.
[[nodiscard]] bool rollback_take_report(u64 kit, RollbackReport &report);
