// SPDX-License-Identifier: MIT
// This image's pristine copy: found at boot, kept for the rollback of its next update.
#include "update/self_image.hpp"
#include "boot/boot_state.hpp"
#include "boot/version.hpp"
#include "handover_layout.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/phys.hpp"

namespace {

SelfImage self;

// The copy a record named, noted for self_image_check(): preserved frames of this image
// (type hypervisor_image) that outlive the record, which is freed right after.
struct NamedCopy {
    u64 address = 0;
    u64 bytes = 0;
};
NamedCopy named_copy;

// Whether the NUL-terminated build id `theirs` (at most `capacity` bytes) is this build's.
bool same_build(const char *theirs, usize capacity)
{
    for (usize i = 0; i < capacity; i++) {
        if (theirs[i] != baton_build_id[i])
            return false;
        if (theirs[i] == '\0')
            return true;
    }
    return false;
}

// Whether the bytes at `address` are this very image: undamaged (its digest matches what
// it loads), of this build, and loading exactly what this image loaded (the same digest).
// Its signature was the concern of whoever started this image; it is not checked again.
bool is_this_image(u64 address, u64 bytes, ImageInfo &info, char *why, usize why_capacity)
{
    const u8 *image = phys_to<u8>(address);
    const ImagePolicy any_signer{nullptr, 0, false};
    if (check_next_image(image, bytes, handover::schema::HANDOVER_ABI_VERSION, any_signer, info, why, why_capacity) !=
        0)
        return false;
    if (!same_build(info.note.build_id, sizeof(info.note.build_id)))
        return format(why, why_capacity, "it is build %s, not %s", info.note.build_id, baton_build_id), false;
    u8 own[SHA256_DIGEST_SIZE];
    baton_image_digest(own);
    if (__builtin_memcmp(own, info.digest.bytes, sizeof(own)) != 0)
        return format(why, why_capacity, "it loads other bytes than this image (digest differs)"), false;
    why[0] = '\0';
    return true;
}

// Cheap first look at a module: only one whose note names this build is checked in full.
bool names_this_build(const BootModule &module)
{
    u32 size = 0;
    const void *note = elf_find_note(phys_to<u8>(module.range.start), module.range.size(), BATON_IMAGE_NOTE_OWNER,
                                     BATON_IMAGE_NOTE_TYPE, size);
    if (note == nullptr || size < sizeof(baton_image_note))
        return false;
    const auto *descriptor = static_cast<const baton_image_note *>(note);
    return same_build(descriptor->build_id, sizeof(descriptor->build_id));
}

} // namespace

const SelfImage &self_image() { return self; }

void self_image_note(const IncomingRecord &incoming, bool rolled_back)
{
    self = SelfImage{};
    named_copy = NamedCopy{};
    if (!incoming.usable)
        return;
    auto named = rolled_back ? incoming.root.writer_image() : incoming.root.next_image();
    if (named.bytes() != 0 && named.preserved())
        named_copy = NamedCopy{named.address(), named.bytes()};
}

void self_image_check()
{
    self = SelfImage{};
    char why[IMAGE_CHECK_MESSAGE_SIZE] = "no boot module holds an image of this build";
    if (named_copy.bytes != 0) {
        if (is_this_image(named_copy.address, named_copy.bytes, self.info, why, sizeof(why))) {
            self.copy = ImageCopy{named_copy.address, named_copy.bytes, baton_build_id, true};
            log_info("update: this image's copy is the record's, 0x%lx (%lu bytes)", named_copy.address,
                     named_copy.bytes);
            return;
        }
        log_error("update: the record's copy of this image at 0x%lx is not usable: %s", named_copy.address, why);
    }
    const BootInfo &boot = boot_information();
    for (usize m = 0; m < boot.module_count; m++) {
        const BootModule &module = boot.modules[m];
        if (!names_this_build(module))
            continue;
        if (is_this_image(module.range.start, module.range.size(), self.info, why, sizeof(why))) {
            self.copy = ImageCopy{module.range.start, module.range.size(), baton_build_id, false};
            log_info("update: this image's copy is boot module '%s' (%lu bytes)", module.string, module.range.size());
            return;
        }
        log_warn("update: boot module '%s' names this build but is not usable: %s", module.string, why);
    }
    log_warn("update: no copy of this image (%s): live updates from it are refused, since a failed one could not "
             "roll back; boot it with its own ELF as a module (`module2 /boot/baton.elf baton-self`)",
             why);
}

void self_image_find(const IncomingRecord &incoming, bool rolled_back)
{
    self_image_note(incoming, rolled_back);
    self_image_check();
}
