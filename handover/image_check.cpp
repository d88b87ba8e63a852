// SPDX-License-Identifier: MIT
// Judging a candidate next image before anything irreversible.
#include "image_check.hpp"
#include "abi/errno.h"
#include "handover/image_digest.hpp"
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

// The first 8 bytes in hex: enough to tell keys and digests apart in a message.
struct Hex8 {
    char text[17];
};

Hex8 hex8(const u8 *bytes)
{
    Hex8 hex{};
    for (usize i = 0; i < 8; i++) {
        hex.text[2 * i] = "0123456789abcdef"[bytes[i] >> 4];
        hex.text[2 * i + 1] = "0123456789abcdef"[bytes[i] & 0xf];
    }
    return hex;
}

bool all_zero(const u8 *bytes, usize size)
{
    for (usize i = 0; i < size; i++)
        if (bytes[i] != 0)
            return false;
    return true;
}

bool trusts(const ImagePolicy &policy, const u8 (&key)[ED25519_PUBLIC_KEY_SIZE])
{
    for (usize i = 0; i < policy.trusted_key_count; i++)
        if (__builtin_memcmp(policy.trusted_keys[i], key, sizeof(key)) == 0)
            return true;
    return false;
}

// The trailer against the policy: sets info.signature_state and info.signer_key, and
// writes the reason when the state is not `trusted`.
void check_signature(const u8 *bytes, u64 size, const ImagePolicy &policy, ImageInfo &info, char *why,
                     usize why_capacity)
{
    constexpr usize magic_size = sizeof(baton_image_signature::magic);
    static_assert(sizeof(BATON_IMAGE_SIGNATURE_MAGIC) == magic_size + 1, "the magic is 8 bytes without its NUL");
    const u8 *at = size >= BATON_IMAGE_SIGNATURE_SIZE ? bytes + size - BATON_IMAGE_SIGNATURE_SIZE : nullptr;
    if (at == nullptr || __builtin_memcmp(at, BATON_IMAGE_SIGNATURE_MAGIC, magic_size) != 0) {
        info.signature_state = SignatureState::unsigned_image;
        format(why, why_capacity, "image: unsigned");
        return;
    }
    baton_image_signature trailer;
    __builtin_memcpy(&trailer, at, sizeof(trailer));
    if (trailer.version != BATON_IMAGE_SIGNATURE_VERSION || trailer.size != BATON_IMAGE_SIGNATURE_SIZE) {
        info.signature_state = SignatureState::malformed_trailer;
        format(why, why_capacity,
               "image: malformed signature trailer (version %u, size %u; this hypervisor reads version %u of %u "
               "bytes)",
               trailer.version, trailer.size, BATON_IMAGE_SIGNATURE_VERSION, BATON_IMAGE_SIGNATURE_SIZE);
        return;
    }
    __builtin_memcpy(info.signer_key, trailer.public_key, sizeof(info.signer_key));
    const Hex8 key = hex8(trailer.public_key);
    // An untrusted key is not worth verifying: no signature by it could be accepted.
    if (!trusts(policy, trailer.public_key)) {
        info.signature_state = SignatureState::untrusted_key;
        format(why, why_capacity, "image: signed with a key this hypervisor does not trust (key %s)", key.text);
        return;
    }
    u8 message[IMAGE_SIGNED_MESSAGE_SIZE];
    image_signed_message(info.digest, info.note, message);
    Ed25519Verdict verdict = ed25519_verify(trailer.public_key, trailer.signature, message, sizeof(message));
    if (verdict != Ed25519Verdict::valid) {
        info.signature_state = SignatureState::bad_signature;
        format(why, why_capacity, "image: bad signature (%s) by trusted key %s", ed25519_verdict_name(verdict),
               key.text);
        return;
    }
    info.signature_state = SignatureState::trusted;
    format(why, why_capacity, "%s", "");
}

} // namespace

const char *signature_state_name(SignatureState state)
{
    switch (state) {
    case SignatureState::trusted: return "trusted";
    case SignatureState::unsigned_image: return "unsigned";
    case SignatureState::malformed_trailer: return "malformed trailer";
    case SignatureState::untrusted_key: return "untrusted key";
    case SignatureState::bad_signature: return "bad signature";
    }
    return "unknown";
}

int check_next_image(const void *image, u64 size, u32 record_version, const ImagePolicy &policy, ImageInfo &info,
                     char *why, usize why_capacity)
{
    info = ImageInfo{};
    if (size == 0)
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: empty");
    if (size > IMAGE_MAX_SIZE)
        return format_refusal(why, why_capacity, BATON_E2BIG, "image: %lu bytes, more than the %lu MiB limit", size,
                              IMAGE_MAX_SIZE / MiB);
    if (int error = elf_parse(image, size, info.elf, why, why_capacity))
        return error;

    const u8 *bytes = static_cast<const u8 *>(image);
    i64 header = find_multiboot2_header(bytes, size);
    if (header < 0)
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: no valid multiboot2 header in its first 32 KiB");
    info.multiboot2_header_offset = static_cast<u64>(header);

    u32 note_size = 0;
    const void *note = elf_find_note(image, size, BATON_IMAGE_NOTE_OWNER, BATON_IMAGE_NOTE_TYPE, note_size);
    if (note == nullptr)
        return format_refusal(why, why_capacity, BATON_EINVAL,
                              "image: no Baton image note; not a Baton hypervisor image");
    // Older notes are shorter; every version has at least the fields of version 1.
    if (note_size < IMAGE_NOTE_V1_SIZE)
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: image note of %u bytes is too short", note_size);
    __builtin_memcpy(&info.note, note, note_size < sizeof(info.note) ? note_size : sizeof(info.note));
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

    if (n.note_version < 2)
        return format_refusal(why, why_capacity, BATON_EPERM, "image: its note (v%u) carries no digest; rebuild it",
                              n.note_version);
    if (note_size < sizeof(baton_image_note))
        return format_refusal(why, why_capacity, BATON_EINVAL, "image: image note v%u of %u bytes is too short",
                              n.note_version, note_size);
    // Before the comparison: an unsealed image would otherwise read as a damaged one.
    if (all_zero(n.digest, sizeof(n.digest)))
        return format_refusal(why, why_capacity, BATON_EBADMSG, "image: not sealed (no digest written by the build)");
    const u64 note_offset = static_cast<u64>(static_cast<const u8 *>(note) - bytes);
    info.digest = image_digest(image, size, info.elf, note_offset);
    if (__builtin_memcmp(info.digest.bytes, n.digest, sizeof(n.digest)) != 0)
        return format_refusal(why, why_capacity, BATON_EBADMSG,
                              "image: digest mismatch: the image is damaged (expected %s..., computed %s...)",
                              hex8(n.digest).text, hex8(info.digest.bytes).text);

    check_signature(bytes, size, policy, info, why, why_capacity);
    if (info.signature_state != SignatureState::trusted && policy.require_signature)
        return -BATON_EPERM; // check_signature wrote why
    return 0;
}
