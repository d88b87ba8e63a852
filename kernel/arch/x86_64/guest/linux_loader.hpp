// SPDX-License-Identifier: MIT
// Loading an unmodified Linux kernel into a domain through its PVH entry.
#pragma once
#include "lib/types.hpp"

class Domain;

struct LinuxImages {
    const void *kernel = nullptr; // the uncompressed vmlinux ELF
    u64 kernel_size = 0;
    const void *initrd = nullptr; // optional
    u64 initrd_size = 0;
    const char *command_line = "";
    u64 tsc_khz = 0; // the guest TSC's rate, given to the kernel unless its command line does
};

// Copies the vmlinux's loadable segments to their physical addresses, the initramfs to
// the top of RAM, and writes what the PVH entry expects (docs/guest-platform.md): the
// start info with the module list and the memory map (pc_layout), the command line, and
// the MP table in the BIOS area. The command line gets `tsc_early_khz=` (the TSC's rate)
// unless it names one: calibrating against the emulated PIT takes a port exit per read,
// too slow for the kernel's calibration loops. Sets `entry` (the PVH note's address) and `start_info`
// (for EBX). The domain's RAM is populated from 0. Refuses, with the reason in `why`:
// a bzImage or other non-ELF file, an ELF without the PVH note, segments outside RAM,
// RAM outside 2 MiB..pc_layout::RAM_LIMIT, an initramfs that does not fit above the
// kernel, a command line longer than Linux takes (2047 bytes). Returns 0 or a negative
// errno; the domain's RAM may then hold part of the image (the caller destroys it).
[[nodiscard]] int load_linux_pvh(Domain &domain, const LinuxImages &images, u32 &entry, u32 &start_info, char *why,
                                 usize why_capacity);
