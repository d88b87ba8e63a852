// SPDX-License-Identifier: MIT
/* The identity every Baton image carries in an ELF note, so a running hypervisor can
   judge a candidate next image before doing anything irreversible. C and C++
   compatible; fields are only ever added at the end (note_version counts them). */
#pragma once
#include <stdint.h>

#define BATON_IMAGE_NOTE_OWNER   "Baton"
#define BATON_IMAGE_NOTE_TYPE    0x42410001u
#define BATON_IMAGE_NOTE_VERSION 2u

struct baton_image_note {
    uint32_t note_version; /* BATON_IMAGE_NOTE_VERSION */
    uint32_t record_write_version; /* the handover record version this image writes */
    uint32_t record_read_min; /* the oldest record version it can read */
    uint32_t record_read_max; /* the newest record version it can read */
    char version[16]; /* NUL-terminated, e.g. "0.1.0" */
    char build_id[48]; /* NUL-terminated, unique per build */
    /* v2: SHA-256 of what the image loads (docs/image-signing.md). The compiler writes
       zeros; the build's signer (baton-image seal) writes the digest into the file. */
    uint8_t digest[32];
};

/* The signature trailer: the last BATON_IMAGE_SIGNATURE_SIZE bytes of a signed image
   file, after everything the ELF headers describe. Not loaded and not part of the
   digest. The signature is Ed25519 (RFC 8032) over the message of docs/image-signing.md
   (a domain string, the digest, the note descriptor). */
#define BATON_IMAGE_SIGNATURE_MAGIC   "BATONSIG" /* exactly these 8 bytes, no NUL */
#define BATON_IMAGE_SIGNATURE_VERSION 1u
#define BATON_IMAGE_SIGNATURE_SIZE    112u

struct baton_image_signature {
    char magic[8]; /* BATON_IMAGE_SIGNATURE_MAGIC */
    uint32_t version; /* BATON_IMAGE_SIGNATURE_VERSION */
    uint32_t size; /* BATON_IMAGE_SIGNATURE_SIZE: this structure's size */
    uint8_t public_key[32]; /* the signer's Ed25519 public key, RFC 8032 encoding */
    uint8_t signature[64]; /* R then S */
};
