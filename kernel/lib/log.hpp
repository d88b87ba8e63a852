// SPDX-License-Identifier: MIT
// Leveled console logging and panic; the sink is provided by the platform.
#pragma once
#include "lib/types.hpp"

enum class LogLevel : u8 { error = 0, warn = 1, info = 2, debug = 3 };

// Messages above this level are dropped; set from `loglevel=` on the command line.
void log_set_level(LogLevel level);
LogLevel log_level();

void log(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log(LogLevel::error, __VA_ARGS__)
#define log_warn(...)  log(LogLevel::warn, __VA_ARGS__)
#define log_info(...)  log(LogLevel::info, __VA_ARGS__)
#define log_debug(...) log(LogLevel::debug, __VA_ARGS__)

// Prints "PANIC: <message>" and stops the machine with a failure code. Never returns.
[[noreturn]] void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Provided by the platform: the kernel writes to the serial console, host tests capture.
void console_write(const char *text, usize length);
// After a panic, with its message (a live update not yet committed goes back to the old
// image: update/rollback.hpp).
[[noreturn]] void platform_fail_stop(const char *message);
