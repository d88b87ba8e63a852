// SPDX-License-Identifier: MIT
// The image digest and the signed message: the one definition the hypervisor and the
// host tool share (docs/image-signing.md).
#pragma once
#include "abi/image_note.h"
#include "lib/crypto/sha256.hpp"
#include "lib/elf.hpp"

// Domain-separation strings, hashed and signed with their NUL: a digest or signature made
// for anything else can never pass for an image's.
inline constexpr char IMAGE_DIGEST_DOMAIN[] = "BATON-IMAGE-DIGEST-1";
inline constexpr char IMAGE_SIGNATURE_DOMAIN[] = "BATON-IMAGE-SIGNATURE-1";

inline constexpr usize IMAGE_NOTE_V1_SIZE = __builtin_offsetof(baton_image_note, digest);
inline constexpr usize IMAGE_DIGEST_FIELD_OFFSET = __builtin_offsetof(baton_image_note, digest);
inline constexpr usize IMAGE_SIGNED_MESSAGE_SIZE =
    sizeof(IMAGE_SIGNATURE_DOMAIN) + SHA256_DIGEST_SIZE + sizeof(baton_image_note);

static_assert(sizeof(baton_image_note::digest) == SHA256_DIGEST_SIZE);
static_assert(sizeof(baton_image_signature) == BATON_IMAGE_SIGNATURE_SIZE);

// The SHA-256 image digest of a file that elf_parse() accepted as `elf` and whose Baton
// note descriptor (at least sizeof(baton_image_note) bytes) starts at file offset
// `note_offset`. Hashes, in order: IMAGE_DIGEST_DOMAIN with its NUL; the entry point as
// 8 little-endian bytes; the note descriptor with its digest field as zeros; then for
// each loadable segment (elf.segments, in program-header order): its physical address,
// memory size and file size (8 LE bytes each) and its file bytes, where the bytes of the
// note's digest field are hashed as zeros. The caller guarantees the ranges lie in the
// file (elf_parse and elf_find_note checked them); nothing here fails.
[[nodiscard]] Sha256Digest image_digest(const void *image, u64 size, const ElfImage &elf, u64 note_offset);

// The message an image's Ed25519 signature signs: IMAGE_SIGNATURE_DOMAIN with its NUL,
// the 32-byte digest, then the note descriptor as it is in the file (with its digest).
void image_signed_message(const Sha256Digest &digest, const baton_image_note &note,
                          u8 (&message)[IMAGE_SIGNED_MESSAGE_SIZE]);
