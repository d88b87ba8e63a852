// SPDX-License-Identifier: MIT
// Ed25519 signature verification (RFC 8032, section 5.1.7): how the hypervisor knows
// that a next image was signed by a key it trusts. Verification only: images are
// signed on the host with OpenSSL.
#pragma once
#include "lib/types.hpp"

inline constexpr usize ED25519_PUBLIC_KEY_SIZE = 32;
inline constexpr usize ED25519_SIGNATURE_SIZE = 64;

enum class Ed25519Verdict : u8 {
    valid,
    malformed_public_key, // A does not decode to a point of the curve
    malformed_signature, // R does not decode, or S is not below the group order L
    mismatch, // well formed, but [S]B != R + [k]A: wrong key, message or signature
};

// Checks `signature` over the `size` bytes at `message` against `public_key` (all in
// RFC 8032's encodings). Pure computation over its arguments: no state, no allocation,
// a few KiB of stack; the cofactorless equation of RFC 8032 §5.1.7, as OpenSSL checks.
// Not constant time: it handles only public data.
[[nodiscard]] Ed25519Verdict ed25519_verify(const u8 (&public_key)[ED25519_PUBLIC_KEY_SIZE],
                                            const u8 (&signature)[ED25519_SIGNATURE_SIZE], const void *message,
                                            usize size);

// A name for each verdict, for refusal messages ("malformed public key").
const char *ed25519_verdict_name(Ed25519Verdict verdict);
