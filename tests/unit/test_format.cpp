// SPDX-License-Identifier: MIT
// Unit tests for the freestanding formatter and log levels.
#include "host_platform.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include <gtest/gtest.h>

namespace {
std::string fmt(const char *f, auto... args)
{
    char buffer[128];
    format(buffer, sizeof(buffer), f, args...);
    return buffer;
}
} // namespace

TEST(Format, Integers)
{
    EXPECT_EQ(fmt("%d %i %u", -42, 7, 3000000000u), "-42 7 3000000000");
    EXPECT_EQ(fmt("%lx %lX", 0xdeadbeefcafeUL, 0xabcUL), "deadbeefcafe ABC");
    EXPECT_EQ(fmt("%ld", -9223372036854775807L - 1), "-9223372036854775808");
    EXPECT_EQ(fmt("%zu", static_cast<size_t>(12)), "12");
}

TEST(Format, WidthAndPadding)
{
    EXPECT_EQ(fmt("[%5d]", 42), "[   42]");
    EXPECT_EQ(fmt("[%-5d]", 42), "[42   ]");
    EXPECT_EQ(fmt("[%05d]", -42), "[-0042]");
    EXPECT_EQ(fmt("[%016lx]", 0x1234UL), "[0000000000001234]");
    EXPECT_EQ(fmt("[%*s]", 4, "ab"), "[  ab]");
    EXPECT_EQ(fmt("[%.2s]", "abcdef"), "[ab]");
    EXPECT_EQ(fmt("[%.*s]", 3, "abcdef"), "[abc]");
    EXPECT_EQ(fmt("%p", reinterpret_cast<void *>(0x1000)), "0x1000");
    const char *volatile missing = nullptr; // volatile: keep GCC from proving it null
    char buffer[32];
    format(buffer, sizeof(buffer), "%s %c %%", missing, 'x');
    EXPECT_STREQ(buffer, "(null) x %");
}

TEST(Format, TruncatesAndReportsFullLength)
{
    char buffer[8];
    usize length = format(buffer, sizeof(buffer), "%s", "0123456789");
    EXPECT_EQ(length, 10u);
    EXPECT_STREQ(buffer, "0123456");
    EXPECT_EQ(format(nullptr, 0, "%d", 12345), 5u);
}

TEST(Format, Sizes)
{
    char buffer[32];
    format_size(buffer, sizeof(buffer), 64 * MiB);
    EXPECT_STREQ(buffer, "64 MiB");
    format_size(buffer, sizeof(buffer), 1536 * KiB);
    EXPECT_STREQ(buffer, "1536 KiB");
    format_size(buffer, sizeof(buffer), 1000);
    EXPECT_STREQ(buffer, "1000 B");
    format_size(buffer, sizeof(buffer), 0);
    EXPECT_STREQ(buffer, "0 B");
}

TEST(Log, LevelFiltersMessages)
{
    LogLevel saved = log_level();
    log_set_level(LogLevel::warn);
    console_capture_begin();
    log_info("hidden %d", 1);
    log_warn("shown %d", 2);
    std::string out = console_capture_end();
    log_set_level(saved);
    EXPECT_EQ(out, "[W] shown 2\n");
}

TEST(Log, HeldLinesComeOutInOrderOneByOne)
{
    console_capture_begin();
    log_hold();
    log_info("first");
    log_warn("second");
    EXPECT_EQ(console_capture_end(), "");
    log_release();
    console_capture_begin();
    log_info("third"); // behind what is still kept, not before it
    EXPECT_EQ(console_capture_end(), "");
    console_capture_begin();
    EXPECT_TRUE(log_drain_one());
    EXPECT_EQ(console_capture_end(), "[I] first\n");
    console_capture_begin();
    log_flush();
    EXPECT_FALSE(log_drain_one());
    log_info("direct");
    EXPECT_EQ(console_capture_end(), "[W] second\n[I] third\n[I] direct\n");
}

TEST(Log, AFullHoldWritesWhatItKeptFirst)
{
    console_capture_begin();
    log_hold();
    std::string expected;
    for (int i = 0; i < 2000; i++) { // more than the held capacity
        log_info("line %d", i);
        expected += "[I] line " + std::to_string(i) + "\n";
    }
    log_release();
    while (log_drain_one()) {
    }
    EXPECT_EQ(console_capture_end(), expected);
}

TEST(LogDeathTest, PanicWritesHeldLinesFirst)
{
    EXPECT_DEATH(
        {
            log_hold();
            log_info("kept before");
            panic("out of %s", "frames");
        },
        "kept before(.|\n)*PANIC: out of frames");
}

TEST(LogDeathTest, PanicPrintsReason) { EXPECT_DEATH(panic("out of %s", "frames"), "PANIC: out of frames"); }
