// SPDX-License-Identifier: MIT
// Checked multiboot2 information parser: validates every length, copies what it needs.
#include "boot/boot_info.hpp"
#include "abi/errno.h"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include <stdarg.h>

namespace {

constexpr usize INFO_HEADER_SIZE = 8; // u32 total_size, u32 reserved
constexpr usize TAG_HEADER_SIZE = 8; // u32 type, u32 size
constexpr usize INFO_MIN_SIZE = INFO_HEADER_SIZE + TAG_HEADER_SIZE; // header + end tag
constexpr usize TAG_ALIGN = 8;
constexpr usize MEMORY_MAP_HEADER_SIZE = 16; // tag header, entry_size, entry_version
constexpr usize MEMORY_MAP_ENTRY_MIN_SIZE = 24; // base, length, type, reserved
constexpr usize MODULE_HEADER_SIZE = 16; // tag header, mod_start, mod_end
constexpr usize BASIC_MEMINFO_SIZE = 16; // tag header, mem_lower, mem_upper
constexpr usize EFI_MEMORY_MAP_HEADER_SIZE = 16; // tag header, descriptor_size, descriptor_version

// Tags that may appear at most once are tracked by type; all of them are below this.
constexpr u32 SINGLE_TAG_LIMIT = 24;

// Everything copied except modules: a second copy would leave us guessing which is meant.
bool is_single_instance(u32 type)
{
    switch (static_cast<Multiboot2Tag>(type)) {
    case Multiboot2Tag::command_line:
    case Multiboot2Tag::loader_name:
    case Multiboot2Tag::basic_meminfo:
    case Multiboot2Tag::memory_map:
    case Multiboot2Tag::acpi_old_rsdp:
    case Multiboot2Tag::acpi_new_rsdp:
    case Multiboot2Tag::efi_memory_map: return true;
    case Multiboot2Tag::end:
    case Multiboot2Tag::module: return false;
    }
    return false;
}
static_assert(static_cast<u32>(Multiboot2Tag::efi_memory_map) < SINGLE_TAG_LIMIT);

const char *tag_name(u32 type)
{
    switch (static_cast<Multiboot2Tag>(type)) {
    case Multiboot2Tag::end: return "end";
    case Multiboot2Tag::command_line: return "command line";
    case Multiboot2Tag::loader_name: return "boot loader name";
    case Multiboot2Tag::module: return "module";
    case Multiboot2Tag::basic_meminfo: return "basic memory info";
    case Multiboot2Tag::memory_map: return "memory map";
    case Multiboot2Tag::acpi_old_rsdp: return "ACPI 1.0 RSDP";
    case Multiboot2Tag::acpi_new_rsdp: return "ACPI 2.0 RSDP";
    case Multiboot2Tag::efi_memory_map: return "EFI memory map";
    }
    return "unknown";
}

class Multiboot2Parser final {
public:
    Multiboot2Parser(BootInfo &out, char *message, usize message_capacity)
        : out_(out), message_(message), message_capacity_(message_capacity)
    {}

    int parse(const void *info, u64 info_phys, usize readable_bytes);

private:
    // Only called for offsets already checked to lie inside [0, size_).
    u32 read_u32(usize offset) const
    {
        u32 value;
        __builtin_memcpy(&value, block_ + offset, sizeof(value));
        return value;
    }
    u64 read_u64(usize offset) const
    {
        u64 value;
        __builtin_memcpy(&value, block_ + offset, sizeof(value));
        return value;
    }

    int fail(int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
    int parse_tag(u32 type, usize offset, u32 size);
    int check_single(u32 type, usize offset);
    int copy_string(u32 type, usize offset, u32 size, usize string_offset, char *dest, usize dest_capacity,
                    const char *what, bool *truncated);
    int parse_memory_map(usize offset, u32 size);
    void parse_efi_memory_map(usize offset, u32 size);
    int choose_memory_map();
    int parse_module(usize offset, u32 size);
    int copy_rsdp(u32 type, usize offset, u32 size, u8 *dest, usize rsdp_size);

    BootInfo &out_;
    char *message_;
    usize message_capacity_;
    const u8 *block_ = nullptr;
    usize size_ = 0;
    bool seen_[SINGLE_TAG_LIMIT] = {};
    usize seen_offset_[SINGLE_TAG_LIMIT] = {};
};

int Multiboot2Parser::fail(int error, const char *fmt, ...)
{
    if (message_ != nullptr && message_capacity_ > 0) {
        usize length = format(message_, message_capacity_, "multiboot2: ");
        if (length < message_capacity_) {
            va_list args;
            va_start(args, fmt);
            format_v(message_ + length, message_capacity_ - length, fmt, args);
            va_end(args);
        }
    }
    return error;
}

int Multiboot2Parser::parse(const void *info, u64 info_phys, usize readable_bytes)
{
    if (info == nullptr)
        return fail(-BATON_EINVAL, "no information block (null pointer)");
    if (!is_aligned(reinterpret_cast<uptr>(info), TAG_ALIGN) || !is_aligned(info_phys, TAG_ALIGN))
        return fail(-BATON_EINVAL, "information block at 0x%lx is not 8-byte aligned", info_phys);
    if (readable_bytes < INFO_MIN_SIZE)
        return fail(-BATON_EINVAL, "only %zu bytes readable at 0x%lx, fewer than the %zu-byte minimum block",
                    readable_bytes, info_phys, INFO_MIN_SIZE);

    block_ = static_cast<const u8 *>(info);
    size_ = INFO_HEADER_SIZE; // enough to read total_size
    u32 total_size = read_u32(0);
    if (total_size < INFO_MIN_SIZE)
        return fail(-BATON_EINVAL, "total_size %u is smaller than the %zu-byte minimum", total_size, INFO_MIN_SIZE);
    if (total_size > readable_bytes)
        return fail(-BATON_EINVAL, "total_size %u runs past the %zu readable bytes", total_size, readable_bytes);
    u64 info_end;
    if (add_overflows(info_phys, total_size, &info_end))
        return fail(-BATON_EINVAL, "block at 0x%lx with total_size %u wraps the address space", info_phys, total_size);
    size_ = total_size;
    out_.info_range = PhysRange{info_phys, info_end};

    usize offset = INFO_HEADER_SIZE;
    for (;;) {
        if (size_ - offset < TAG_HEADER_SIZE)
            return fail(-BATON_EINVAL, "no end tag within total_size %u (tags stop at offset 0x%zx)", total_size,
                        offset);
        u32 type = read_u32(offset);
        u32 size = read_u32(offset + 4);
        if (size < TAG_HEADER_SIZE)
            return fail(-BATON_EINVAL, "tag %u at offset 0x%zx has size %u, smaller than its header", type, offset,
                        size);
        if (size > size_ - offset)
            return fail(-BATON_EINVAL, "tag %u at offset 0x%zx has size %u, running past total_size %u", type, offset,
                        size, total_size);
        if (int error = parse_tag(type, offset, size))
            return error;
        if (type == static_cast<u32>(Multiboot2Tag::end))
            break;
        // size <= total_size < 2^32, so this cannot wrap; the next header is checked above.
        offset += align_up(size, TAG_ALIGN);
        if (offset > size_)
            return fail(-BATON_EINVAL, "no end tag within total_size %u", total_size);
    }

    return choose_memory_map();
}

// The EFI map when there is a usable one (its types are the firmware's own: runtime
// services, NVS), else the loader's translation of it or of the BIOS's E820 map.
int Multiboot2Parser::choose_memory_map()
{
    if (out_.efi_memory_map.present) {
        out_.memory_map_count = efi_to_memory_map(out_.efi_memory_map, out_.memory_map, MAX_MEMORY_MAP_ENTRIES);
        if (out_.memory_map_count != 0) {
            out_.memory_map_from_efi = true;
            return 0;
        }
        format(out_.efi_memory_map_problem, sizeof(out_.efi_memory_map_problem),
               "it makes more than %zu memory-map entries", MAX_MEMORY_MAP_ENTRIES);
        out_.efi_memory_map.present = false;
    }
    if (!seen_[static_cast<u32>(Multiboot2Tag::memory_map)])
        return fail(-BATON_ENOENT, "no memory map tag (%s)",
                    out_.efi_memory_map_problem[0] != '\0' ? "and the EFI memory map is not usable" : "6 or 17");
    for (usize i = 0; i < out_.loader_memory_map_count; i++)
        out_.memory_map[i] = out_.loader_memory_map[i];
    out_.memory_map_count = out_.loader_memory_map_count;
    return 0;
}

// A damaged EFI map is not fatal while the loader's own map is there: it is reported
// (log_boot_info) and the loader's map is used.
void Multiboot2Parser::parse_efi_memory_map(usize offset, u32 size)
{
    if (size < EFI_MEMORY_MAP_HEADER_SIZE) {
        format(out_.efi_memory_map_problem, sizeof(out_.efi_memory_map_problem),
               "tag 17 at offset 0x%zx has size %u, smaller than its %zu-byte header", offset, size,
               EFI_MEMORY_MAP_HEADER_SIZE);
        return;
    }
    out_.efi_descriptor_size = read_u32(offset + 8);
    if (read_efi_memory_map(block_ + offset + EFI_MEMORY_MAP_HEADER_SIZE, size - EFI_MEMORY_MAP_HEADER_SIZE,
                            out_.efi_descriptor_size, read_u32(offset + 12), out_.efi_memory_map,
                            out_.efi_memory_map_problem, sizeof(out_.efi_memory_map_problem)) != 0)
        out_.efi_memory_map.present = false;
}

int Multiboot2Parser::check_single(u32 type, usize offset)
{
    if (seen_[type])
        return fail(-BATON_EINVAL, "tag %u (%s) appears twice, at offsets 0x%zx and 0x%zx", type, tag_name(type),
                    seen_offset_[type], offset);
    seen_[type] = true;
    seen_offset_[type] = offset;
    return 0;
}

int Multiboot2Parser::parse_tag(u32 type, usize offset, u32 size)
{
    if (is_single_instance(type))
        if (int error = check_single(type, offset))
            return error;

    switch (static_cast<Multiboot2Tag>(type)) {
    case Multiboot2Tag::end:
        if (size != TAG_HEADER_SIZE)
            return fail(-BATON_EINVAL, "end tag at offset 0x%zx has size %u, expected %zu", offset, size,
                        TAG_HEADER_SIZE);
        return 0;
    case Multiboot2Tag::command_line:
        return copy_string(type, offset, size, TAG_HEADER_SIZE, out_.command_line, sizeof(out_.command_line),
                           "command line", nullptr);
    case Multiboot2Tag::loader_name:
        return copy_string(type, offset, size, TAG_HEADER_SIZE, out_.loader_name, sizeof(out_.loader_name),
                           "boot loader name", &out_.loader_name_truncated);
    case Multiboot2Tag::basic_meminfo:
        if (size < BASIC_MEMINFO_SIZE)
            return fail(-BATON_EINVAL, "tag 4 (basic memory info) at offset 0x%zx has size %u, expected %zu", offset,
                        size, BASIC_MEMINFO_SIZE);
        out_.has_basic_meminfo = true;
        out_.mem_lower_kib = read_u32(offset + 8);
        out_.mem_upper_kib = read_u32(offset + 12);
        return 0;
    case Multiboot2Tag::memory_map: return parse_memory_map(offset, size);
    case Multiboot2Tag::efi_memory_map: return parse_efi_memory_map(offset, size), 0;
    case Multiboot2Tag::module: return parse_module(offset, size);
    case Multiboot2Tag::acpi_old_rsdp:
        if (int error = copy_rsdp(type, offset, size, out_.acpi_rsdp_v1, ACPI_RSDP_V1_SIZE))
            return error;
        out_.has_acpi_rsdp_v1 = true;
        return 0;
    case Multiboot2Tag::acpi_new_rsdp:
        if (int error = copy_rsdp(type, offset, size, out_.acpi_rsdp_v2, ACPI_RSDP_V2_SIZE))
            return error;
        out_.has_acpi_rsdp_v2 = true;
        return 0;
    }
    return 0; // a tag this kernel does not use (framebuffer, ELF sections, EFI, ...)
}

// Copies the NUL-terminated string at [offset + string_offset, offset + size). With
// `truncated` the string may be cut to fit (and the flag says so); without it a string
// too long for `dest` is an error, because cutting it would change its meaning.
int Multiboot2Parser::copy_string(u32 type, usize offset, u32 size, usize string_offset, char *dest,
                                  usize dest_capacity, const char *what, bool *truncated)
{
    if (size < string_offset)
        return fail(-BATON_EINVAL, "tag %u (%s) at offset 0x%zx has size %u, smaller than its %zu-byte header", type,
                    tag_name(type), offset, size, string_offset);
    const char *text = reinterpret_cast<const char *>(block_ + offset + string_offset);
    usize room = size - string_offset;
    usize length = 0;
    while (length < room && text[length] != '\0')
        length++;
    if (length == room)
        return fail(-BATON_EINVAL, "tag %u (%s) at offset 0x%zx: string not NUL-terminated within the tag", type,
                    tag_name(type), offset);
    if (length >= dest_capacity) {
        if (truncated == nullptr)
            return fail(-BATON_E2BIG, "%s at offset 0x%zx is %zu characters, more than the %zu this kernel keeps", what,
                        offset, length, dest_capacity - 1);
        *truncated = true;
        length = dest_capacity - 1;
    }
    for (usize i = 0; i < length; i++)
        dest[i] = text[i];
    dest[length] = '\0';
    return 0;
}

int Multiboot2Parser::parse_memory_map(usize offset, u32 size)
{
    if (size < MEMORY_MAP_HEADER_SIZE)
        return fail(-BATON_EINVAL, "tag 6 (memory map) at offset 0x%zx has size %u, smaller than its %zu-byte header",
                    offset, size, MEMORY_MAP_HEADER_SIZE);
    u32 entry_size = read_u32(offset + 8);
    u32 entry_version = read_u32(offset + 12);
    if (entry_size < MEMORY_MAP_ENTRY_MIN_SIZE)
        return fail(-BATON_EINVAL, "memory map at offset 0x%zx has entry_size %u, smaller than %zu", offset, entry_size,
                    MEMORY_MAP_ENTRY_MIN_SIZE);
    if (!is_aligned(entry_size, 8))
        return fail(-BATON_EINVAL, "memory map at offset 0x%zx has entry_size %u, not a multiple of 8", offset,
                    entry_size);
    usize entries_bytes = size - MEMORY_MAP_HEADER_SIZE;
    if (entries_bytes % entry_size != 0)
        return fail(-BATON_EINVAL,
                    "memory map at offset 0x%zx: %zu bytes of entries is not a whole number of %u-byte entries", offset,
                    entries_bytes, entry_size);
    usize count = entries_bytes / entry_size;
    if (count == 0)
        return fail(-BATON_EINVAL, "memory map at offset 0x%zx has no entries", offset);
    if (count > MAX_MEMORY_MAP_ENTRIES)
        return fail(-BATON_E2BIG, "memory map has %zu entries, more than the %zu this kernel keeps", count,
                    MAX_MEMORY_MAP_ENTRIES);

    // Later entry versions only append fields (the specification promises backward
    // compatibility), so the first 24 bytes keep their meaning and are all we read.
    out_.memory_map_entry_version = entry_version;
    for (usize i = 0; i < count; i++) {
        usize entry = offset + MEMORY_MAP_HEADER_SIZE + i * entry_size;
        u64 base = read_u64(entry);
        u64 length = read_u64(entry + 8);
        u64 end;
        if (add_overflows(base, length, &end))
            return fail(-BATON_EINVAL, "memory map entry %zu (base 0x%lx, length 0x%lx) wraps the address space", i,
                        base, length);
        out_.loader_memory_map[i] = MemoryMapEntry{base, length, read_u32(entry + 16)};
    }
    out_.loader_memory_map_count = count;
    return 0;
}

int Multiboot2Parser::parse_module(usize offset, u32 size)
{
    if (size < MODULE_HEADER_SIZE)
        return fail(-BATON_EINVAL, "tag 3 (module) at offset 0x%zx has size %u, smaller than its %zu-byte header",
                    offset, size, MODULE_HEADER_SIZE);
    if (out_.module_count == MAX_BOOT_MODULES)
        return fail(-BATON_E2BIG, "more than %zu modules (module at offset 0x%zx)", MAX_BOOT_MODULES, offset);
    u32 start = read_u32(offset + 8);
    u32 end = read_u32(offset + 12);
    if (end < start)
        return fail(-BATON_EINVAL, "module at offset 0x%zx ends (0x%x) before it starts (0x%x)", offset, end, start);
    BootModule &module = out_.modules[out_.module_count];
    if (int error = copy_string(static_cast<u32>(Multiboot2Tag::module), offset, size, MODULE_HEADER_SIZE,
                                module.string, sizeof(module.string), "module string", nullptr))
        return error;
    module.range = PhysRange{start, end};
    out_.module_count++;
    return 0;
}

int Multiboot2Parser::copy_rsdp(u32 type, usize offset, u32 size, u8 *dest, usize rsdp_size)
{
    if (size - TAG_HEADER_SIZE < rsdp_size)
        return fail(-BATON_EINVAL, "tag %u (%s) at offset 0x%zx has size %u, too small for a %zu-byte RSDP", type,
                    tag_name(type), offset, size, rsdp_size);
    for (usize i = 0; i < rsdp_size; i++)
        dest[i] = block_[offset + TAG_HEADER_SIZE + i];
    return 0;
}

const char *memory_type_name(u32 type)
{
    switch (static_cast<MemoryType>(type)) {
    case MemoryType::available: return "available";
    case MemoryType::reserved: return "reserved";
    case MemoryType::acpi_reclaimable: return "ACPI reclaimable";
    case MemoryType::acpi_nvs: return "ACPI NVS";
    case MemoryType::bad: return "bad";
    }
    return "unknown";
}

} // namespace

int parse_multiboot2(const void *info, u64 info_phys, usize readable_bytes, BootInfo &out, char *message,
                     usize message_capacity)
{
    // Start from a clean slate without a BootInfo temporary (it is ~8 KiB: too big for
    // an early stack).
    __builtin_memset(static_cast<void *>(&out), 0, sizeof(out));
    if (message != nullptr && message_capacity > 0)
        message[0] = '\0';
    Multiboot2Parser parser(out, message, message_capacity);
    return parser.parse(info, info_phys, readable_bytes);
}

void log_boot_info(const BootInfo &boot_info)
{
    log_info("boot: loader '%s'%s, information block [0x%lx, 0x%lx)",
             boot_info.loader_name[0] != '\0' ? boot_info.loader_name : "(unnamed)",
             boot_info.loader_name_truncated ? " (name truncated)" : "", boot_info.info_range.start,
             boot_info.info_range.end);
    log_info("boot: command line '%s'", boot_info.command_line);
    if (boot_info.memory_map_entry_version != 0)
        log_info("boot: memory map entry version %u (newer than 0; reading the version 0 fields)",
                 boot_info.memory_map_entry_version);
    u64 available = 0;
    for (usize i = 0; i < boot_info.memory_map_count; i++) {
        const MemoryMapEntry &entry = boot_info.memory_map[i];
        if (entry.type == static_cast<u32>(MemoryType::available))
            available += entry.length;
        log_debug("boot: memory [0x%016lx, 0x%016lx) %s (%u)", entry.base, entry.base + entry.length,
                  memory_type_name(entry.type), entry.type);
    }
    char size_text[32];
    format_size(size_text, sizeof(size_text), available);
    const EfiMemoryMap &efi = boot_info.efi_memory_map;
    if (boot_info.memory_map_from_efi) {
        for (usize i = 0; i < efi.count; i++)
            log_debug("boot: EFI memory [0x%016lx, +%lu pages) %s (%u) attributes 0x%lx",
                      efi.descriptors[i].physical_start, efi.descriptors[i].page_count,
                      efi_memory_type_name(efi.descriptors[i].type), efi.descriptors[i].type,
                      efi.descriptors[i].attributes);
        log_info("boot: memory map from the EFI memory map (%zu descriptors, %zu after merging neighbours, digest "
                 "%016lx): %zu entries, %s available",
                 efi.loader_descriptors, efi.count, efi_memory_map_digest(efi), boot_info.memory_map_count, size_text);
    } else {
        if (boot_info.efi_memory_map_problem[0] != '\0')
            log_warn("boot: the EFI memory map is not used: %s; the loader's memory map is",
                     boot_info.efi_memory_map_problem);
        log_info("boot: memory map: %zu entries, %s available", boot_info.memory_map_count, size_text);
    }
    for (usize i = 0; i < boot_info.module_count; i++) {
        const BootModule &module = boot_info.modules[i];
        log_info("boot: module %zu [0x%lx, 0x%lx) '%s'", i, module.range.start, module.range.end, module.string);
    }
}
