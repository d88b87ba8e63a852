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

// Holding the log: while held, lines are kept in memory instead of being written, and
// written later in order. A live update holds it from the new image's command line to the
// guests' resumption: a console line costs about 1 ms under TCG (an emulated port access
// per byte) and 7 ms at 115200 baud, and none of them needs to be out before the guests
// run. A panic, a rollback and the machine's exit write what is kept first.
void log_hold();
// Stops holding; what is kept stays queued (new lines go behind it) until drained.
void log_release();
// Writes the oldest kept line; false once nothing is kept.
bool log_drain_one();
// Writes everything kept, now.
void log_flush();

// Prints "PANIC: <message>" and stops the machine with a failure code. Never returns.
[[noreturn]] void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Provided by the platform: the kernel writes to the serial console, host tests capture.
void console_write(const char *text, usize length);
// After a panic, with its message (a live update not yet committed goes back to the old
// image: update/rollback.hpp).
[[noreturn]] void platform_fail_stop(const char *message);
