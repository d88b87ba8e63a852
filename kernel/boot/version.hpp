// SPDX-License-Identifier: MIT
// The image's identity: version string and build id (set by the build, kept in the
// image's ELF note).
#pragma once

#include "lib/types.hpp"

extern const char *const baton_version;
extern const char *const baton_build_id;

// The SHA-256 digest of what this image loads, as the build's signer wrote it into the
// note after linking (all zeros in an image that was never sealed).
void baton_image_digest(u8 (&digest)[32]);
