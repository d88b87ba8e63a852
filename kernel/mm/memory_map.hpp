// SPDX-License-Identifier: MIT
// Firmware memory-map entries as the boot loader reports them.
#pragma once
#include "lib/types.hpp"

// Multiboot2 memory types (identical to the E820 types).
enum class MemoryType : u32 {
    available = 1,
    reserved = 2,
    acpi_reclaimable = 3,
    acpi_nvs = 4,
    bad = 5,
};

// One raw entry; entries may be unsorted, overlapping or of unknown type.
struct MemoryMapEntry {
    u64 base = 0;
    u64 length = 0;
    u32 type = 0;
};

inline constexpr usize MAX_MEMORY_MAP_ENTRIES = 128;
