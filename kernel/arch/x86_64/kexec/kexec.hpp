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
    // Where the segments run: their ELF addresses plus this (a multiple of 2 MiB).
    u64 load_delta = 0;
    // The segments already lie there (a load slot): the trampoline copies nothing.
    bool placed = false;
};

// Places the next image before the pause: allocates a load slot (a naturally aligned
// block of at least 2 MiB below 4 GiB, outside the bootmem region, where nothing is
// preserved and which is neither this image, the staged file nor a boot module) and
// copies the segments of the checked file there, zeroing the rest. Replaces an earlier
// slot. Returns 0, or a negative errno with the reason (then no slot is held).
[[nodiscard]] int kexec_load(const KexecRequest &request, char *why, usize why_capacity);
// Frees the slot, if one is held: every refusal after kexec_load.
void kexec_unload();

// After kexec_load of the same image: checks that the jump can be made safely (the low
// pages are RAM, no frame of the slot became preserved) and builds the next image's boot
// information and a jump that copies nothing and enters the image in its slot. Returns 0,
// or a negative errno with the reason (and frees the slot); nothing irreversible has
// happened either way.
[[nodiscard]] int kexec_prepare(const KexecRequest &request, char *why, usize why_capacity);
// Stops interrupts, the timer and SVM, arms the rollback kit's watchdog and jumps. Does
// not return.
[[noreturn]] void kexec_jump();
