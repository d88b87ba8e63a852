// SPDX-License-Identifier: MIT
// The image's identity: version string and build id (set by the build, kept in the
// image's ELF note).
#pragma once

extern const char *const baton_version;
extern const char *const baton_build_id;
