// SPDX-License-Identifier: MIT
// Names and short descriptions of the abi/errno.h codes, for `error` lines.
#pragma once

// Both take the code either way round (-22 or 22). Unknown codes give "EUNKNOWN" and
// "unknown error", so an error line is always well formed.
const char *errno_name(int error);
const char *errno_description(int error);
