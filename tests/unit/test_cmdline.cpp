// SPDX-License-Identifier: MIT
// Unit tests for kernel command-line parsing, diagnostics and formatting.
#include "boot/cmdline.hpp"
#include "host_platform.hpp"
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <gtest/gtest.h>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

struct Parsed {
    std::unique_ptr<CmdlineResult> result = std::make_unique<CmdlineResult>();
    const KernelOptions &options() const { return result->options; }
    std::vector<std::string> diagnostics() const
    {
        std::vector<std::string> lines;
        for (usize i = 0; i < result->diagnostic_count; i++)
            lines.emplace_back(result->diagnostics[i].text);
        return lines;
    }
};

Parsed parse(const char *text)
{
    Parsed parsed;
    parse_kernel_command_line(text, *parsed.result);
    return parsed;
}

using Lines = std::vector<std::string>;

std::string format_options(const KernelOptions &options)
{
    char buffer[256];
    usize length = format_kernel_options(options, buffer, sizeof(buffer));
    EXPECT_LT(length, sizeof(buffer));
    return buffer;
}

KernelOptions bootmem(u64 size, bool fixed = false, u64 address = 0, LogLevel level = LogLevel::info)
{
    KernelOptions options;
    options.lu_bootmem_given = true;
    options.lu_bootmem_size = size;
    options.lu_bootmem_fixed = fixed;
    options.lu_bootmem_address = address;
    options.loglevel = level;
    return options;
}

} // namespace

// Readable failure messages for option comparisons.
void PrintTo(const KernelOptions &options, std::ostream *out)
{
    *out << "{given=" << options.lu_bootmem_given << " lu_bootmem_size=" << options.lu_bootmem_size
         << " fixed=" << options.lu_bootmem_fixed << " address=0x" << std::hex << options.lu_bootmem_address << std::dec
         << " loglevel=" << static_cast<int>(options.loglevel)
         << " lu_require_signature=" << options.lu_require_signature << "}";
}

TEST(Cmdline, EmptyGivesDefaults)
{
    for (const char *text : {static_cast<const char *>(nullptr), "", "   ", " \t\r\n "}) {
        Parsed parsed = parse(text);
        EXPECT_EQ(parsed.options(), KernelOptions{});
        EXPECT_EQ(parsed.result->diagnostic_count, 0u);
        EXPECT_FALSE(parsed.result->has_fatal);
    }
    KernelOptions defaults;
    EXPECT_FALSE(defaults.lu_bootmem_given);
    EXPECT_EQ(defaults.lu_bootmem_size, 64 * MiB);
    EXPECT_FALSE(defaults.lu_bootmem_fixed);
    EXPECT_EQ(defaults.loglevel, LogLevel::info);
}

TEST(Cmdline, ParserResetsPreviousResult)
{
    Parsed parsed = parse("loglevel=debug foo");
    ASSERT_EQ(parsed.result->diagnostic_count, 1u);
    parse_kernel_command_line("", *parsed.result);
    EXPECT_EQ(parsed.options(), KernelOptions{});
    EXPECT_EQ(parsed.result->diagnostic_count, 0u);
}

TEST(Cmdline, Numbers)
{
    struct Case {
        const char *text;
        bool ok;
        u64 value;
    };
    const Case cases[] = {
        {"0", true, 0},
        {"64", true, 64},
        {"0064", true, 64}, // leading zeros: decimal, never octal
        {"0x40", true, 0x40},
        {"0XfF", true, 0xff},
        {"64K", true, 64 * KiB},
        {"64k", true, 64 * KiB},
        {"64M", true, 64 * MiB},
        {"2g", true, 2 * GiB},
        {"64KiB", true, 64 * KiB},
        {"64MiB", true, 64 * MiB},
        {"3GiB", true, 3 * GiB},
        {"0x10M", true, 16 * MiB},
        {"18446744073709551615", true, ~u64{0}},
        {"0xffffffffffffffff", true, ~u64{0}},
        {"17179869183G", true, 17179869183 * GiB},
        {"18446744073709551616", false, 0}, // 2^64
        {"0x10000000000000000", false, 0},
        {"17179869184G", false, 0}, // 2^64 after the suffix
        {"", false, 0},
        {"0x", false, 0},
        {"x10", false, 0},
        {"-1", false, 0},
        {"+1", false, 0},
        {" 1", false, 0},
        {"1 ", false, 0},
        {"12Q", false, 0},
        {"64MB", false, 0}, // MB is ambiguous (decimal?): rejected
        {"64Mi", false, 0},
        {"64MiBs", false, 0},
        {"64mib", false, 0},
        {"K", false, 0},
        {"1.5G", false, 0},
        {"1e9", false, 0},
        {"0b101", false, 0},
    };
    for (const Case &c : cases) {
        u64 value = 12345;
        bool ok = parse_cmdline_number(c.text, strlen(c.text), value);
        EXPECT_EQ(ok, c.ok) << c.text;
        if (c.ok) {
            EXPECT_EQ(value, c.value) << c.text;
        }
    }
    // The length bounds the parse: no reading past it.
    u64 value = 0;
    EXPECT_TRUE(parse_cmdline_number("64Mgarbage", 3, value));
    EXPECT_EQ(value, 64 * MiB);
}

TEST(Cmdline, LuBootmemValid)
{
    EXPECT_EQ(parse("lu_bootmem=128M").options(), bootmem(128 * MiB));
    EXPECT_EQ(parse("lu_bootmem=1G").options(), bootmem(GiB));
    EXPECT_EQ(parse("lu_bootmem=16M").options(), bootmem(16 * MiB));
    EXPECT_EQ(parse("lu_bootmem=0x4000000").options(), bootmem(64 * MiB));
    EXPECT_EQ(parse("lu_bootmem=32MiB@0x10000000").options(), bootmem(32 * MiB, true, 0x10000000));
    EXPECT_EQ(parse("lu_bootmem=64M@256M").options(), bootmem(64 * MiB, true, 256 * MiB));
    // Address 0 is syntactically fine; whether the region fits is the memory manager's call.
    EXPECT_EQ(parse("lu_bootmem=64M@0").options(), bootmem(64 * MiB, true, 0));
    // Ending exactly at the architectural limit is allowed.
    EXPECT_EQ(parse("lu_bootmem=16G@0xffffc00000000").options(), bootmem(16 * GiB, true, 0xffffc00000000));
    EXPECT_EQ(parse("lu_bootmem=64M@0").result->diagnostic_count, 0u);
    // The last valid occurrence counts, including dropping an earlier fixed address.
    Parsed twice = parse("lu_bootmem=64M@0x10000000 lu_bootmem=96M");
    EXPECT_EQ(twice.options(), bootmem(96 * MiB));
    EXPECT_EQ(twice.diagnostics(), Lines{"cmdline: lu_bootmem given more than once; the last valid value counts"});
    Parsed explicit_default = parse("lu_bootmem=64M lu_bootmem=1Q");
    EXPECT_EQ(explicit_default.options(), bootmem(64 * MiB));
    EXPECT_TRUE(explicit_default.options().lu_bootmem_given);
    EXPECT_EQ(explicit_default.diagnostics().back(),
              "cmdline: lu_bootmem=1Q: bad size '1Q' (expected e.g. 64M or 64M@0x10000000); using 64 MiB");
}

TEST(Cmdline, LuBootmemRoundsUp)
{
    Parsed parsed = parse("lu_bootmem=63M");
    EXPECT_EQ(parsed.options(), bootmem(64 * MiB));
    EXPECT_EQ(parsed.diagnostics(),
              Lines{"cmdline: lu_bootmem=63M: size 63 MiB rounded up to 64 MiB (a multiple of 2 MiB)"});
    parsed = parse("lu_bootmem=16777217@0x200000");
    EXPECT_EQ(parsed.options(), bootmem(18 * MiB, true, 0x200000));
    EXPECT_EQ(parsed.result->diagnostic_count, 1u);
}

TEST(Cmdline, LuBootmemInvalid)
{
    struct Case {
        const char *text;
        const char *diagnostic;
    };
    const Case cases[] = {
        {"lu_bootmem=12Q",
         "cmdline: lu_bootmem=12Q: bad size '12Q' (expected e.g. 64M or 64M@0x10000000); using the default 64 MiB"},
        {"lu_bootmem=@0x10000000",
         "cmdline: lu_bootmem=@0x10000000: bad size '' (expected e.g. 64M or 64M@0x10000000); using the default 64 "
         "MiB"},
        {"lu_bootmem=64M@",
         "cmdline: lu_bootmem=64M@: bad address '' (expected e.g. 64M or 64M@0x10000000); using the default 64 MiB"},
        {"lu_bootmem=64M@0x1000@0",
         "cmdline: lu_bootmem=64M@0x1000@0: bad address '0x1000@0' (expected e.g. 64M or 64M@0x10000000); using the "
         "default 64 MiB"},
        {"lu_bootmem=8M", "cmdline: lu_bootmem=8M: size 8 MiB is below the minimum 16 MiB; using the default 64 MiB"},
        {"lu_bootmem=0", "cmdline: lu_bootmem=0: size 0 B is below the minimum 16 MiB; using the default 64 MiB"},
        {"lu_bootmem=64M@0x1000",
         "cmdline: lu_bootmem=64M@0x1000: address 0x1000 is not 2 MiB aligned; using the default 64 MiB"},
        {"lu_bootmem=64M@0xfffffffffc000000",
         "cmdline: lu_bootmem=64M@0xfffffffffc000000: region 0xfffffffffc000000 + 64 MiB ends beyond the physical "
         "address limit; using the default 64 MiB"},
        {"lu_bootmem=64M@0xffffffffffe00000",
         "cmdline: lu_bootmem=64M@0xffffffffffe00000: region 0xffffffffffe00000 + 64 MiB ends beyond the physical "
         "address limit; using the default 64 MiB"},
        {"lu_bootmem=16G@0xffffc00200000",
         "cmdline: lu_bootmem=16G@0xffffc00200000: region 0xffffc00200000 + 16 GiB ends beyond the physical address "
         "limit; using the default 64 MiB"},
        {"lu_bootmem=18446744073709551615",
         "cmdline: lu_bootmem=18446744073709551615: size 18446744073709551615 B is beyond the physical address "
         "limit; using the default 64 MiB"},
        {"lu_bootmem=99999999999999999999",
         "cmdline: lu_bootmem=99999999999999999999: bad size '99999999999999999999' (expected e.g. 64M or "
         "64M@0x10000000); using the default 64 MiB"},
        {"lu_bootmem", "cmdline: lu_bootmem: needs a value, e.g. lu_bootmem=64M; option ignored"},
        {"lu_bootmem=", "cmdline: lu_bootmem=: needs a value, e.g. lu_bootmem=64M; option ignored"},
    };
    for (const Case &c : cases) {
        Parsed parsed = parse(c.text);
        EXPECT_EQ(parsed.options(), KernelOptions{}) << c.text;
        EXPECT_EQ(parsed.diagnostics(), Lines{c.diagnostic}) << c.text;
        EXPECT_FALSE(parsed.result->has_fatal);
    }
}

TEST(Cmdline, BadValueKeepsEarlierValidValue)
{
    Parsed parsed = parse("lu_bootmem=128M@0x40000000 lu_bootmem=12Q loglevel=debug loglevel=loud");
    EXPECT_EQ(parsed.options(), bootmem(128 * MiB, true, 0x40000000, LogLevel::debug));
    EXPECT_EQ(parsed.diagnostics(),
              (Lines{"cmdline: lu_bootmem given more than once; the last valid value counts",
                     "cmdline: lu_bootmem=12Q: bad size '12Q' (expected e.g. 64M or 64M@0x10000000); using 128 MiB "
                     "at 0x40000000",
                     "cmdline: loglevel given more than once; the last valid value counts",
                     "cmdline: loglevel=loud: expected error|warn|info|debug or 0-3; using debug"}));
}

TEST(Cmdline, Loglevel)
{
    const struct {
        const char *text;
        LogLevel level;
    } valid[] = {
        {"loglevel=error", LogLevel::error}, {"loglevel=warn", LogLevel::warn}, {"loglevel=info", LogLevel::info},
        {"loglevel=debug", LogLevel::debug}, {"loglevel=0", LogLevel::error},   {"loglevel=1", LogLevel::warn},
        {"loglevel=2", LogLevel::info},      {"loglevel=3", LogLevel::debug},
    };
    for (const auto &c : valid) {
        Parsed parsed = parse(c.text);
        EXPECT_EQ(parsed.options().loglevel, c.level) << c.text;
        EXPECT_EQ(parsed.result->diagnostic_count, 0u) << c.text;
    }
    for (const char *bad : {"loglevel=loud", "loglevel=4", "loglevel=INFO", "loglevel=debugx", "loglevel=de",
                            "loglevel=00", "loglevel=-1"}) {
        Parsed parsed = parse(bad);
        EXPECT_EQ(parsed.options().loglevel, LogLevel::info) << bad;
        EXPECT_EQ(parsed.diagnostics(),
                  Lines{"cmdline: " + std::string(bad) + ": expected error|warn|info|debug or 0-3; using info"});
    }
    EXPECT_EQ(parse("loglevel").diagnostics(),
              Lines{"cmdline: loglevel: needs a value, e.g. loglevel=info; option ignored"});
}

TEST(Cmdline, UnknownAndNamelessWords)
{
    Parsed parsed = parse("foo console=ttyS0 /boot/baton.elf =x LogLevel=debug loglevel=warn");
    EXPECT_EQ(parsed.options().loglevel, LogLevel::warn);
    EXPECT_EQ(parsed.diagnostics(), (Lines{
                                        "cmdline: unknown option 'foo' ignored",
                                        "cmdline: unknown option 'console' ignored",
                                        "cmdline: unknown option '/boot/baton.elf' ignored",
                                        "cmdline: '=x': option without a name ignored",
                                        "cmdline: unknown option 'LogLevel' ignored",
                                    }));
    // A prefix or extension of a known key is not that key.
    EXPECT_EQ(parse("lu_bootmemx=64M lu_boot=64M").diagnostics(),
              (Lines{"cmdline: unknown option 'lu_bootmemx' ignored", "cmdline: unknown option 'lu_boot' ignored"}));
}

TEST(Cmdline, BlanksAndQuotes)
{
    EXPECT_EQ(parse("\tloglevel=debug\n\nlu_bootmem=32M\r").options(), bootmem(32 * MiB, false, 0, LogLevel::debug));
    EXPECT_EQ(parse("loglevel=\"debug\"").options().loglevel, LogLevel::debug);
    EXPECT_EQ(parse("\"loglevel=warn\"").options().loglevel, LogLevel::warn);
    EXPECT_EQ(parse("lu_bootmem=\"32M\"@\"0x200000\"").options(), bootmem(32 * MiB, true, 0x200000));

    Parsed spaced = parse("title=\"my host\" loglevel=error");
    EXPECT_EQ(spaced.options().loglevel, LogLevel::error);
    EXPECT_EQ(spaced.diagnostics(), Lines{"cmdline: unknown option 'title' ignored"});

    Parsed inner = parse("loglevel=\"de bug\"");
    EXPECT_EQ(inner.diagnostics(),
              Lines{"cmdline: loglevel=\"de bug\": expected error|warn|info|debug or 0-3; using info"});

    Parsed open = parse("loglevel=debug lu_bootmem=\"32M loglevel=error");
    EXPECT_FALSE(open.options().lu_bootmem_given);
    EXPECT_EQ(open.options().loglevel, LogLevel::debug);
    EXPECT_EQ(open.diagnostics(), Lines{"cmdline: 'lu_bootmem=\"32M loglevel=error': unterminated quote; ignored"});

    EXPECT_EQ(parse("\"\"").diagnostics(), Lines{"cmdline: '\"\"': option without a name ignored"});
}

TEST(Cmdline, HostileWords)
{
    std::string long_word = "lu_bootmem=" + std::string(400, '9');
    Parsed parsed = parse(long_word.c_str());
    EXPECT_EQ(parsed.options(), KernelOptions{});
    EXPECT_EQ(parsed.diagnostics(),
              Lines{"cmdline: 'lu_bootmem=9999999999999999999999999999999999999...': longer than 255 characters; "
                    "ignored"});

    // Exactly at the limit is parsed (and then rejected for its value, which is shown cut).
    std::string at_limit = "lu_bootmem=" + std::string(MAX_CMDLINE_WORD_LENGTH - 11, '1');
    parsed = parse(at_limit.c_str());
    ASSERT_EQ(parsed.result->diagnostic_count, 1u);
    EXPECT_NE(parsed.diagnostics()[0].find("bad size '111111111111111111111111111111111111111111111111...'"),
              std::string::npos)
        << parsed.diagnostics()[0];

    // Control characters and non-ASCII bytes never reach the console raw.
    parsed = parse("fo\x1b[2Jo=\x01\xff loglevel=\x7f");
    EXPECT_EQ(parsed.diagnostics(), (Lines{"cmdline: unknown option 'fo?[2Jo' ignored",
                                           "cmdline: loglevel=?: expected error|warn|info|debug or 0-3; using info"}));
}

TEST(Cmdline, DiagnosticsOverflow)
{
    std::string text;
    for (int i = 0; i < 20; i++)
        text += "junk" + std::to_string(i) + " ";
    text += "loglevel=debug";
    Parsed parsed = parse(text.c_str());
    EXPECT_EQ(parsed.options().loglevel, LogLevel::debug);
    EXPECT_EQ(parsed.result->diagnostic_count, MAX_CMDLINE_DIAGNOSTICS);
    EXPECT_EQ(parsed.result->dropped_diagnostics, 20 - MAX_CMDLINE_DIAGNOSTICS);
    EXPECT_EQ(parsed.diagnostics().back(), "cmdline: unknown option 'junk11' ignored");

    LogLevel saved = log_level();
    log_set_level(LogLevel::info);
    console_capture_begin();
    log_cmdline_diagnostics(*parsed.result);
    std::string out = console_capture_end();
    log_set_level(saved);
    EXPECT_EQ(out.find("[W] cmdline: unknown option 'junk0' ignored\n"), 0u) << out;
    EXPECT_NE(out.find("[W] cmdline: 8 more problems not shown\n"), std::string::npos) << out;
}

TEST(Cmdline, LogDiagnosticsBySeverity)
{
    CmdlineResult result;
    result.diagnostic_count = 2;
    result.diagnostics[0].severity = CmdlineSeverity::warning;
    snprintf(result.diagnostics[0].text, CMDLINE_DIAGNOSTIC_SIZE, "cmdline: first");
    result.diagnostics[1].severity = CmdlineSeverity::fatal;
    snprintf(result.diagnostics[1].text, CMDLINE_DIAGNOSTIC_SIZE, "cmdline: second");
    console_capture_begin();
    log_cmdline_diagnostics(result);
    EXPECT_EQ(console_capture_end(), "[W] cmdline: first\n[E] cmdline: second\n");
}

TEST(Cmdline, Format)
{
    EXPECT_EQ(format_options(KernelOptions{}), "loglevel=info"); // lu_bootmem not given: not passed on
    KernelOptions debug;
    debug.loglevel = LogLevel::debug;
    EXPECT_EQ(format_options(debug), "loglevel=debug");
    EXPECT_EQ(format_options(bootmem(64 * MiB)), "lu_bootmem=64M loglevel=info");
    EXPECT_EQ(format_options(bootmem(64 * MiB, true, 0x10000000, LogLevel::debug)),
              "lu_bootmem=64M@0x10000000 loglevel=debug");
    EXPECT_EQ(format_options(bootmem(2 * GiB, false, 0, LogLevel::error)), "lu_bootmem=2G loglevel=error");
    EXPECT_EQ(format_options(bootmem(3 * GiB + 2 * MiB, true, 0)), "lu_bootmem=3074M@0x0 loglevel=info");
    EXPECT_EQ(format_options(bootmem(12345)), "lu_bootmem=12345 loglevel=info");
    EXPECT_EQ(format_options(bootmem(12 * KiB)), "lu_bootmem=12K loglevel=info");

    // Truncation: full length reported, output cut and terminated.
    KernelOptions options = bootmem(64 * MiB, true, 0x10000000, LogLevel::debug);
    const std::string full = "lu_bootmem=64M@0x10000000 loglevel=debug";
    for (usize capacity = 0; capacity <= full.size() + 1; capacity++) {
        std::vector<char> buffer(capacity + 8, '#');
        usize length = format_kernel_options(options, buffer.data(), capacity);
        EXPECT_EQ(length, full.size());
        if (capacity > 0) {
            EXPECT_EQ(std::string(buffer.data()), full.substr(0, capacity - 1)) << capacity;
        }
        for (usize i = capacity; i < buffer.size(); i++)
            EXPECT_EQ(buffer[i], '#') << "wrote past capacity " << capacity;
    }
    EXPECT_EQ(format_kernel_options(options, nullptr, 0), full.size());
}

TEST(Cmdline, FormatThenParseRoundTrips)
{
    KernelOptions quiet;
    quiet.loglevel = LogLevel::error;
    std::vector<KernelOptions> samples = {KernelOptions{},
                                          quiet,
                                          bootmem(64 * MiB),
                                          bootmem(16 * MiB),
                                          bootmem(18 * MiB, true, 0x200000, LogLevel::warn),
                                          bootmem(GiB, true, 0, LogLevel::error),
                                          bootmem(130 * MiB, true, 0xffffc0000000, LogLevel::debug),
                                          bootmem(4 * GiB, true, 0x7ffff00000000, LogLevel::info)};
    std::mt19937_64 random(99);
    for (int i = 0; i < 200; i++) {
        u64 size = align_up(LU_BOOTMEM_MIN_SIZE + random() % (64 * GiB), LU_BOOTMEM_ALIGN);
        bool fixed = random() % 2;
        u64 address = fixed ? align_down(random() % (PHYS_ADDRESS_LIMIT - size), LU_BOOTMEM_ALIGN) : 0;
        samples.push_back(bootmem(size, fixed, address, static_cast<LogLevel>(random() % 4)));
    }
    for (const KernelOptions &options : samples) {
        std::string text = format_options(options);
        Parsed parsed = parse(text.c_str());
        EXPECT_EQ(parsed.options(), options) << text;
        EXPECT_EQ(parsed.result->diagnostic_count, 0u) << text;
    }
}

// Random bytes: the parser must stay in bounds (ASan), keep diagnostics bounded and
// printable, and never claim a fatal problem.
TEST(Cmdline, SurvivesRandomInput)
{
    std::mt19937 random(7);
    const std::string alphabet = "lu_bootmem=loglevel@0x123456789MGKiB\"  \t=debug";
    for (int round = 0; round < 5000; round++) {
        usize length = random() % 600;
        std::string text;
        for (usize i = 0; i < length; i++)
            text += (random() % 3 == 0) ? static_cast<char>(1 + random() % 255) : alphabet[random() % alphabet.size()];
        Parsed parsed = parse(text.c_str());
        ASSERT_LE(parsed.result->diagnostic_count, MAX_CMDLINE_DIAGNOSTICS);
        EXPECT_FALSE(parsed.result->has_fatal);
        const KernelOptions &options = parsed.options();
        EXPECT_GE(options.lu_bootmem_size, LU_BOOTMEM_MIN_SIZE);
        EXPECT_TRUE(is_aligned(options.lu_bootmem_size, LU_BOOTMEM_ALIGN));
        EXPECT_TRUE(is_aligned(options.lu_bootmem_address, LU_BOOTMEM_ALIGN));
        EXPECT_LE(options.lu_bootmem_address + options.lu_bootmem_size, PHYS_ADDRESS_LIMIT);
        for (const std::string &line : parsed.diagnostics()) {
            ASSERT_EQ(line.rfind("cmdline: ", 0), 0u) << line;
            for (char c : line)
                ASSERT_TRUE(c >= 0x20 && c <= 0x7e) << "unprintable byte in: " << line;
        }
    }
}

TEST(CmdlineChoices, AfterBootAndSelftest)
{
    CmdlineResult result;
    parse_kernel_command_line("after_boot=exit selftest=page_fault", result);
    EXPECT_EQ(result.diagnostic_count, 0u);
    EXPECT_EQ(result.options.after_boot, AfterBoot::exit);
    EXPECT_EQ(result.options.selftest, Selftest::page_fault);
    EXPECT_STREQ(selftest_name(result.options.selftest), "page_fault");

    CmdlineResult bad;
    parse_kernel_command_line("after_boot=sleep selftest=meltdown", bad);
    ASSERT_EQ(bad.diagnostic_count, 2u);
    EXPECT_STREQ(bad.diagnostics[0].text, "cmdline: after_boot=sleep: expected run|exit; using run");
    EXPECT_STREQ(
        bad.diagnostics[1].text,
        "cmdline: selftest=meltdown: expected none|page_fault|invalid_opcode|stack_overflow|panic; using none");
    EXPECT_EQ(bad.options.after_boot, AfterBoot::run);
    EXPECT_EQ(bad.options.selftest, Selftest::none);

    // Boot-only choices are not handed to the next image.
    char text[256];
    format_kernel_options(result.options, text, sizeof(text));
    EXPECT_EQ(std::string(text).find("after_boot"), std::string::npos);
    EXPECT_EQ(std::string(text).find("selftest"), std::string::npos);
}

TEST(Cmdline, LuRecordValidAndRoundTrips)
{
    Parsed parsed = parse("lu_record=0x40000000,0x3000,0xdeadbeef");
    EXPECT_TRUE(parsed.diagnostics().empty());
    const KernelOptions &options = parsed.options();
    EXPECT_TRUE(options.lu_record_given);
    EXPECT_EQ(options.lu_record_address, 0x40000000u);
    EXPECT_EQ(options.lu_record_size, 0x3000u);
    EXPECT_EQ(options.lu_record_crc, 0xdeadbeefu);
    EXPECT_EQ(parse(format_options(options).c_str()).options(), options);
    EXPECT_NE(format_options(options).find("lu_record=0x40000000,0x3000,0xdeadbeef"), std::string::npos);
    // Without the option nothing about it is written.
    EXPECT_EQ(format_options(KernelOptions{}).find("lu_record"), std::string::npos);
}

TEST(Cmdline, LuRecordInvalid)
{
    for (const char *text : {"lu_record=0x1000", "lu_record=0x1000,0x10", "lu_record=0x1000,0x10,0x1,4",
                             "lu_record=0x1001,0x10,0x1", "lu_record=0x1000,0,0x1", "lu_record=0x1000,0x10,0x100000000",
                             "lu_record=x,0x10,0x1", "lu_record=0xfffffffffffff000,0x2000,0x1", "lu_record="}) {
        Parsed parsed = parse(text);
        EXPECT_FALSE(parsed.options().lu_record_given) << text;
        ASSERT_EQ(parsed.diagnostics().size(), 1u) << text;
        EXPECT_NE(parsed.diagnostics()[0].find("lu_record"), std::string::npos) << parsed.diagnostics()[0];
    }
}

TEST(Cmdline, LuRequireSignature)
{
    EXPECT_TRUE(KernelOptions{}.lu_require_signature) << "signatures are required unless the command line says no";
    EXPECT_TRUE(parse("lu_require_signature=yes").options().lu_require_signature);
    Parsed no = parse("lu_require_signature=no");
    EXPECT_TRUE(no.diagnostics().empty());
    EXPECT_FALSE(no.options().lu_require_signature);
    // Passed on to the next image only when it is `no`, so an update keeps the policy.
    EXPECT_EQ(format_options(no.options()), "loglevel=info lu_require_signature=no");
    EXPECT_EQ(parse(format_options(no.options()).c_str()).options(), no.options());
    EXPECT_EQ(format_options(KernelOptions{}).find("lu_require_signature"), std::string::npos);

    // A bad value keeps what was in force: the default, or an earlier valid value.
    Parsed bad = parse("lu_require_signature=off");
    EXPECT_TRUE(bad.options().lu_require_signature);
    EXPECT_EQ(bad.diagnostics(), Lines{"cmdline: lu_require_signature=off: expected yes|no; using yes"});
    Parsed later = parse("lu_require_signature=no lu_require_signature=NO");
    EXPECT_FALSE(later.options().lu_require_signature);
    EXPECT_EQ(later.diagnostics(),
              (Lines{"cmdline: lu_require_signature given more than once; the last valid value counts",
                     "cmdline: lu_require_signature=NO: expected yes|no; using no"}));
    EXPECT_EQ(parse("lu_require_signature").diagnostics(),
              Lines{"cmdline: lu_require_signature: needs a value, e.g. lu_require_signature=no; option ignored"});
}

TEST(Cmdline, RollbackOptionsRoundTrip)
{
    Parsed parsed = parse("lu_rollback=0x1ffc0000 lu_fault=hang_sti");
    EXPECT_TRUE(parsed.diagnostics().empty());
    EXPECT_EQ(parsed.options().lu_rollback_kit, 0x1ffc0000u);
    EXPECT_EQ(parsed.options().lu_rolled_back_kit, 0u);
    EXPECT_EQ(parsed.options().lu_fault, InjectedFault::hang_sti);
    EXPECT_EQ(parse(format_options(parsed.options()).c_str()).options(), parsed.options());
    Parsed back = parse("lu_rolled_back=0x9000");
    EXPECT_EQ(back.options().lu_rolled_back_kit, 0x9000u);
    EXPECT_EQ(format_options(back.options()), "loglevel=info lu_rolled_back=0x9000");
    // None of them is written when absent: a jump sets them for that jump only.
    const std::string plain = format_options(KernelOptions{});
    for (const char *key : {"lu_rollback", "lu_rolled_back", "lu_fault"})
        EXPECT_EQ(plain.find(key), std::string::npos) << key;
}

TEST(Cmdline, RollbackKitAddressesMustBePagesBelow4G)
{
    for (const char *text : {"lu_rollback=0", "lu_rollback=0x1001", "lu_rollback=0x100000000", "lu_rolled_back=x",
                             "lu_rolled_back=0xfffff000000"}) {
        Parsed parsed = parse(text);
        EXPECT_EQ(parsed.options().lu_rollback_kit, 0u) << text;
        EXPECT_EQ(parsed.options().lu_rolled_back_kit, 0u) << text;
        ASSERT_EQ(parsed.diagnostics().size(), 1u) << text;
        EXPECT_NE(parsed.diagnostics()[0].find("rollback kit below 4 GiB"), std::string::npos)
            << parsed.diagnostics()[0];
    }
    Parsed bad = parse("lu_fault=explode");
    EXPECT_EQ(bad.options().lu_fault, InjectedFault::none);
    ASSERT_EQ(bad.diagnostics().size(), 1u);
    EXPECT_NE(bad.diagnostics()[0].find("none|panic_early|exception_restore"), std::string::npos)
        << bad.diagnostics()[0];
}

TEST(Cmdline, InjectedFaultNamesTakeDashesOrUnderscores)
{
    InjectedFault fault = InjectedFault::none;
    for (unsigned i = 0; i < static_cast<unsigned>(InjectedFault::count); i++) {
        const std::string name = injected_fault_name(static_cast<InjectedFault>(i));
        std::string dashed = name;
        std::replace(dashed.begin(), dashed.end(), '_', '-');
        for (const std::string &text : {name, dashed}) {
            ASSERT_TRUE(injected_fault_from_name(text.c_str(), text.size(), fault)) << text;
            EXPECT_EQ(fault, static_cast<InjectedFault>(i)) << text;
        }
    }
    EXPECT_FALSE(injected_fault_from_name("hang", 4, fault));
    EXPECT_FALSE(injected_fault_from_name("hang-cli-x", 10, fault));
    EXPECT_FALSE(injected_fault_from_name("hang_cl", 7, fault));
}

TEST(Cmdline, SmpCpus)
{
    EXPECT_EQ(KernelOptions{}.smp_cpus, 0u) << "every processor unless the command line says otherwise";
    Parsed two = parse("smp=2");
    EXPECT_TRUE(two.diagnostics().empty());
    EXPECT_EQ(two.options().smp_cpus, 2u);
    // Passed on through kexec and live update, so an update keeps the machine's CPU count.
    EXPECT_EQ(format_options(two.options()), "loglevel=info smp=2");
    EXPECT_EQ(parse(format_options(two.options()).c_str()).options(), two.options());
    EXPECT_EQ(format_options(KernelOptions{}).find("smp"), std::string::npos);
    EXPECT_EQ(parse("smp=1").options().smp_cpus, 1u);

    for (const char *bad : {"smp=0", "smp=many", "smp=5000", "smp=-1"}) {
        Parsed refused = parse(bad);
        EXPECT_EQ(refused.options().smp_cpus, 0u) << bad;
        ASSERT_EQ(refused.diagnostics().size(), 1u) << bad;
        EXPECT_NE(refused.diagnostics()[0].find("expected the number of processors"), std::string::npos)
            << refused.diagnostics()[0];
    }
    Parsed bare = parse("smp");
    ASSERT_EQ(bare.diagnostics().size(), 1u);
    EXPECT_NE(bare.diagnostics()[0].find("e.g. smp=1"), std::string::npos) << bare.diagnostics()[0];
}

TEST(Cmdline, MemDeferPace)
{
    EXPECT_EQ(KernelOptions{}.mem_defer_pace, MEM_DEFER_PACE_DEFAULT);
    Parsed slow = parse("mem_defer_pace=1");
    EXPECT_TRUE(slow.diagnostics().empty());
    EXPECT_EQ(slow.options().mem_defer_pace, 1u);
    EXPECT_EQ(parse("mem_defer_pace=0").options().mem_defer_pace, 0u);
    // Passed on to the next image unless it is the default.
    EXPECT_EQ(format_options(slow.options()), "loglevel=info mem_defer_pace=1");
    EXPECT_EQ(parse(format_options(slow.options()).c_str()).options(), slow.options());
    EXPECT_EQ(format_options(KernelOptions{}).find("mem_defer_pace"), std::string::npos);

    Parsed bad = parse("mem_defer_pace=70000");
    EXPECT_EQ(bad.options().mem_defer_pace, MEM_DEFER_PACE_DEFAULT);
    EXPECT_EQ(bad.diagnostics(),
              Lines{"cmdline: mem_defer_pace=70000: expected a number of 2 MiB sections per pass, 0 to 65536; "
                    "using 16"});
    EXPECT_EQ(parse("mem_defer_pace=fast").options().mem_defer_pace, MEM_DEFER_PACE_DEFAULT);
    EXPECT_EQ(parse("mem_defer_pace").diagnostics(),
              Lines{"cmdline: mem_defer_pace: needs a value, e.g. mem_defer_pace=4; option ignored"});
}
