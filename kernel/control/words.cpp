// SPDX-License-Identifier: MIT
// In-place tokenizer for request lines.
#include "control/words.hpp"

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

} // namespace

void split_words(char *line, Words &words)
{
    words.count = 0;
    words.too_many = false;
    char *cursor = line;
    for (;;) {
        while (is_blank(*cursor))
            cursor++;
        if (*cursor == '\0')
            return;
        if (words.count == CONTROL_MAX_WORDS) {
            words.too_many = true;
            return;
        }
        words.word[words.count++] = cursor;
        while (*cursor != '\0' && !is_blank(*cursor))
            cursor++;
        if (*cursor == '\0')
            return;
        *cursor++ = '\0';
    }
}

bool word_is(const char *text, const char *word)
{
    usize i = 0;
    for (; text[i] != '\0' && word[i] != '\0'; i++)
        if (text[i] != word[i])
            return false;
    return text[i] == word[i];
}
