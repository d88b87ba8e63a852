// SPDX-License-Identifier: MIT
// Where things are in the guest-physical space of an emulated PC, and its memory map.
#pragma once
#include "arch/x86_64/platform/pvh.hpp"

// One layout for every domain with the PC platform, so the loader, the firmware tables
// and the device models agree. Below 1 MiB: the boot data pages and the BIOS area, where
// the kernel scans for the MP table; the devices sit where every PC has them.
namespace pc_layout {

inline constexpr u64 START_INFO_GPA = 0x6000; // StartInfo, module list, memory map
inline constexpr u64 CMDLINE_GPA = 0x7000; // the kernel command line, one page
inline constexpr u64 MODULE_CMDLINE_GPA = 0x8000; // the initramfs module's (empty) string
inline constexpr u64 BOOT_DATA_END = 0x9000;
inline constexpr u64 BASE_RAM_END = 0x9f000; // conventional memory, as a BIOS reports it
inline constexpr u64 BIOS_AREA = 0xf0000; // reserved: the MP table lives here
inline constexpr u64 BIOS_AREA_END = 0x100000;
inline constexpr u64 KERNEL_RAM = 0x100000; // RAM from here to the domain's size
inline constexpr u64 IOAPIC_BASE = 0xfec00000;
inline constexpr u64 LAPIC_BASE = 0xfee00000;
inline constexpr u64 DEVICE_PAGE = 0x1000;
// RAM must end below the device window: the emulated devices' pages are not RAM.
inline constexpr u64 RAM_LIMIT = 0xc0000000;
inline constexpr usize MEMMAP_ENTRIES = 5;

// The memory map the kernel gets for `ram_bytes` of RAM (> KERNEL_RAM, <= RAM_LIMIT).
constexpr void memory_map(u64 ram_bytes, pvh::MemmapEntry (&map)[MEMMAP_ENTRIES])
{
    map[0] = {0, BASE_RAM_END, pvh::MemType::ram, 0};
    map[1] = {BIOS_AREA, BIOS_AREA_END - BIOS_AREA, pvh::MemType::reserved, 0};
    map[2] = {KERNEL_RAM, ram_bytes - KERNEL_RAM, pvh::MemType::ram, 0};
    map[3] = {IOAPIC_BASE, DEVICE_PAGE, pvh::MemType::reserved, 0};
    map[4] = {LAPIC_BASE, DEVICE_PAGE, pvh::MemType::reserved, 0};
}

} // namespace pc_layout
