// SPDX-License-Identifier: MIT
// Loading a guest ELF image into a new domain's RAM and writing its start info.
#pragma once
#include "lib/types.hpp"

class Domain;
struct ElfImage;

// Copies every loadable segment of the parsed `image` to its physical address in the
// domain's RAM and zeroes the rest of its memory size. 0, or the copy's error with `why`.
[[nodiscard]] int load_elf_segments(Domain &domain, const void *image, const ElfImage &elf, char *why,
                                    usize why_capacity);

// Copies the image's loadable segments to their physical addresses in guest RAM, writes
// struct baton_start_info (and the command line after it) at BATON_START_INFO_GPA and
// returns the entry point in `entry`. Segments must lie in RAM above the start-info page
// and the entry point below 4 GiB (the vCPU starts in 32-bit mode). Returns 0 or a
// negative errno with the reason in `why`.
[[nodiscard]] int load_guest_image(Domain &domain, const void *image, u64 size, const char *command_line, u32 &entry,
                                   char *why, usize why_capacity);
