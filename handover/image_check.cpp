// SPDX-License-Identifier: MIT
// Judging a candidate next image before anything irreversible.
#include "image_check.hpp"
#include "abi/errno.h"
#include "lib/format.hpp"

namespace {

constexpr u32 MB2_HEADER_MAGIC = 0xe85250d6;
constexpr u64 MB2_SEARCH_LIMIT = 32 * KiB; // the multiboot2 specification's limit

u32 read_u32(const u8 *bytes)
{
    u32 value;
    __builtin_memcpy(&value, bytes, sizeof(value));
    return value;
}

// Offset of a valid multiboot2 header (magic, architecture 0, length, checksum that sums
// to zero) at an 8-byte boundary in the first 32 KiB, or -1.
i64 find_multiboot2_header(const u8 *bytes, u64 size)
{
    u64 limit = size < MB2_SEARCH_LIMIT ? size : MB2_SEARCH_LIMIT;
    for (u64 offset = 0; offset + 16 <= limit; offset += 8) {
        if (read_u32(bytes + offset) != MB2_HEADER_MAGIC)
            continue;
        u32 architecture = read_u32(bytes + offset + 4), length = read_u32(bytes + offset + 8),
            checksum = read_u32(bytes + offset + 12);
        if (architecture == 0 && length >= 16 && offset + length <= size &&
            MB2_HEADER_MAGIC + architecture + length + checksum == 0)
            return static_cast<i64>(offset);
    }
    return -1;
}

bool terminated(const char *text, usize capacity)
{
    for (usize i = 0; i < capacity; i++) {
        if (text[i] == '\0')
            return i > 0;
    }
    return false;
}

} // namespace

int check_next_image(const void *image, u64 size, u32 record_version, ImageInfo &info, char *why, usize why_capacity)
{
    info = ImageInfo{};
    if (size == 0)
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: empty");
    if (size > IMAGE_MAX_SIZE)
        return format_refusal(why, why_capacity, BATON_E2BIG, "image: %lu bytes, more than the %lu MiB limit", size,
                              IMAGE_MAX_SIZE / MiB);
    if (int error = elf_parse(image, size, info.elf, why, why_capacity))
        return error;

    i64 header = find_multiboot2_header(static_cast<const u8 *>(image), size);
    if (header < 0)
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: no valid multiboot2 header in its first 32 KiB");
    info.multiboot2_header_offset = static_cast<u64>(header);

    u32 note_size = 0;
    const void *note = elf_find_note(image, size, BATON_IMAGE_NOTE_OWNER, BATON_IMAGE_NOTE_TYPE, note_size);
    if (note == nullptr)
        return format_refusal(why, why_capacity, BATON_EINVAL,
                              "image: no Baton image note; not a Baton hypervisor image");
    // Older notes are shorter; every version has at least the first four fields and strings.
    if (note_size < sizeof(baton_image_note))
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: image note of %u bytes is too short", note_size);
    __builtin_memcpy(&info.note, note, sizeof(info.note));
    const baton_image_note &n = info.note;
    if (n.note_version < 1 || !terminated(n.version, sizeof(n.version)) || !terminated(n.build_id, sizeof(n.build_id)))
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: malformed image note");
    if (n.record_read_min > n.record_read_max)
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: note says it reads records v%u..v%u",
                              n.record_read_min, n.record_read_max);
    if (record_version < n.record_read_min || record_version > n.record_read_max)
        return format_refusal(why, why_capacity, BATON_EPERM,
                              "image %s (build %s) reads handover records v%u..v%u; this hypervisor writes v%u",
                              n.version, n.build_id, n.record_read_min, n.record_read_max, record_version);
    return 0;
}
