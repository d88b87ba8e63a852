// SPDX-License-Identifier: MIT
// Builds a multiboot2 information block in a caller-supplied buffer.
#pragma once
#include "boot/efi_memory_map.hpp"
#include "lib/types.hpp"
#include "mm/memory_map.hpp"

// Used by the unit tests to make inputs for the parser, and by live update to hand the
// next image its boot information exactly as a multiboot2 loader would. Writes only
// inside [buffer, buffer + capacity). The first failure sticks: later calls do nothing
// and finish() reports it, so callers may add every tag and check once.
//   Multiboot2Writer writer(page, PAGE_SIZE);
//   writer.add_command_line("lu_bootmem=64M@0x8000000");
//   writer.add_memory_map(entries, count);
//   usize size;
//   if (int error = writer.finish(size)) ...
class Multiboot2Writer final {
public:
    // The buffer must be 8-byte aligned, like any multiboot2 information block.
    Multiboot2Writer(void *buffer, usize capacity);

    void add_command_line(const char *text);
    void add_loader_name(const char *text);
    void add_basic_meminfo(u32 mem_lower_kib, u32 mem_upper_kib);
    // Writes entries in the version 0 layout (24 bytes each); count must be at least 1.
    void add_memory_map(const MemoryMapEntry *entries, usize count);
    // The format holds 32-bit addresses: [start, end) must lie below 4 GiB, start <= end.
    void add_module(u64 start, u64 end, const char *string);
    void add_acpi_old_rsdp(const u8 *rsdp); // 20 bytes
    void add_acpi_new_rsdp(const u8 *rsdp); // 36 bytes
    // Tag 17 with map.count descriptors of `descriptor_size` bytes (at least 40; virtual
    // start and padding written as 0: Baton never gives the firmware virtual addresses).
    void add_efi_memory_map(const EfiMemoryMap &map, u32 descriptor_size);
    // Any tag, given its payload (what follows the 8-byte tag header).
    void add_tag(u32 type, const void *payload, usize payload_size);

    // Appends the end tag and fills in the header. Returns 0 and the block's size, or
    // -BATON_EINVAL (bad argument, misaligned buffer, called twice) or -BATON_ENOSPC
    // (the buffer is too small).
    [[nodiscard]] int finish(usize &total_size);

    // 0 or the first error so far.
    [[nodiscard]] int error() const { return error_; }

private:
    // Reserves a tag with room for payload_size bytes; returns its offset or 0 on failure.
    usize begin_tag(u32 type, usize payload_size);
    void add_string_tag(u32 type, const char *text);
    void fail(int error);
    void put_u32(usize offset, u32 value);
    void put_u64(usize offset, u64 value);
    void put_bytes(usize offset, const void *bytes, usize size);

    u8 *buffer_;
    usize capacity_;
    usize used_ = 0;
    int error_ = 0;
    bool finished_ = false;
};
