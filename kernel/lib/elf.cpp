// SPDX-License-Identifier: MIT
// Checked reading of ELF64 x86-64 executables: headers, loadable segments, notes.
#include "lib/elf.hpp"
#include "abi/errno.h"
#include "lib/format.hpp"
#include <stdarg.h>

namespace {

struct Elf64Header {
    u8 ident[16];
    u16 type;
    u16 machine;
    u32 version;
    u64 entry;
    u64 program_header_offset;
    u64 section_header_offset;
    u32 flags;
    u16 header_size;
    u16 program_header_size;
    u16 program_header_count;
    u16 section_header_size;
    u16 section_header_count;
    u16 section_names_index;
};
static_assert(sizeof(Elf64Header) == 64);

struct Elf64ProgramHeader {
    u32 type;
    u32 flags;
    u64 offset;
    u64 virtual_address;
    u64 physical_address;
    u64 file_size;
    u64 memory_size;
    u64 alignment;
};
static_assert(sizeof(Elf64ProgramHeader) == 56);

constexpr u32 PT_LOAD = 1, PT_NOTE = 4;
constexpr u16 ET_EXEC = 2, EM_X86_64 = 62;
constexpr u32 PF_X = 1;

int fail(char *message, usize capacity, int error, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int fail(char *message, usize capacity, int error, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    usize length = format(message, capacity, "%s", "ELF: ");
    if (length < capacity)
        format_v(message + length, capacity - length, fmt, args);
    va_end(args);
    return -error;
}

// Copies out a header: the image may be unaligned (a module, an upload buffer).
template <typename T>
T read_at(const void *image, u64 offset)
{
    T value;
    __builtin_memcpy(&value, static_cast<const u8 *>(image) + offset, sizeof(T));
    return value;
}

bool range_inside(u64 offset, u64 length, u64 size)
{
    u64 end;
    return !add_overflows(offset, length, &end) && end <= size;
}

// Program headers, checked against the file; returns 0 or a negative errno.
int program_headers(const void *image, u64 size, Elf64Header &header, char *message, usize capacity)
{
    if (size < sizeof(Elf64Header))
        return fail(message, capacity, BATON_EINVAL, "file of %lu bytes is smaller than an ELF header", size);
    header = read_at<Elf64Header>(image, 0);
    const u8 *ident = header.ident;
    if (ident[0] != 0x7f || ident[1] != 'E' || ident[2] != 'L' || ident[3] != 'F')
        return fail(message, capacity, BATON_EINVAL, "not an ELF file (bad magic)");
    if (ident[4] != 2 || ident[5] != 1)
        return fail(message, capacity, BATON_EINVAL, "not a 64-bit little-endian ELF file");
    if (ident[6] != 1 || header.version != 1)
        return fail(message, capacity, BATON_EINVAL, "unknown ELF version");
    if (header.type != ET_EXEC || header.machine != EM_X86_64)
        return fail(message, capacity, BATON_EINVAL, "not an x86-64 executable (type %u, machine %u)", header.type,
                    header.machine);
    if (header.program_header_size != sizeof(Elf64ProgramHeader))
        return fail(message, capacity, BATON_EINVAL, "program header size %u, expected %zu", header.program_header_size,
                    sizeof(Elf64ProgramHeader));
    if (header.program_header_count == 0 ||
        !range_inside(header.program_header_offset, u64{header.program_header_count} * sizeof(Elf64ProgramHeader),
                      size))
        return fail(message, capacity, BATON_EINVAL, "program header table outside the file");
    return 0;
}

} // namespace

int elf_parse(const void *image, u64 size, ElfImage &out, char *message, usize capacity)
{
    out = ElfImage{};
    Elf64Header header{};
    if (int error = program_headers(image, size, header, message, capacity))
        return error;

    bool entry_found = false;
    for (u16 i = 0; i < header.program_header_count; i++) {
        auto ph =
            read_at<Elf64ProgramHeader>(image, header.program_header_offset + u64{i} * sizeof(Elf64ProgramHeader));
        if (ph.type != PT_LOAD || ph.memory_size == 0)
            continue;
        if (out.segment_count == ELF_MAX_SEGMENTS)
            return fail(message, capacity, BATON_E2BIG, "more than %zu loadable segments", ELF_MAX_SEGMENTS);
        if (ph.file_size > ph.memory_size)
            return fail(message, capacity, BATON_EINVAL, "segment %u: file size 0x%lx exceeds memory size 0x%lx", i,
                        ph.file_size, ph.memory_size);
        if (!range_inside(ph.offset, ph.file_size, size))
            return fail(message, capacity, BATON_EINVAL, "segment %u: bytes 0x%lx+0x%lx lie outside the file", i,
                        ph.offset, ph.file_size);
        u64 end;
        if (add_overflows(ph.physical_address, ph.memory_size, &end) ||
            add_overflows(ph.virtual_address, ph.memory_size, &end))
            return fail(message, capacity, BATON_EINVAL, "segment %u: address range wraps around", i);
        ElfSegment segment{ph.offset, ph.file_size, ph.memory_size, ph.physical_address, ph.virtual_address, ph.flags};
        for (usize j = 0; j < out.segment_count; j++) {
            const ElfSegment &other = out.segments[j];
            if (segment.physical_address < other.physical_address + other.memory_size &&
                other.physical_address < segment.physical_address + segment.memory_size)
                return fail(message, capacity, BATON_EINVAL, "segments overlap at physical 0x%lx",
                            segment.physical_address);
        }
        // By virtual or physical address: Linux's vmlinux names the physical one.
        if ((ph.flags & PF_X) &&
            ((header.entry >= ph.virtual_address && header.entry - ph.virtual_address < ph.memory_size) ||
             (header.entry >= ph.physical_address && header.entry - ph.physical_address < ph.memory_size)))
            entry_found = true;
        if (out.segment_count == 0 || segment.physical_address < out.lowest_address)
            out.lowest_address = segment.physical_address;
        if (segment.physical_address + segment.memory_size > out.highest_address)
            out.highest_address = segment.physical_address + segment.memory_size;
        out.segments[out.segment_count++] = segment;
    }
    if (out.segment_count == 0)
        return fail(message, capacity, BATON_EINVAL, "no loadable segment");
    if (!entry_found)
        return fail(message, capacity, BATON_EINVAL, "entry point 0x%lx is not inside an executable segment",
                    header.entry);
    out.entry = header.entry;
    return 0;
}

const void *elf_find_note(const void *image, u64 size, const char *owner, u32 type, u32 &descriptor_size)
{
    Elf64Header header{};
    char ignored[8];
    if (program_headers(image, size, header, ignored, sizeof(ignored)) != 0)
        return nullptr;
    u64 owner_length = 0;
    while (owner[owner_length])
        owner_length++;
    owner_length++; // names are stored with their NUL

    for (u16 i = 0; i < header.program_header_count; i++) {
        auto ph =
            read_at<Elf64ProgramHeader>(image, header.program_header_offset + u64{i} * sizeof(Elf64ProgramHeader));
        if (ph.type != PT_NOTE || !range_inside(ph.offset, ph.file_size, size))
            continue;
        u64 at = ph.offset, end = ph.offset + ph.file_size;
        while (at + 12 <= end) {
            u32 name_size = read_at<u32>(image, at), desc_size = read_at<u32>(image, at + 4),
                note_type = read_at<u32>(image, at + 8);
            u64 name_at = at + 12, desc_at = name_at + align_up(name_size, 4);
            u64 next = desc_at + align_up(desc_size, 4);
            if (next > end || next <= at)
                break;
            const char *name = static_cast<const char *>(image) + name_at;
            if (note_type == type && name_size == owner_length && __builtin_memcmp(name, owner, owner_length) == 0) {
                descriptor_size = desc_size;
                return static_cast<const u8 *>(image) + desc_at;
            }
            at = next;
        }
    }
    return nullptr;
}
