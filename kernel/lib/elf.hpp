// SPDX-License-Identifier: MIT
// Checked reading of ELF64 x86-64 executables: headers, loadable segments, notes.
#pragma once
#include "lib/types.hpp"

struct ElfSegment {
    u64 file_offset;
    u64 file_size;
    u64 memory_size;
    u64 physical_address; // p_paddr: where a loader places it
    u64 virtual_address;
    u32 flags; // PF_X 1, PF_W 2, PF_R 4
};

inline constexpr usize ELF_MAX_SEGMENTS = 16;
inline constexpr usize ELF_MESSAGE_SIZE = 128;

struct ElfImage {
    u64 entry = 0;
    ElfSegment segments[ELF_MAX_SEGMENTS];
    usize segment_count = 0;
    u64 lowest_address = 0; // over the loadable segments' physical addresses
    u64 highest_address = 0; // exclusive end
};

// Validates `size` bytes at `image` as a static ELF64 x86-64 executable: magic, class,
// byte order, version, type EXEC, machine, program header table inside the file, every
// PT_LOAD inside the file with file_size <= memory_size and no address overflow, loadable
// segments not overlapping each other, and the entry point inside an executable segment.
// Returns 0 or a negative errno with a one-line reason in `message`.
[[nodiscard]] int elf_parse(const void *image, u64 size, ElfImage &out, char *message, usize capacity);

// Finds the first ELF note with this owner name and type in the image's PT_NOTE segments.
// Returns a pointer to its descriptor inside `image` and sets `descriptor_size`, or nullptr.
const void *elf_find_note(const void *image, u64 size, const char *owner, u32 type, u32 &descriptor_size);
