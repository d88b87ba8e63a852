// SPDX-License-Identifier: MIT
// Checks for the values in request lines: numbers, domain ids, names, yes/no, key=value.
#pragma once
#include "control/protocol.hpp"

// Decimal digits only (no sign, no hex, no units), at most `max`.
[[nodiscard]] bool parse_decimal(const char *text, u64 max, u64 &value);
// A domain id: decimal, 0 to CONTROL_MAX_DOMAIN_ID.
[[nodiscard]] bool parse_domain_id(const char *text, u32 &id);
// A domain name: 1 to CONTROL_DOMAIN_NAME_MAX of [A-Za-z0-9_.-], starting with a letter
// or digit, so that it is one word in every line it appears in.
bool is_domain_name(const char *text);
// A boot module name as the multiboot2 module string gives it: 1 to
// CONTROL_MODULE_NAME_MAX of [A-Za-z0-9_.+/-], with no '=' (which marks an option).
bool is_module_name(const char *text);
// A sync nonce: 1 to CONTROL_NONCE_MAX of [A-Za-z0-9_-].
bool is_nonce(const char *text);
// A fault name for update-fault ("bootmem-violation"): 1 to CONTROL_FAULT_NAME_MAX of
// [A-Za-z0-9_-]. The backend decides which names it knows.
bool is_fault_name(const char *text);
// "yes"/"no" (also "1"/"0").
[[nodiscard]] bool parse_yes_no(const char *text, bool &value);

// A `key=value` word split at its first '='.
struct Option {
    const char *key;
    usize key_length;
    const char *value; // after the '=', NUL-terminated, may be empty; nullptr without '='
};
Option split_option(const char *word);
bool option_key_is(const Option &option, const char *key);

// A word as quoted back in an error line: at most 40 characters, then "...".
struct ShownWord {
    char text[64];
};
ShownWord show_word(const char *word);
// A backend's string (name, state, version) shown as one word: blanks, '=' and
// non-printable bytes become '_', nullptr or "" becomes "-", at most 63 characters.
ShownWord show_token(const char *text);
