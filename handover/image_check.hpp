// SPDX-License-Identifier: MIT
// Judging a candidate next image before anything irreversible: is it a Baton image this
// hypervisor can hand over to?
#pragma once
#include "abi/image_note.h"
#include "lib/elf.hpp"

struct ImageInfo {
    ElfImage elf;
    baton_image_note note{};
    u64 multiboot2_header_offset = 0;
};

inline constexpr usize IMAGE_CHECK_MESSAGE_SIZE = 160;
inline constexpr u64 IMAGE_MAX_SIZE = 64 * MiB;

// Checks, in order: size (0 < size <= IMAGE_MAX_SIZE), the ELF headers and segments
// (lib/elf.hpp), a valid multiboot2 header in the first 32 KiB, the image note
// (abi/image_note.h) with NUL-terminated strings, and that the image reads records of
// `record_version` (the version this hypervisor writes). Returns 0 and fills `info`, or
// a negative errno with a one-line reason: -BATON_EINVAL for a malformed or foreign
// image, -BATON_E2BIG for one too large, -BATON_EPERM for an incompatible ABI.
[[nodiscard]] int check_next_image(const void *image, u64 size, u32 record_version, ImageInfo &info, char *why,
                                   usize why_capacity);
