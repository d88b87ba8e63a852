// SPDX-License-Identifier: MIT
// Invariant checks over the frame table: the live-update barrier for rule 1.
#include "mm/invariants.hpp"
#include "lib/log.hpp"

namespace {

constexpr u64 OFFENDERS_LOGGED = 8; // a broken heap could flood the console otherwise

bool must_survive(const FrameEntry &entry)
{
    return entry.has(FRAME_PRESERVED) || entry.has(FRAME_EXTRA_PAGE) || entry.type == FrameType::guest_ram ||
           entry.type == FrameType::extra || entry.type == FrameType::record ||
           entry.type == FrameType::log_dirty_bitmap || entry.type == FrameType::hypervisor_image ||
           entry.type == FrameType::rollback_kit;
}

} // namespace

InvariantResult check_bootmem_invariant(const FrameTable &table, PhysRange region)
{
    InvariantResult result;
    frame_t end = region.end_frame() < table.frames() ? region.end_frame() : table.frames();
    for (frame_t frame = region.first_frame(); frame < end; frame++) {
        const FrameEntry &entry = table[frame];
        if (!must_survive(entry))
            continue;
        if (result.violations == 0)
            result.first_offender = frame_to_addr(frame);
        if (result.violations < OFFENDERS_LOGGED)
            log_error("mm: invariant broken: preserved frame 0x%lx (type %s, owner %u, flags 0x%x) inside "
                      "lu_bootmem 0x%lx-0x%lx",
                      frame_to_addr(frame), frame_type_name(entry.type), entry.owner, entry.flags, region.start,
                      region.end);
        result.violations++;
    }
    if (result.violations > 0)
        log_error("mm: invariant broken: %lu preserved frames inside lu_bootmem, first at 0x%lx", result.violations,
                  result.first_offender);
    return result;
}
