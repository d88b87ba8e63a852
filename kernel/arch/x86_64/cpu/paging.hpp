// SPDX-License-Identifier: MIT
// The hypervisor's own address space: direct map of physical memory and the kernel image.
#pragma once
#include "lib/types.hpp"

namespace paging {

inline constexpr u64 KERNEL_VMA = 0xffffffff80000000ul;

// Supplies one 4 KiB frame for a page table (physical address), or 0 when out of memory.
// Frames must lie below 4 GiB: only that much is mapped until the new tables are live.
using TableFrameSource = u64 (*)();

// Builds the final page tables and switches to them: all of [0, direct_map_end) (rounded
// up, at least 4 GiB so the MMIO hole is covered) at DIRECT_MAP_BASE, and the kernel
// image at KERNEL_VMA with W^X permissions. The low identity map of the boot code goes
// away, so a stray physical address used as a pointer faults. Returns the root's
// physical address.
u64 build_kernel_space(u64 direct_map_end, TableFrameSource source);

// End of the physical range the direct map covers (0 before build_kernel_space): code
// that follows firmware pointers (ACPI tables) refuses anything beyond it.
u64 direct_map_end();

// Where the image runs minus where it is linked (boot/linker.ld): 0 when a loader put it
// at its ELF addresses, a multiple of 2 MiB when a live update placed it in a free slot.
u64 load_delta();
// The physical address of a kernel-image address (code, data, BSS): KERNEL_VMA maps the
// image where it actually runs.
u64 image_phys_of(u64 virt);
u64 image_phys_of(const void *object);
// Where the image's first byte (the bootstrap) is linked, which its ELF addresses say.
u64 image_link_start();
// Physical range of the loaded image (bootstrap included), where it actually runs.
u64 image_phys_start();
u64 image_phys_end();

} // namespace paging
