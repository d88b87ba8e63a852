// SPDX-License-Identifier: MIT
// The update as a transaction: the new image's way back until it commits, and the old
// image's reading of what happened.
#include "update/rollback.hpp"
#include "arch/arch.hpp"
#include "boot/version.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include <stdarg.h>

namespace {

u64 armed_kit; // the kit of the way back while it is armed; 0 otherwise
UpdatePhase reached = UpdatePhase::entered;
InjectedFault fault = InjectedFault::none;
bool going_back; // a failure on the way back must not start it again

} // namespace

void rollback_arm(const KernelOptions &options)
{
    fault = options.lu_fault;
    if (options.lu_rollback_kit == 0)
        return;
    char why[160];
    if (!rollback_kit_valid(options.lu_rollback_kit, why, sizeof(why))) {
        log_error("update: %s; a failure before the commit cannot roll back", why);
        return;
    }
    armed_kit = options.lu_rollback_kit;
    log_info("update: the way back is armed (kit at 0x%lx); this image commits once every domain is rebuilt",
             armed_kit);
}

bool rollback_pending() { return armed_kit != 0; }

void rollback_reached(UpdatePhase phase) { reached = phase; }

void rollback_if_pending(const char *fmt, ...)
{
    if (armed_kit == 0 || going_back)
        return;
    going_back = true;
    RollbackReport &report = rollback_kit_report(armed_kit);
    report.reached_phase = reached;
    report.failed_tsc = cpu::rdtsc();
    format(report.failed_build_id, sizeof(report.failed_build_id), "%s", baton_build_id);
    format(report.failed_version, sizeof(report.failed_version), "%s", baton_version);
    va_list args;
    va_start(args, fmt);
    format_v(report.reason, sizeof(report.reason), fmt, args);
    va_end(args);
    report.magic = ROLLBACK_REPORT_MAGIC;
    log_release(); // what this image said before it failed, then why it goes back
    log_flush();
    log_error("update: rolling back to the previous image: %s", report.reason);
    rollback_kit_enter(armed_kit);
}

void rollback_commit()
{
    if (armed_kit == 0)
        return;
    rollback_kit_stop_watchdog(armed_kit);
    armed_kit = 0;
}

InjectedFault injected_fault() { return fault; }

void injected_hang(InjectedFault hang)
{
    log_warn("update: injected fault %s: hanging with interrupts %s", injected_fault_name(hang),
             hang == InjectedFault::hang_sti ? "on" : "off");
    if (hang == InjectedFault::hang_sti)
        cpu::enable_interrupts();
    else
        cpu::disable_interrupts();
    for (;;)
        cpu::pause();
}

bool rollback_take_report(u64 kit, RollbackReport &report)
{
    report = rollback_kit_report(kit);
    report.failed_build_id[sizeof(report.failed_build_id) - 1] = '\0';
    report.failed_version[sizeof(report.failed_version) - 1] = '\0';
    report.reason[sizeof(report.reason) - 1] = '\0';
    return report.magic == ROLLBACK_REPORT_MAGIC;
}
