// Host test helpers: capture what the portable kernel code writes to the console.
#pragma once
#include <string>

void console_capture_begin();
std::string console_capture_end();

#include "lib/types.hpp"
// What time_now_ns() returns in host tests.
extern u64 host_time_ns;
