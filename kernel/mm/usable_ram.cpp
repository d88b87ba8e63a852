// SPDX-License-Identifier: MIT
// Turns a raw firmware memory map into sorted, page-aligned usable RAM ranges.
#include "mm/usable_ram.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"

namespace {

// The entry's byte range clipped to PHYS_ADDR_LIMIT; empty if nothing is left.
PhysRange clipped_range(const MemoryMapEntry &entry)
{
    u64 end = 0;
    bool wraps = add_overflows(entry.base, entry.length, &end);
    if (entry.base >= PHYS_ADDR_LIMIT) {
        log_warn("memory map: entry at 0x%lx (type %u) lies above the physical address limit, ignored", entry.base,
                 entry.type);
        return {};
    }
    if (wraps || end > PHYS_ADDR_LIMIT) {
        log_warn("memory map: entry 0x%lx+0x%lx (type %u) %s, clipped at 0x%lx", entry.base, entry.length, entry.type,
                 wraps ? "wraps around" : "passes the physical address limit", PHYS_ADDR_LIMIT);
        end = PHYS_ADDR_LIMIT;
    }
    return {entry.base, end};
}

bool known_type(u32 type)
{
    return type >= static_cast<u32>(MemoryType::available) && type <= static_cast<u32>(MemoryType::bad);
}

} // namespace

int sanitize_memory_map(const MemoryMapEntry *entries, usize count, RangeSet &usable)
{
    usable.clear();
    // Pass 1: the union of everything available, at byte granularity, so that two
    // adjacent entries split at an odd address do not lose the page between them.
    for (usize i = 0; i < count; i++) {
        if (entries[i].type != static_cast<u32>(MemoryType::available) || entries[i].length == 0)
            continue;
        if (int error = usable.add(clipped_range(entries[i])))
            return error;
    }
    // Pass 2: everything else wins. Aligning the result inward afterwards drops every
    // page such an entry touches, as if it had been widened to whole pages.
    for (usize i = 0; i < count; i++) {
        const MemoryMapEntry &entry = entries[i];
        if (entry.type == static_cast<u32>(MemoryType::available) || entry.length == 0)
            continue;
        if (!known_type(entry.type))
            log_warn("memory map: unknown type %u at 0x%lx+0x%lx treated as reserved", entry.type, entry.base,
                     entry.length);
        if (int error = usable.subtract(clipped_range(entry)))
            return error;
    }
    usable.align_inward(PAGE_SIZE);
    return 0;
}
