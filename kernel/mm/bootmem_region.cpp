// SPDX-License-Identifier: MIT
// Choosing the live-update bootmem region (`lu_bootmem=SIZE[@ADDR]`).
#include "mm/bootmem_region.hpp"
#include "abi/errno.h"
#include "lib/format.hpp"

namespace {

// "64M", "1536K" or the plain byte count: the largest suffix that divides exactly.
usize format_with_suffix(char *buffer, usize capacity, u64 bytes)
{
    if (bytes != 0 && bytes % GiB == 0)
        return format(buffer, capacity, "%luG", bytes / GiB);
    if (bytes != 0 && bytes % MiB == 0)
        return format(buffer, capacity, "%luM", bytes / MiB);
    if (bytes != 0 && bytes % KiB == 0)
        return format(buffer, capacity, "%luK", bytes / KiB);
    return format(buffer, capacity, "%lu", bytes);
}

// Lowest BOOTMEM_ALIGN-aligned start >= floor where `size` bytes fit in one free range.
bool lowest_fit(const RangeSet &free, u64 size, u64 floor, u64 *start)
{
    for (const PhysRange &range : free) {
        u64 from = range.start > floor ? range.start : floor;
        if (from > align_down(~u64{0}, BOOTMEM_ALIGN))
            continue;
        u64 candidate = align_up(from, BOOTMEM_ALIGN);
        u64 end = 0;
        if (!add_overflows(candidate, size, &end) && end <= range.end) {
            *start = candidate;
            return true;
        }
    }
    return false;
}

int refuse(BootmemChoice *choice, int error, const char *request_text, const char *what, const char *detail = "")
{
    format(choice->reason, sizeof(choice->reason), "%s%s%s", request_text, what, detail);
    return error;
}

} // namespace

usize format_bootmem_request(char *buffer, usize capacity, const BootmemRequest &request)
{
    char size[32];
    format_with_suffix(size, sizeof(size), request.size);
    if (request.fixed)
        return format(buffer, capacity, "lu_bootmem=%s@0x%lx", size, request.address);
    return format(buffer, capacity, "lu_bootmem=%s", size);
}

u64 default_bootmem_size(u64 usable_bytes)
{
    // Rounded up: firmware holes leave a "512 MiB" machine slightly short of 512 MiB,
    // and its default should still be the round 64 MiB.
    u64 size = align_up(usable_bytes / 8, BOOTMEM_ALIGN);
    if (size < BOOTMEM_DEFAULT_MIN)
        return BOOTMEM_DEFAULT_MIN;
    return size > BOOTMEM_DEFAULT_MAX ? BOOTMEM_DEFAULT_MAX : size;
}

int choose_bootmem_region(const RangeSet &usable, const RangeSet &free, const NamedRange *in_use, usize in_use_count,
                          const BootmemRequest &request, BootmemChoice *choice)
{
    choice->region = {};
    choice->reason[0] = '\0';
    BootmemRequest effective = request;
    if (effective.size == 0)
        effective.size = default_bootmem_size(usable.total_bytes());
    char text[64];
    format_bootmem_request(text, sizeof(text), effective);
    if (effective.size > align_down(~u64{0}, BOOTMEM_ALIGN))
        return refuse(choice, -BATON_EINVAL, text, ": the size is too large");
    u64 size = align_up(effective.size, BOOTMEM_ALIGN);

    if (!effective.fixed) {
        u64 start = 0;
        if (!lowest_fit(free, size, BOOTMEM_PREFERRED_FLOOR, &start) && !lowest_fit(free, size, 0, &start)) {
            char size_text[32];
            format_size(size_text, sizeof(size_text), size);
            return refuse(choice, -BATON_ENOMEM, text, ": no free range of ", size_text);
        }
        choice->region = {start, start + size};
        return 0;
    }

    if (!is_aligned(effective.address, BOOTMEM_ALIGN))
        return refuse(choice, -BATON_EINVAL, text, ": the address is not 2 MiB aligned");
    u64 end = 0;
    if (add_overflows(effective.address, size, &end))
        return refuse(choice, -BATON_EINVAL, text, ": the range wraps around the address space");
    PhysRange region{effective.address, end};
    for (usize i = 0; i < in_use_count; i++) {
        if (region.overlaps(in_use[i].range)) {
            format(choice->reason, sizeof(choice->reason), "%s overlaps %s (0x%lx-0x%lx)", text, in_use[i].name,
                   in_use[i].range.start, in_use[i].range.end);
            return -BATON_EINVAL;
        }
    }
    if (!usable.covers(region))
        return refuse(choice, -BATON_EINVAL, text, " is not inside usable RAM");
    if (!free.covers(region))
        return refuse(choice, -BATON_EINVAL, text, " overlaps memory already in use");
    choice->region = region;
    return 0;
}
