// SPDX-License-Identifier: MIT
/* The identity every Baton image carries in an ELF note, so a running hypervisor can
   judge a candidate next image before doing anything irreversible. C and C++
   compatible; fields are only ever added at the end (note_version counts them). */
#pragma once
#include <stdint.h>

#define BATON_IMAGE_NOTE_OWNER   "Baton"
#define BATON_IMAGE_NOTE_TYPE    0x42410001u
#define BATON_IMAGE_NOTE_VERSION 1u

struct baton_image_note {
    uint32_t note_version; /* BATON_IMAGE_NOTE_VERSION */
    uint32_t record_write_version; /* the handover record version this image writes */
    uint32_t record_read_min; /* the oldest record version it can read */
    uint32_t record_read_max; /* the newest record version it can read */
    char version[16]; /* NUL-terminated, e.g. "0.1.0" */
    char build_id[48]; /* NUL-terminated, unique per build */
};
