// SPDX-License-Identifier: MIT
// This image's pristine copy: the ELF it was started from, which a rollback enters again.
#pragma once
#include "handover/image_check.hpp"
#include "update/incoming.hpp"
#include "update/serialize.hpp"

struct SelfImage {
    ImageCopy copy; // copy.bytes 0: none found, and updates from this image are refused
    ImageInfo info; // the copy, checked as a next image is
};

// Finds this image's copy once memory is set up: after a live update the one the record
// names (its nextImage; its writerImage when this image was entered again by a
// rollback), otherwise a boot module holding an image of this very build (make's ISO
// passes the kernel file as the module `baton-self`). The copy is checked as a next image
// would be, and must carry this image's build id. Logs what it found or why none.
void self_image_find(const IncomingRecord &incoming, bool rolled_back);
// The same in two steps, for a live update: self_image_note() reads which copy the record
// names while it is still there (cheap, inside the blackout), self_image_check() checks it
// (a SHA-256 over the whole image, ~7 ms under TCG) once the guests run again. Until then
// self_image() says there is no copy; the control channel is served only afterwards.
void self_image_note(const IncomingRecord &incoming, bool rolled_back);
void self_image_check();
const SelfImage &self_image();
