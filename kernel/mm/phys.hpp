// SPDX-License-Identifier: MIT
// Physical memory access through the direct map, and physical address ranges.
#pragma once
#include "lib/types.hpp"

// The kernel maps all RAM at DIRECT_MAP_BASE; host tests point the offset at a buffer
// that stands in for physical memory. Either way: virtual = physical + offset.
inline constexpr u64 DIRECT_MAP_BASE = 0xffff800000000000ul;
extern u64 direct_map_offset;

inline void *phys_to_virt(u64 phys) { return reinterpret_cast<void *>(phys + direct_map_offset); }
template <typename T>
inline T *phys_to(u64 phys)
{
    return static_cast<T *>(phys_to_virt(phys));
}
inline u64 virt_to_phys(const void *virt) { return reinterpret_cast<uptr>(virt) - direct_map_offset; }

// A half-open byte range [start, end) of physical addresses.
struct PhysRange {
    u64 start = 0;
    u64 end = 0;

    constexpr u64 size() const { return end - start; }
    constexpr bool empty() const { return end <= start; }
    constexpr bool contains(u64 addr) const { return addr >= start && addr < end; }
    constexpr bool overlaps(const PhysRange &other) const { return start < other.end && other.start < end; }
    constexpr bool covers(const PhysRange &other) const { return other.start >= start && other.end <= end; }
    constexpr frame_t first_frame() const { return start >> PAGE_SHIFT; }
    constexpr frame_t end_frame() const { return end >> PAGE_SHIFT; }
};
