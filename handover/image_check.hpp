// SPDX-License-Identifier: MIT
// Judging a candidate next image before anything irreversible: is it a Baton image this
// hypervisor can hand over to, undamaged, and signed by a key it trusts?
#pragma once
#include "abi/image_note.h"
#include "lib/crypto/ed25519.hpp"
#include "lib/crypto/sha256.hpp"
#include "lib/elf.hpp"

// What the signature check found (docs/image-signing.md). Only `trusted` passes when the
// policy requires a signature; otherwise the caller is told which problem it accepted.
enum class SignatureState : u8 {
    trusted, // a valid signature by a trusted key
    unsigned_image, // no trailer (named "unsigned": the keyword is taken)
    malformed_trailer, // the trailer's magic is there, its version or size is not ours
    untrusted_key, // signed, by a key not in the policy's list (not verified further)
    bad_signature, // a trusted key, but the signature does not verify
};

// "trusted", "unsigned", "malformed trailer", "untrusted key", "bad signature".
const char *signature_state_name(SignatureState state);

// Which signers this hypervisor accepts. The keys are borrowed, not copied: they must
// outlive the check (the kernel's are constants, build/gen/trusted_keys.hpp).
struct ImagePolicy {
    const u8 (*trusted_keys)[ED25519_PUBLIC_KEY_SIZE] = nullptr;
    usize trusted_key_count = 0;
    // false (lu_require_signature=no): accept an image whose signature is missing, not
    // trusted or bad, and report it in ImageInfo::signature_state. The digest is checked
    // whatever this says.
    bool require_signature = true;
};

struct ImageInfo {
    ElfImage elf;
    baton_image_note note{};
    u64 multiboot2_header_offset = 0;
    Sha256Digest digest; // what the image loads, recomputed; equal to note.digest
    SignatureState signature_state = SignatureState::unsigned_image;
    u8 signer_key[ED25519_PUBLIC_KEY_SIZE] = {}; // the trailer's key; zeros without a trailer
};

inline constexpr usize IMAGE_CHECK_MESSAGE_SIZE = 160;
inline constexpr u64 IMAGE_MAX_SIZE = 64 * MiB;

// Checks, in order: size (0 < size <= IMAGE_MAX_SIZE), the ELF headers and segments
// (lib/elf.hpp), a valid multiboot2 header in the first 32 KiB, the image note
// (abi/image_note.h) with NUL-terminated strings, that the image reads records of
// `record_version` (the version this hypervisor writes), that its note is version 2 or
// later, that it is sealed (a digest was written) and that its digest matches what it
// loads (handover/image_digest.hpp); then its signature trailer against `policy`.
// Returns 0 and fills `info`, or a negative errno with a one-line reason in `why`:
// -BATON_EINVAL for a malformed or foreign image, -BATON_E2BIG for one too large,
// -BATON_EPERM for an incompatible ABI, a v1 note, or (when the policy requires a
// signature) a signature that is missing, malformed, by an untrusted key or bad;
// -BATON_EBADMSG for a damaged (digest mismatch) or unsealed image, whatever the policy.
// On success `why` is empty if the signature is trusted; otherwise it holds the reason
// the policy would have refused it, for the caller's warning. Never reads outside
// [image, image + size), whatever the bytes.
[[nodiscard]] int check_next_image(const void *image, u64 size, u32 record_version, const ImagePolicy &policy,
                                   ImageInfo &info, char *why, usize why_capacity);
