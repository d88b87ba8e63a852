// SPDX-License-Identifier: MIT
// Argument checks for control requests: every value is validated before any backend call.
#include "control/arguments.hpp"
#include "control/words.hpp"

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// 1 to max_length characters, each alphanumeric or one of `extra`.
bool is_word_of(const char *text, usize max_length, const char *extra)
{
    usize length = 0;
    for (; text[length] != '\0'; length++) {
        if (length == max_length)
            return false;
        char c = text[length];
        bool allowed = is_alnum(c);
        for (const char *e = extra; *e != '\0' && !allowed; e++)
            allowed = c == *e;
        if (!allowed)
            return false;
    }
    return length > 0;
}

} // namespace

bool parse_decimal(const char *text, u64 max, u64 &value)
{
    if (text[0] == '\0')
        return false;
    u64 number = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (!is_digit(*p))
            return false;
        if (__builtin_mul_overflow(number, 10, &number) ||
            __builtin_add_overflow(number, static_cast<u64>(*p - '0'), &number))
            return false;
    }
    if (number > max)
        return false;
    value = number;
    return true;
}

bool parse_domain_id(const char *text, u32 &id)
{
    u64 value;
    if (!parse_decimal(text, CONTROL_MAX_DOMAIN_ID, value))
        return false;
    id = static_cast<u32>(value);
    return true;
}

bool is_domain_name(const char *text) { return is_alnum(text[0]) && is_word_of(text, CONTROL_DOMAIN_NAME_MAX, "_.-"); }

bool is_module_name(const char *text) { return is_word_of(text, CONTROL_MODULE_NAME_MAX, "_.+/-"); }

bool is_nonce(const char *text) { return is_word_of(text, CONTROL_NONCE_MAX, "_-"); }

bool is_fault_name(const char *text) { return is_word_of(text, CONTROL_FAULT_NAME_MAX, "_-"); }

bool parse_yes_no(const char *text, bool &value)
{
    if (word_is(text, "yes") || word_is(text, "1")) {
        value = true;
        return true;
    }
    if (word_is(text, "no") || word_is(text, "0")) {
        value = false;
        return true;
    }
    return false;
}

Option split_option(const char *word)
{
    for (usize i = 0; word[i] != '\0'; i++)
        if (word[i] == '=')
            return Option{word, i, word + i + 1};
    return Option{word, 0, nullptr};
}

bool option_key_is(const Option &option, const char *key)
{
    if (option.value == nullptr)
        return false;
    for (usize i = 0; i < option.key_length; i++)
        if (key[i] != option.key[i])
            return false;
    return key[option.key_length] == '\0';
}

ShownWord show_word(const char *word)
{
    constexpr usize shown_max = 40;
    ShownWord shown;
    usize length = 0;
    for (; word[length] != '\0' && length < shown_max; length++)
        shown.text[length] = word[length];
    if (word[length] != '\0')
        for (int i = 0; i < 3; i++)
            shown.text[length++] = '.';
    shown.text[length] = '\0';
    return shown;
}

ShownWord show_token(const char *text)
{
    ShownWord shown;
    usize length = 0;
    for (; text != nullptr && text[length] != '\0' && length < sizeof(shown.text) - 1; length++) {
        char c = text[length];
        bool plain = c > ' ' && c < 0x7f && c != '=';
        shown.text[length] = plain ? c : '_';
    }
    if (length == 0)
        shown.text[length++] = '-';
    shown.text[length] = '\0';
    return shown;
}
