// Host stand-ins for the platform hooks the portable kernel code calls.
#include <cstdio>
#include <cstdlib>
#include <string>
#include "host_platform.hpp"
#include "lib/log.hpp"
#include "lib/time.hpp"

namespace {
std::string captured;
bool capturing = false;
} // namespace

void console_write(const char *text, usize length)
{
    if (capturing)
        captured.append(text, length);
    else
        fwrite(text, 1, length, stderr);
}

[[noreturn]] void platform_fail_stop()
{
    // A panic in host tests is a test failure; death tests match on the message.
    fflush(stderr);
    abort();
}

void console_capture_begin()
{
    captured.clear();
    capturing = true;
}

std::string console_capture_end()
{
    capturing = false;
    return captured;
}

// Host tests control time explicitly.
u64 host_time_ns = 0;
u64 time_now_ns() { return host_time_ns; }
