// SPDX-License-Identifier: MIT
// kexec: entering a new hypervisor image in place of this one, as a multiboot2 loader.
#pragma once
#include "boot/boot_info.hpp"
#include "boot/cmdline.hpp"
#include "handover/image_check.hpp"

struct KexecRequest {
    u64 image_phys = 0; // the staged ELF file, in memory below 4 GiB
    u64 image_size = 0;
    const ImageInfo *info = nullptr; // from check_next_image()
    const BootInfo *boot_info = nullptr; // memory map, modules and ACPI pointers to pass on
    KernelOptions options; // what the next image is told (lu_bootmem fixed to this region)
    PhysRange bootmem;
    u64 rollback_kit = 0; // the way back, whose watchdog kexec_jump() arms; 0: none
};

// Checks that the jump can be made safely (every segment lands in RAM below 4 GiB and
// overlaps neither the trampoline pages, the staged file nor a boot module) and builds
// the next image's boot information. Returns 0, or a negative errno with the reason;
// nothing irreversible has happened either way.
[[nodiscard]] int kexec_prepare(const KexecRequest &request, char *why, usize why_capacity);
// Stops interrupts, the timer and SVM, arms the rollback kit's watchdog and jumps. Does
// not return.
[[noreturn]] void kexec_jump();
