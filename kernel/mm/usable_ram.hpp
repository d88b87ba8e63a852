// SPDX-License-Identifier: MIT
// Turns a raw firmware memory map into sorted, page-aligned usable RAM ranges.
#pragma once
#include "mm/memory_map.hpp"
#include "mm/range_set.hpp"

// x86-64 physical addresses have at most 52 bits: nothing at or above this is RAM.
inline constexpr u64 PHYS_ADDR_LIMIT = u64{1} << 52;

// Capacity that is always enough for the sanitizer's output: each non-available entry
// can split one usable range in two.
inline constexpr usize USABLE_RANGES_CAPACITY = 2 * MAX_MEMORY_MAP_ENTRIES + 2;

// Rules: entries may come in any order, overlap, be empty or have unknown types.
// Anything that is not `available` wins where it overlaps available memory, and a page it
// only partly covers is lost too: available memory is merged, the rest is taken away,
// and what remains is aligned inward to pages.
// An entry whose base+length overflows (or passes PHYS_ADDR_LIMIT) is clipped at the
// limit with a warning and never wraps. Returns 0, or -BATON_ENOSPC if `usable` is too
// small (USABLE_RANGES_CAPACITY always suffices for `count` <= MAX_MEMORY_MAP_ENTRIES).
[[nodiscard]] int sanitize_memory_map(const MemoryMapEntry *entries, usize count, RangeSet &usable);

// One past the highest usable frame: how many frame-table entries describe all RAM.
inline frame_t ram_frame_extent(const RangeSet &usable) { return addr_to_frame(usable.highest_end()); }
