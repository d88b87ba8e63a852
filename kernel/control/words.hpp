// SPDX-License-Identifier: MIT
// Splits a request line into words, in place, without copying.
#pragma once
#include "control/protocol.hpp"

struct Words {
    const char *word[CONTROL_MAX_WORDS] = {};
    usize count = 0;
    bool too_many = false; // the line had more than CONTROL_MAX_WORDS words

    const char *operator[](usize index) const { return word[index]; }
};

// Words are separated by runs of blanks (space, tab); there is no quoting, since no
// value in the protocol contains a blank. Writes NUL over the first blank after each
// word, so `line` must stay alive as long as `words` is used.
void split_words(char *line, Words &words);

// True if `text` equals `word` (both NUL-terminated).
bool word_is(const char *text, const char *word);
