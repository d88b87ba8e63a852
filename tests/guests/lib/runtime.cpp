// SPDX-License-Identifier: MIT
// Runtime start: check the start information, set up interrupts, run guest_main.
#include "lib/runtime.hpp"
#include "lib/interrupts.hpp"
#include "lib/layout.h"

extern "C" char __image_start[], __image_end[];

static_assert((static_cast<uint64_t>(GUEST_START_MAGIC_HIGH) << 32 | GUEST_START_MAGIC_LOW) == BATON_START_INFO_MAGIC);

namespace guest {
namespace {

baton_start_info checked_start_info;
Free_frames free_range;

uint64_t image_end_gfn() { return (gpa_of(__image_end) + PAGE_SIZE - 1) >> PAGE_SHIFT; }

} // namespace

// The command line must be a string inside the start-info page, after the structure.
const char *command_line(const baton_start_info &info)
{
    if (info.cmdline_gpa == 0)
        return nullptr;
    uint64_t page_end = BATON_START_INFO_GPA + PAGE_SIZE;
    if (info.cmdline_gpa < BATON_START_INFO_GPA + sizeof(baton_start_info) || info.cmdline_gpa >= page_end) {
        report("cmdline at 0x%lx ignored: not in the start-info page after the structure", info.cmdline_gpa);
        return nullptr;
    }
    const char *text = at_gpa<const char>(info.cmdline_gpa);
    for (uint64_t gpa = info.cmdline_gpa; gpa < page_end; ++gpa)
        if (*at_gpa<const char>(gpa) == '\0')
            return text;
    report("cmdline at 0x%lx ignored: no terminating NUL in the start-info page", info.cmdline_gpa);
    return nullptr;
}

namespace {

[[noreturn]] void bad_start_info(const char *why, uint64_t value)
{
    report("CRASH bad start info: %s (0x%lx)", why, value);
    shutdown(BATON_SHUTDOWN_CRASH);
}

void check_start_info(const baton_start_info &info)
{
    if (info.version < 1)
        bad_start_info("version", info.version);
    if (info.ram_bytes < gpa_of(__image_end))
        bad_start_info("ram_bytes smaller than the loaded image", info.ram_bytes);
    uint64_t ram_end_gfn = (info.ram_bytes < IDENTITY_MAP_END ? info.ram_bytes : IDENTITY_MAP_END) >> PAGE_SHIFT;
    uint64_t first = info.free_gfn_start;
    if (first < image_end_gfn()) {
        report("start info: free_gfn_start 0x%lx overlaps the image (ends at gfn 0x%lx); using the latter", first,
               image_end_gfn());
        first = image_end_gfn();
    }
    if (first > ram_end_gfn)
        bad_start_info("free_gfn_start beyond RAM", info.free_gfn_start);
    free_range = {first, ram_end_gfn};
}

} // namespace

Free_frames free_frames() { return free_range; }

const baton_start_info &start_info() { return checked_start_info; }

[[noreturn]] void shutdown(baton_shutdown_reason reason)
{
    long result = hypercall(BATON_HC_SHUTDOWN, reason);
    report("shutdown(%u) returned %ld; parking this vCPU", static_cast<unsigned>(reason), result);
    for (;;) {
        disable_interrupts();
        block(0);
    }
}

} // namespace guest

extern "C" [[noreturn]] void runtime_start(const baton_start_info *info)
{
    guest::interrupts_init();
    guest::checked_start_info = *info;
    guest::report("start domid=%u ram=%lu", info->domid, info->ram_bytes);
    guest::check_start_info(guest::checked_start_info);
    if (const char *line = guest::command_line(guest::checked_start_info))
        guest::report("cmdline \"%s\"", line);
    guest_main(&guest::checked_start_info);
    guest::report("guest_main returned; powering off");
    guest::shutdown(BATON_SHUTDOWN_POWEROFF);
}
