// SPDX-License-Identifier: MIT
// The UEFI memory map a multiboot2 loader hands over (tag 17): checked, kept, translated.
#pragma once
#include "lib/types.hpp"
#include "mm/memory_map.hpp"

// UEFI memory types (UEFI 2.10, EFI_MEMORY_TYPE). Values from 0x70000000 up belong to
// the platform or the OS loader; every type not named here is treated as reserved.
enum class EfiMemoryType : u32 {
    reserved = 0,
    loader_code = 1,
    loader_data = 2,
    boot_services_code = 3,
    boot_services_data = 4,
    runtime_services_code = 5,
    runtime_services_data = 6,
    conventional = 7,
    unusable = 8,
    acpi_reclaim = 9,
    acpi_nvs = 10,
    mmio = 11,
    mmio_port_space = 12,
    pal_code = 13,
    persistent = 14,
    unaccepted = 15,
};
const char *efi_memory_type_name(u32 type);

// EFI_MEMORY_RUNTIME: the firmware's runtime services use the range, whatever its type.
inline constexpr u64 EFI_MEMORY_RUNTIME = u64{1} << 63;
inline constexpr u64 EFI_PAGE_SIZE = 4096;
// The descriptor's fields: u32 type, u32 padding, u64 physical start, u64 virtual start,
// u64 number of 4 KiB pages, u64 attributes; firmware may make descriptors longer.
inline constexpr usize EFI_DESCRIPTOR_MIN_SIZE = 40;
// E820 type 7, persistent memory: not RAM Baton allocates from (mm keeps only type 1).
inline constexpr u32 MEMORY_TYPE_PERSISTENT = 7;

struct EfiMemoryDescriptor {
    u32 type = 0;
    u64 physical_start = 0;
    u64 page_count = 0;
    u64 attributes = 0;
};

// OVMF hands over about 100 descriptors, most of them neighbours of the same type;
// merged they are a few dozen.
inline constexpr usize MAX_EFI_DESCRIPTORS = 256;

// The map as kept: every descriptor, neighbours of the same type and attributes merged
// (nothing else is dropped or changed), sorted by address. The next image gets it back
// in the same form (Multiboot2Writer::add_efi_memory_map).
struct EfiMemoryMap {
    bool present = false;
    u32 descriptor_version = 0;
    usize loader_descriptors = 0; // as the loader gave them, before merging
    EfiMemoryDescriptor descriptors[MAX_EFI_DESCRIPTORS];
    usize count = 0;
};

// Reads `bytes` bytes of descriptors, `descriptor_size` each, into `out` (present, sorted,
// merged). Returns 0, or -BATON_EINVAL (a size that is not a whole number of descriptors
// of at least 40 bytes, a range that wraps or is not page aligned, two that overlap) or
// -BATON_E2BIG (more than MAX_EFI_DESCRIPTORS after merging), with the reason in `why`.
[[nodiscard]] int read_efi_memory_map(const u8 *bytes, usize size, u32 descriptor_size, u32 descriptor_version,
                                      EfiMemoryMap &out, char *why, usize why_capacity);

// The E820-style type Baton's memory manager reads for one descriptor: boot-services and
// loader memory, free once the loader left boot services, is available; runtime-services
// memory (by type or by the RUNTIME attribute), MMIO and every unknown type are reserved;
// ACPI reclaim, ACPI NVS, unusable and persistent memory keep their own types.
u32 efi_to_memory_type(const EfiMemoryDescriptor &descriptor);

// The memory map Baton uses, from the EFI map: one entry per run of descriptors with the
// same translated type. Returns the entry count, or 0 if more than `capacity` are needed.
usize efi_to_memory_map(const EfiMemoryMap &map, MemoryMapEntry *out, usize capacity);

// A digest (64-bit FNV-1a over every descriptor's fields) by which the log shows that an
// image after a live update reads the very map the first one did.
u64 efi_memory_map_digest(const EfiMemoryMap &map);
