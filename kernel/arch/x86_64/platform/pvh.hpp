// SPDX-License-Identifier: MIT
// The PVH boot ABI a Linux vmlinux is entered by: start info, module list, memory map.
#pragma once
#include "lib/types.hpp"

// An ELF kernel that carries the note (owner "Xen", type PHYS32_ENTRY) is entered at the
// note's address in 32-bit protected mode with paging off, flat segments, and EBX = the
// guest-physical address of a StartInfo. Linux reads version 1: without the memory map
// it would ask Xen for one by hypercall, so Baton always writes it. Layouts are the ABI
// (Xen's public start_info.h); the names are ours.
namespace pvh {

inline constexpr char NOTE_OWNER[] = "Xen";
inline constexpr u32 NOTE_PHYS32_ENTRY = 18;
inline constexpr u32 START_INFO_MAGIC = 0x336ec578;
inline constexpr u32 START_INFO_VERSION = 1;

struct StartInfo {
    u32 magic;
    u32 version;
    u32 flags;
    u32 module_count;
    u64 modlist_paddr; // array of ModuleEntry
    u64 cmdline_paddr; // NUL-terminated
    u64 rsdp_paddr; // 0: the kernel searches the BIOS area (Baton gives it an MP table)
    u64 memmap_paddr; // array of MemmapEntry (version 1)
    u32 memmap_entries;
    u32 reserved;
};
static_assert(sizeof(StartInfo) == 56);

struct ModuleEntry {
    u64 paddr;
    u64 size;
    u64 cmdline_paddr;
    u64 reserved;
};
static_assert(sizeof(ModuleEntry) == 32);

// The types are e820's.
enum class MemType : u32 { ram = 1, reserved = 2 };

struct MemmapEntry {
    u64 addr;
    u64 size;
    MemType type;
    u32 reserved;
};
static_assert(sizeof(MemmapEntry) == 24);

} // namespace pvh
