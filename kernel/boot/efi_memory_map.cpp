// SPDX-License-Identifier: MIT
// The UEFI memory map: checked reading, merging of neighbours, translation to E820 types.
#include "boot/efi_memory_map.hpp"
#include "abi/errno.h"
#include "lib/format.hpp"
#include <stdarg.h>

namespace {

u64 end_of(const EfiMemoryDescriptor &d) { return d.physical_start + d.page_count * EFI_PAGE_SIZE; }

bool same_kind(const EfiMemoryDescriptor &a, const EfiMemoryDescriptor &b)
{
    return a.type == b.type && a.attributes == b.attributes;
}

__attribute__((format(printf, 4, 5))) int refuse(char *why, usize why_capacity, int error, const char *fmt, ...)
{
    if (why != nullptr && why_capacity > 0) {
        va_list args;
        va_start(args, fmt);
        format_v(why, why_capacity, fmt, args);
        va_end(args);
    }
    return error;
}

// Puts `d` into the sorted, merged list, merging it with the neighbour it continues.
int insert(EfiMemoryMap &map, const EfiMemoryDescriptor &d, char *why, usize why_capacity)
{
    usize at = 0;
    while (at < map.count && map.descriptors[at].physical_start < d.physical_start)
        at++;
    EfiMemoryDescriptor *before = at > 0 ? &map.descriptors[at - 1] : nullptr;
    EfiMemoryDescriptor *after = at < map.count ? &map.descriptors[at] : nullptr;
    if ((before != nullptr && end_of(*before) > d.physical_start) ||
        (after != nullptr && end_of(d) > after->physical_start))
        return refuse(why, why_capacity, -BATON_EINVAL,
                      "EFI memory map: the range at 0x%lx (%lu pages) overlaps another", d.physical_start,
                      d.page_count);
    const bool joins_before = before != nullptr && same_kind(*before, d) && end_of(*before) == d.physical_start;
    const bool joins_after = after != nullptr && same_kind(d, *after) && end_of(d) == after->physical_start;
    if (joins_before && joins_after) {
        before->page_count += d.page_count + after->page_count;
        for (usize i = at; i + 1 < map.count; i++)
            map.descriptors[i] = map.descriptors[i + 1];
        map.count--;
        return 0;
    }
    if (joins_before) {
        before->page_count += d.page_count;
        return 0;
    }
    if (joins_after) {
        after->physical_start = d.physical_start;
        after->page_count += d.page_count;
        return 0;
    }
    if (map.count == MAX_EFI_DESCRIPTORS)
        return refuse(why, why_capacity, -BATON_E2BIG,
                      "EFI memory map: more than %zu distinct ranges (at 0x%lx); this kernel keeps no more",
                      MAX_EFI_DESCRIPTORS, d.physical_start);
    for (usize i = map.count; i > at; i--)
        map.descriptors[i] = map.descriptors[i - 1];
    map.descriptors[at] = d;
    map.count++;
    return 0;
}

u64 read_u64(const u8 *p)
{
    u64 value;
    __builtin_memcpy(&value, p, sizeof(value));
    return value;
}

} // namespace

const char *efi_memory_type_name(u32 type)
{
    switch (static_cast<EfiMemoryType>(type)) {
    case EfiMemoryType::reserved: return "reserved";
    case EfiMemoryType::loader_code: return "loader code";
    case EfiMemoryType::loader_data: return "loader data";
    case EfiMemoryType::boot_services_code: return "boot services code";
    case EfiMemoryType::boot_services_data: return "boot services data";
    case EfiMemoryType::runtime_services_code: return "runtime services code";
    case EfiMemoryType::runtime_services_data: return "runtime services data";
    case EfiMemoryType::conventional: return "conventional";
    case EfiMemoryType::unusable: return "unusable";
    case EfiMemoryType::acpi_reclaim: return "ACPI reclaim";
    case EfiMemoryType::acpi_nvs: return "ACPI NVS";
    case EfiMemoryType::mmio: return "MMIO";
    case EfiMemoryType::mmio_port_space: return "MMIO port space";
    case EfiMemoryType::pal_code: return "PAL code";
    case EfiMemoryType::persistent: return "persistent";
    case EfiMemoryType::unaccepted: return "unaccepted";
    }
    return "unknown";
}

int read_efi_memory_map(const u8 *bytes, usize size, u32 descriptor_size, u32 descriptor_version, EfiMemoryMap &out,
                        char *why, usize why_capacity)
{
    out.present = false;
    out.count = 0;
    out.descriptor_version = descriptor_version;
    if (descriptor_size < EFI_DESCRIPTOR_MIN_SIZE || descriptor_size % 8 != 0)
        return refuse(why, why_capacity, -BATON_EINVAL,
                      "EFI memory map: descriptor size %u is not a multiple of 8 of at least %zu", descriptor_size,
                      EFI_DESCRIPTOR_MIN_SIZE);
    if (size % descriptor_size != 0)
        return refuse(why, why_capacity, -BATON_EINVAL,
                      "EFI memory map: %zu bytes are not a whole number of %u-byte descriptors", size, descriptor_size);
    out.loader_descriptors = size / descriptor_size;
    for (usize i = 0; i < out.loader_descriptors; i++) {
        const u8 *raw = bytes + i * descriptor_size;
        u32 type;
        __builtin_memcpy(&type, raw, sizeof(type));
        const EfiMemoryDescriptor d{type, read_u64(raw + 8), read_u64(raw + 24), read_u64(raw + 32)};
        if (d.page_count == 0)
            continue; // describes nothing
        u64 length = 0, end = 0;
        if (d.physical_start % EFI_PAGE_SIZE != 0 || __builtin_mul_overflow(d.page_count, EFI_PAGE_SIZE, &length) ||
            add_overflows(d.physical_start, length, &end))
            return refuse(why, why_capacity, -BATON_EINVAL,
                          "EFI memory map: the range at 0x%lx (%lu pages) is not page aligned or wraps",
                          d.physical_start, d.page_count);
        if (int error = insert(out, d, why, why_capacity))
            return error;
    }
    out.present = true;
    return 0;
}

u32 efi_to_memory_type(const EfiMemoryDescriptor &d)
{
    if ((d.attributes & EFI_MEMORY_RUNTIME) != 0)
        return static_cast<u32>(MemoryType::reserved);
    switch (static_cast<EfiMemoryType>(d.type)) {
    case EfiMemoryType::loader_code:
    case EfiMemoryType::loader_data:
    case EfiMemoryType::boot_services_code:
    case EfiMemoryType::boot_services_data:
    case EfiMemoryType::conventional: return static_cast<u32>(MemoryType::available);
    case EfiMemoryType::unusable: return static_cast<u32>(MemoryType::bad);
    case EfiMemoryType::acpi_reclaim: return static_cast<u32>(MemoryType::acpi_reclaimable);
    case EfiMemoryType::acpi_nvs: return static_cast<u32>(MemoryType::acpi_nvs);
    case EfiMemoryType::persistent: return MEMORY_TYPE_PERSISTENT;
    case EfiMemoryType::reserved:
    case EfiMemoryType::runtime_services_code:
    case EfiMemoryType::runtime_services_data:
    case EfiMemoryType::mmio:
    case EfiMemoryType::mmio_port_space:
    case EfiMemoryType::pal_code:
    case EfiMemoryType::unaccepted: break; // unaccepted memory needs the firmware's help first
    }
    return static_cast<u32>(MemoryType::reserved);
}

usize efi_to_memory_map(const EfiMemoryMap &map, MemoryMapEntry *out, usize capacity)
{
    usize count = 0;
    for (usize i = 0; i < map.count; i++) {
        const EfiMemoryDescriptor &d = map.descriptors[i];
        const u32 type = efi_to_memory_type(d);
        const u64 length = d.page_count * EFI_PAGE_SIZE;
        if (count > 0 && out[count - 1].type == type &&
            out[count - 1].base + out[count - 1].length == d.physical_start) {
            out[count - 1].length += length;
            continue;
        }
        if (count == capacity)
            return 0;
        out[count++] = MemoryMapEntry{d.physical_start, length, type};
    }
    return count;
}

u64 efi_memory_map_digest(const EfiMemoryMap &map)
{
    u64 hash = 0xcbf29ce484222325;
    auto mix = [&hash](u64 value) {
        for (unsigned byte = 0; byte < 8; byte++) {
            hash ^= (value >> (8 * byte)) & 0xff;
            hash *= 0x100000001b3;
        }
    };
    for (usize i = 0; i < map.count; i++) {
        mix(map.descriptors[i].type);
        mix(map.descriptors[i].physical_start);
        mix(map.descriptors[i].page_count);
        mix(map.descriptors[i].attributes);
    }
    return hash;
}
