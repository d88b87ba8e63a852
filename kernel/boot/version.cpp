// SPDX-License-Identifier: MIT
// The image's identity, filled in by the Makefile on every build and carried in an ELF
// note (abi/image_note.h) that a running hypervisor reads before it hands over.
#include "boot/version.hpp"
#include "abi/image_note.h"
#include "handover_layout.hpp"

#ifndef BATON_VERSION
#error "BATON_VERSION must be defined by the build"
#endif
#ifndef BATON_BUILD_ID
#error "BATON_BUILD_ID must be defined by the build"
#endif

namespace {

// An ELF note: header, owner name padded to 4 bytes, then the descriptor.
struct [[gnu::packed]] ImageNote {
    u32 name_size;
    u32 descriptor_size;
    u32 type;
    char name[8];
    baton_image_note descriptor;
};
static_assert(sizeof(BATON_IMAGE_NOTE_OWNER) <= 8);
static_assert(sizeof(BATON_BUILD_ID) <= sizeof(baton_image_note::build_id), "build id too long for the note");
static_assert(sizeof(BATON_VERSION) <= sizeof(baton_image_note::version), "version too long for the note");

[[gnu::used, gnu::section(".note.baton"), gnu::aligned(4)]] const ImageNote image_note = {
    sizeof(BATON_IMAGE_NOTE_OWNER),
    sizeof(baton_image_note),
    BATON_IMAGE_NOTE_TYPE,
    BATON_IMAGE_NOTE_OWNER,
    {BATON_IMAGE_NOTE_VERSION,
     handover::schema::HANDOVER_ABI_VERSION,
     handover::schema::HANDOVER_MIN_READER_VERSION,
     handover::schema::HANDOVER_ABI_VERSION,
     BATON_VERSION,
     BATON_BUILD_ID,
     // The digest covers the compiled bytes, so the compiler cannot know it: the build's
     // signer (tools/image, `baton-image seal`) writes it into the linked file.
     {}},
};

} // namespace

const char *const baton_version = image_note.descriptor.version;
const char *const baton_build_id = image_note.descriptor.build_id;

void baton_image_digest(u8 (&digest)[32])
{
    // Through memory: the initializer says zeros, the file says what the signer wrote.
    const volatile u8 *written = image_note.descriptor.digest;
    for (usize i = 0; i < sizeof(digest); i++)
        digest[i] = written[i];
}
