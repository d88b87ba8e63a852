// SPDX-License-Identifier: MIT
// Boot information copied out of the multiboot2 information block.
#pragma once
#include "boot/efi_memory_map.hpp"
#include "lib/types.hpp"
#include "mm/memory_map.hpp"
#include "mm/phys.hpp"

// EAX at kernel entry when a multiboot2 loader started us; the caller checks it.
inline constexpr u32 MULTIBOOT2_BOOTLOADER_MAGIC = 0x36d76289;

// Multiboot2 information tag types this kernel reads or writes.
enum class Multiboot2Tag : u32 {
    end = 0,
    command_line = 1,
    loader_name = 2,
    module = 3,
    basic_meminfo = 4,
    memory_map = 6,
    acpi_old_rsdp = 14,
    acpi_new_rsdp = 15,
    efi_memory_map = 17,
};

// Room for one parser error message.
inline constexpr usize BOOT_INFO_MESSAGE_SIZE = 160;

// Sizes of the fixed buffers in BootInfo (string sizes include the terminating NUL).
inline constexpr usize BOOT_COMMAND_LINE_SIZE = 1024;
inline constexpr usize BOOT_LOADER_NAME_SIZE = 64;
inline constexpr usize BOOT_MODULE_STRING_SIZE = 256;
inline constexpr usize MAX_BOOT_MODULES = 16;
inline constexpr usize ACPI_RSDP_V1_SIZE = 20; // ACPI 1.0 RSDP
inline constexpr usize ACPI_RSDP_V2_SIZE = 36; // ACPI 2.0+ RSDP (XSDT address, extended checksum)

// A module the loader placed in memory: [range.start, range.end) and its string.
struct BootModule {
    PhysRange range;
    char string[BOOT_MODULE_STRING_SIZE] = {};
};

// Everything the kernel needs from the loader, copied: the information block itself
// lies in RAM the memory map calls free and is reused once the allocator runs.
struct BootInfo {
    PhysRange info_range; // the information block's own bytes

    // The memory map Baton uses: from the EFI memory map when the loader gave one (UEFI
    // boot; its types say more than the loader's translation), else the loader's.
    MemoryMapEntry memory_map[MAX_MEMORY_MAP_ENTRIES];
    usize memory_map_count = 0;
    bool memory_map_from_efi = false;
    // The loader's own memory map (tag 6) as it gave it, passed on unchanged by kexec.
    MemoryMapEntry loader_memory_map[MAX_MEMORY_MAP_ENTRIES];
    usize loader_memory_map_count = 0;
    u32 memory_map_entry_version = 0; // 0 today; later versions are compatible by spec
    // The EFI memory map (tag 17), merged but otherwise unchanged, passed on by kexec.
    EfiMemoryMap efi_memory_map;
    u32 efi_descriptor_size = 0; // as the loader wrote them
    char efi_memory_map_problem[BOOT_INFO_MESSAGE_SIZE] = {}; // why it was not used, if it was not

    char command_line[BOOT_COMMAND_LINE_SIZE] = {}; // empty when the loader gave none
    char loader_name[BOOT_LOADER_NAME_SIZE] = {}; // empty when the loader gave none
    bool loader_name_truncated = false; // display-only, so truncation is fine

    BootModule modules[MAX_BOOT_MODULES];
    usize module_count = 0;

    bool has_basic_meminfo = false;
    u32 mem_lower_kib = 0; // conventional memory below 1 MiB
    u32 mem_upper_kib = 0; // memory from 1 MiB to the first hole

    // Copies of the RSDP the loader found, so the ACPI code need not scan for it.
    bool has_acpi_rsdp_v1 = false;
    bool has_acpi_rsdp_v2 = false;
    u8 acpi_rsdp_v1[ACPI_RSDP_V1_SIZE] = {};
    u8 acpi_rsdp_v2[ACPI_RSDP_V2_SIZE] = {};
};

// Validates the multiboot2 information block at `info` (physical address `info_phys`)
// and copies it into `out`. Reads nothing outside [info, info + readable_bytes) and
// trusts no length in the block. Returns 0, or a negative errno with a one-line reason
// in `message` (the caller panics with it; `out` is then incomplete):
//   -BATON_EINVAL  malformed block or tag
//   -BATON_ENOENT  no memory map tag
//   -BATON_E2BIG   more entries, modules or characters than BootInfo holds
// Unknown tag types are skipped. Tags this parser copies may appear once each, except
// modules; a repeated one is an error, since picking either copy could misboot.
[[nodiscard]] int parse_multiboot2(const void *info, u64 info_phys, usize readable_bytes, BootInfo &out, char *message,
                                   usize message_capacity);

// Logs what the loader handed over (loader, command line, memory map, modules) at info
// and debug levels.
void log_boot_info(const BootInfo &boot_info);
