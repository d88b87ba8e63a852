// SPDX-License-Identifier: MIT
// Multiboot2 information block writer: bounds-checked, tag by tag.
#include "boot/multiboot2_writer.hpp"
#include "abi/errno.h"
#include "boot/boot_info.hpp"

namespace {
constexpr usize INFO_HEADER_SIZE = 8;
constexpr usize TAG_HEADER_SIZE = 8;
constexpr usize TAG_ALIGN = 8;
constexpr usize MEMORY_MAP_ENTRY_SIZE = 24;
constexpr u64 U32_MAX = 0xffffffffu; // total_size, tag sizes and module addresses are 32-bit

constexpr u32 tag_type(Multiboot2Tag tag) { return static_cast<u32>(tag); }

usize string_length(const char *text)
{
    usize length = 0;
    while (text[length] != '\0')
        length++;
    return length;
}
} // namespace

Multiboot2Writer::Multiboot2Writer(void *buffer, usize capacity)
    : buffer_(static_cast<u8 *>(buffer)), capacity_(capacity)
{
    if (buffer_ == nullptr || !is_aligned(reinterpret_cast<uptr>(buffer), TAG_ALIGN))
        fail(-BATON_EINVAL);
    else if (capacity_ < INFO_HEADER_SIZE)
        fail(-BATON_ENOSPC);
    else
        used_ = INFO_HEADER_SIZE;
}

void Multiboot2Writer::fail(int error)
{
    if (error_ == 0)
        error_ = error;
}

void Multiboot2Writer::put_bytes(usize offset, const void *bytes, usize size)
{
    const u8 *source = static_cast<const u8 *>(bytes);
    for (usize i = 0; i < size; i++)
        buffer_[offset + i] = source[i];
}

void Multiboot2Writer::put_u32(usize offset, u32 value) { put_bytes(offset, &value, sizeof(value)); }
void Multiboot2Writer::put_u64(usize offset, u64 value) { put_bytes(offset, &value, sizeof(value)); }

usize Multiboot2Writer::begin_tag(u32 type, usize payload_size)
{
    if (finished_)
        fail(-BATON_EINVAL);
    if (error_ != 0)
        return 0;
    u64 tag_size;
    if (add_overflows(payload_size, TAG_HEADER_SIZE, &tag_size) || tag_size > U32_MAX) {
        fail(-BATON_ENOSPC);
        return 0;
    }
    u64 padded = align_up(tag_size, TAG_ALIGN);
    if (padded > capacity_ - used_ || used_ + padded > U32_MAX) {
        fail(-BATON_ENOSPC);
        return 0;
    }
    usize offset = used_;
    put_u32(offset, type);
    put_u32(offset + 4, static_cast<u32>(tag_size));
    for (usize i = tag_size; i < padded; i++)
        buffer_[offset + i] = 0; // deterministic padding
    used_ += padded;
    return offset;
}

void Multiboot2Writer::add_tag(u32 type, const void *payload, usize payload_size)
{
    if (payload == nullptr && payload_size != 0)
        fail(-BATON_EINVAL);
    if (usize offset = begin_tag(type, payload_size))
        put_bytes(offset + TAG_HEADER_SIZE, payload, payload_size);
}

void Multiboot2Writer::add_string_tag(u32 type, const char *text)
{
    if (text == nullptr) {
        fail(-BATON_EINVAL);
        return;
    }
    add_tag(type, text, string_length(text) + 1);
}

void Multiboot2Writer::add_command_line(const char *text)
{
    add_string_tag(tag_type(Multiboot2Tag::command_line), text);
}
void Multiboot2Writer::add_loader_name(const char *text) { add_string_tag(tag_type(Multiboot2Tag::loader_name), text); }

void Multiboot2Writer::add_basic_meminfo(u32 mem_lower_kib, u32 mem_upper_kib)
{
    u32 payload[2] = {mem_lower_kib, mem_upper_kib};
    add_tag(tag_type(Multiboot2Tag::basic_meminfo), payload, sizeof(payload));
}

void Multiboot2Writer::add_memory_map(const MemoryMapEntry *entries, usize count)
{
    if (entries == nullptr || count == 0 || count > U32_MAX / MEMORY_MAP_ENTRY_SIZE) {
        fail(-BATON_EINVAL);
        return;
    }
    usize offset = begin_tag(tag_type(Multiboot2Tag::memory_map), 8 + count * MEMORY_MAP_ENTRY_SIZE);
    if (offset == 0)
        return;
    put_u32(offset + 8, MEMORY_MAP_ENTRY_SIZE);
    put_u32(offset + 12, 0); // entry_version
    for (usize i = 0; i < count; i++) {
        usize entry = offset + 16 + i * MEMORY_MAP_ENTRY_SIZE;
        put_u64(entry, entries[i].base);
        put_u64(entry + 8, entries[i].length);
        put_u32(entry + 16, entries[i].type);
        put_u32(entry + 20, 0); // reserved
    }
}

void Multiboot2Writer::add_module(u64 start, u64 end, const char *string)
{
    if (string == nullptr || start > end || end > U32_MAX) {
        fail(-BATON_EINVAL);
        return;
    }
    usize length = string_length(string);
    usize offset = begin_tag(tag_type(Multiboot2Tag::module), 8 + length + 1);
    if (offset == 0)
        return;
    put_u32(offset + 8, static_cast<u32>(start));
    put_u32(offset + 12, static_cast<u32>(end));
    put_bytes(offset + 16, string, length + 1);
}

void Multiboot2Writer::add_acpi_old_rsdp(const u8 *rsdp)
{
    add_tag(tag_type(Multiboot2Tag::acpi_old_rsdp), rsdp, ACPI_RSDP_V1_SIZE);
}

void Multiboot2Writer::add_acpi_new_rsdp(const u8 *rsdp)
{
    add_tag(tag_type(Multiboot2Tag::acpi_new_rsdp), rsdp, ACPI_RSDP_V2_SIZE);
}

void Multiboot2Writer::add_efi_memory_map(const EfiMemoryMap &map, u32 descriptor_size)
{
    if (descriptor_size < EFI_DESCRIPTOR_MIN_SIZE || descriptor_size % 8 != 0 || map.count > MAX_EFI_DESCRIPTORS) {
        fail(-BATON_EINVAL);
        return;
    }
    usize offset = begin_tag(tag_type(Multiboot2Tag::efi_memory_map), 8 + map.count * descriptor_size);
    if (offset == 0)
        return;
    put_u32(offset + 8, descriptor_size);
    put_u32(offset + 12, map.descriptor_version);
    for (usize i = 0; i < map.count; i++) {
        const EfiMemoryDescriptor &d = map.descriptors[i];
        usize at = offset + 16 + i * descriptor_size;
        for (usize byte = 0; byte < descriptor_size; byte += 8)
            put_u64(at + byte, 0);
        put_u32(at, d.type);
        put_u64(at + 8, d.physical_start);
        put_u64(at + 24, d.page_count);
        put_u64(at + 32, d.attributes);
    }
}

int Multiboot2Writer::finish(usize &total_size)
{
    total_size = 0;
    if (begin_tag(tag_type(Multiboot2Tag::end), 0) == 0)
        return error_;
    finished_ = true;
    put_u32(0, static_cast<u32>(used_));
    put_u32(4, 0); // reserved
    total_size = used_;
    return 0;
}
