// SPDX-License-Identifier: MIT
// The image digest and the signed message (docs/image-signing.md).
#include "handover/image_digest.hpp"

namespace {

void hash_u64(Sha256 &hash, u64 value)
{
    u8 bytes[8];
    for (usize i = 0; i < sizeof(bytes); i++)
        bytes[i] = static_cast<u8>(value >> (8 * i));
    hash.update(bytes, sizeof(bytes));
}

void hash_zeros(Sha256 &hash, u64 count)
{
    constexpr u8 zeros[SHA256_DIGEST_SIZE] = {};
    while (count != 0) {
        usize chunk = count < sizeof(zeros) ? count : sizeof(zeros);
        hash.update(zeros, chunk);
        count -= chunk;
    }
}

// Hashes file bytes [offset, offset + length) with [hole, hole + hole_size) as zeros:
// the digest cannot cover the field that holds it.
void hash_with_hole(Sha256 &hash, const u8 *file, u64 offset, u64 length, u64 hole, u64 hole_size)
{
    u64 end = offset + length, hole_end = hole + hole_size;
    if (hole_end <= offset || hole >= end) {
        hash.update(file + offset, length);
        return;
    }
    u64 zeros_from = hole > offset ? hole : offset;
    u64 zeros_to = hole_end < end ? hole_end : end;
    hash.update(file + offset, zeros_from - offset);
    hash_zeros(hash, zeros_to - zeros_from);
    hash.update(file + zeros_to, end - zeros_to);
}

} // namespace

Sha256Digest image_digest(const void *image, u64 size, const ElfImage &elf, u64 note_offset)
{
    (void)size; // the ranges were checked against it by the caller
    const u8 *file = static_cast<const u8 *>(image);
    Sha256 hash;
    hash.update(IMAGE_DIGEST_DOMAIN, sizeof(IMAGE_DIGEST_DOMAIN));
    hash_u64(hash, elf.entry);

    baton_image_note note;
    __builtin_memcpy(&note, file + note_offset, sizeof(note));
    __builtin_memset(note.digest, 0, sizeof(note.digest));
    hash.update(&note, sizeof(note));

    const u64 digest_field = note_offset + IMAGE_DIGEST_FIELD_OFFSET;
    for (usize i = 0; i < elf.segment_count; i++) {
        const ElfSegment &segment = elf.segments[i];
        hash_u64(hash, segment.physical_address);
        hash_u64(hash, segment.memory_size);
        hash_u64(hash, segment.file_size);
        hash_with_hole(hash, file, segment.file_offset, segment.file_size, digest_field, sizeof(note.digest));
    }
    return hash.finish();
}

void image_signed_message(const Sha256Digest &digest, const baton_image_note &note,
                          u8 (&message)[IMAGE_SIGNED_MESSAGE_SIZE])
{
    u8 *at = message;
    __builtin_memcpy(at, IMAGE_SIGNATURE_DOMAIN, sizeof(IMAGE_SIGNATURE_DOMAIN));
    at += sizeof(IMAGE_SIGNATURE_DOMAIN);
    __builtin_memcpy(at, digest.bytes, sizeof(digest.bytes));
    at += sizeof(digest.bytes);
    __builtin_memcpy(at, &note, sizeof(note));
}
