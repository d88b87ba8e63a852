// SPDX-License-Identifier: MIT
// Choosing the live-update bootmem region (`lu_bootmem=SIZE[@ADDR]`).
#pragma once
#include "mm/range_set.hpp"

// The region's start and size are multiples of this, so that it can be mapped with
// large pages and its buddy blocks never straddle its edges below this order.
inline constexpr u64 BOOTMEM_ALIGN = 2 * MiB;
// Default placement starts looking here: low enough to stay in the memory every early
// page table maps, high enough to stay clear of ISA DMA and where loaders put kernels.
inline constexpr u64 BOOTMEM_PREFERRED_FLOOR = 16 * MiB;
inline constexpr u64 BOOTMEM_DEFAULT_MIN = 16 * MiB;
inline constexpr u64 BOOTMEM_DEFAULT_MAX = 64 * MiB;

// What `lu_bootmem=` asked for (the command-line parser reads it into KernelOptions).
struct BootmemRequest {
    u64 size = 0; // 0: default_bootmem_size() of the usable RAM
    u64 address = 0; // meaningful only when fixed
    bool fixed = false; // SIZE@ADDR given: the live-update path reuses the old region
};

// A range already in use, with the name an error message gives it ("the kernel image").
struct NamedRange {
    PhysRange range;
    const char *name = "";
};

// Writes the request back in command-line form, e.g. "lu_bootmem=64M@0x4000000".
usize format_bootmem_request(char *buffer, usize capacity, const BootmemRequest &request);

// An eighth of usable RAM, clamped to [BOOTMEM_DEFAULT_MIN, BOOTMEM_DEFAULT_MAX] and
// rounded down to BOOTMEM_ALIGN.
u64 default_bootmem_size(u64 usable_bytes);

struct BootmemChoice {
    PhysRange region;
    char reason[192] = ""; // why the request cannot be met, when it cannot
};

// Picks the region. `free` is `usable` minus everything in `in_use` (kernel image, boot
// information, modules, low memory); `in_use` only names what a fixed request hits.
// The size is rounded up to BOOTMEM_ALIGN. Default placement, chosen to be the same on
// every boot of the same machine: the lowest BOOTMEM_ALIGN-aligned spot at or above
// BOOTMEM_PREFERRED_FLOOR that fits in one free range, else the lowest aligned fit
// anywhere. Returns 0, or -BATON_EINVAL / -BATON_ENOMEM with `choice->reason` set.
[[nodiscard]] int choose_bootmem_region(const RangeSet &usable, const RangeSet &free, const NamedRange *in_use,
                                        usize in_use_count, const BootmemRequest &request, BootmemChoice *choice);
