// SPDX-License-Identifier: MIT
// Unit tests for the control channel's line assembly, tokenizer, argument checks,
// errno names and response formatting.
#include "abi/errno.h"
#include "control/arguments.hpp"
#include "control/errno_names.hpp"
#include "control/line_assembler.hpp"
#include "control/reply.hpp"
#include "control/words.hpp"
#include "test_control_support.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

// What the assembler makes of a byte string: each finished line, or its failure.
std::vector<std::string> assemble(LineAssembler &assembler, const std::string &bytes)
{
    std::vector<std::string> events;
    for (char byte : bytes) {
        switch (assembler.feed(byte)) {
        case LineAssembler::Result::pending: break;
        case LineAssembler::Result::line:
            EXPECT_EQ(std::string(assembler.line()).size(), assembler.length());
            events.push_back("line:" + std::string(assembler.line()));
            break;
        case LineAssembler::Result::too_long: events.push_back("too_long"); break;
        case LineAssembler::Result::bad_byte:
            events.push_back("bad:" + std::to_string(assembler.bad_byte()) + "@" +
                             std::to_string(assembler.bad_column()));
            break;
        }
    }
    return events;
}

std::vector<std::string> assemble(const std::string &bytes)
{
    LineAssembler assembler;
    return assemble(assembler, bytes);
}

using Events = std::vector<std::string>;

std::vector<std::string> split(std::string line, bool *too_many = nullptr)
{
    Words words;
    split_words(line.data(), words);
    if (too_many != nullptr)
        *too_many = words.too_many;
    std::vector<std::string> result;
    for (usize i = 0; i < words.count; i++)
        result.emplace_back(words[i]);
    return result;
}

} // namespace

// ---- line assembly -------------------------------------------------------------------------

TEST(ControlLine, LfCrAndCrlfEndLinesAndEmptyLinesAreSkipped)
{
    EXPECT_EQ(assemble("list\n"), (Events{"line:list"}));
    EXPECT_EQ(assemble("list\r\nmem\r\n"), (Events{"line:list", "line:mem"}));
    EXPECT_EQ(assemble("a\rb\n\n\r\n\nc\n"), (Events{"line:a", "line:b", "line:c"}));
    EXPECT_EQ(assemble("no newline yet"), Events{});
}

TEST(ControlLine, BytesMayArriveInAnySplit)
{
    const std::string stream = "pause 3\r\ncreate counter ram=64M\nmem\n";
    Events whole = assemble(stream);
    ASSERT_EQ(whole, (Events{"line:pause 3", "line:create counter ram=64M", "line:mem"}));
    for (size_t cut = 0; cut <= stream.size(); cut++) {
        LineAssembler assembler;
        Events events = assemble(assembler, stream.substr(0, cut));
        Events rest = assemble(assembler, stream.substr(cut));
        events.insert(events.end(), rest.begin(), rest.end());
        EXPECT_EQ(events, whole) << "cut at " << cut;
    }
}

TEST(ControlLine, LongestLineFitsAndOneMoreIsRefusedWhole)
{
    std::string longest(CONTROL_LINE_MAX, 'x');
    EXPECT_EQ(assemble(longest + "\n"), (Events{"line:" + longest}));
    EXPECT_EQ(assemble(longest + "y\nlist\n"), (Events{"too_long", "line:list"}));
    // Far longer: still one report, and the tail of the long line never becomes a line.
    std::string huge(CONTROL_LINE_MAX * 5, 'z');
    huge[CONTROL_LINE_MAX * 4 + 10] = '\r';
    EXPECT_EQ(assemble(huge + "\nmem\n"),
              (Events{"too_long", "line:" + std::string(CONTROL_LINE_MAX - 11, 'z'), "line:mem"}));
}

TEST(ControlLine, OverlongLineWithoutTerminatorStaysQuietUntilItEnds)
{
    LineAssembler assembler;
    EXPECT_EQ(assemble(assembler, std::string(CONTROL_LINE_MAX * 3, 'q')), Events{});
    EXPECT_EQ(assemble(assembler, "q\n"), (Events{"too_long"}));
    EXPECT_EQ(assemble(assembler, "version\n"), (Events{"line:version"}));
}

TEST(ControlLine, NulControlAndHighBytesSpoilTheLine)
{
    EXPECT_EQ(assemble(std::string("li\0st\nmem\n", 10)), (Events{"bad:0@3", "line:mem"}));
    EXPECT_EQ(assemble("a\x01\x02\n"), (Events{"bad:1@2"}));
    EXPECT_EQ(assemble("\x7f\n"), (Events{"bad:127@1"}));
    EXPECT_EQ(assemble("caf\xc3\xa9\n"), (Events{"bad:195@4"}));
    EXPECT_EQ(assemble("\x1b[A\n"), (Events{"bad:27@1"}));
    EXPECT_EQ(assemble("pause\t3\n"), (Events{"line:pause\t3"})); // tab is a blank
}

TEST(ControlLine, CtrlUDropsThePartialLine)
{
    EXPECT_EQ(assemble("destroy 3\x15list\n"), (Events{"line:list"}));
    EXPECT_EQ(assemble("\x15\x15list\n"), (Events{"line:list"}));
    EXPECT_EQ(assemble(std::string("x\0y\x15mem\n", 8)), (Events{"line:mem"}));
    EXPECT_EQ(assemble(std::string(CONTROL_LINE_MAX + 50, 'x') + "\x15mem\n"), (Events{"line:mem"}));
}

TEST(ControlLine, LineStaysReadableUntilTheNextByte)
{
    LineAssembler assembler;
    for (char c : std::string("pause 1"))
        EXPECT_EQ(assembler.feed(c), LineAssembler::Result::pending);
    ASSERT_EQ(assembler.feed('\n'), LineAssembler::Result::line);
    EXPECT_STREQ(assembler.line(), "pause 1");
    EXPECT_EQ(assembler.feed('\n'), LineAssembler::Result::pending); // the LF of a CRLF
    EXPECT_EQ(assembler.feed('m'), LineAssembler::Result::pending);
    EXPECT_EQ(assembler.length(), 1u);
}

// ---- tokenizer ------------------------------------------------------------------------------

TEST(ControlWords, SplitsAtRunsOfBlanks)
{
    using W = std::vector<std::string>;
    EXPECT_EQ(split("create counter name=a ram=64M"), (W{"create", "counter", "name=a", "ram=64M"}));
    EXPECT_EQ(split("  \t pause \t  3  "), (W{"pause", "3"}));
    EXPECT_EQ(split(""), W{});
    EXPECT_EQ(split(" \t "), W{});
    EXPECT_EQ(split("x"), W{"x"});
}

TEST(ControlWords, CountsTooManyWords)
{
    std::string line;
    for (usize i = 0; i < CONTROL_MAX_WORDS; i++)
        line += "w" + std::to_string(i) + " ";
    bool too_many = true;
    EXPECT_EQ(split(line, &too_many).size(), CONTROL_MAX_WORDS);
    EXPECT_FALSE(too_many);
    EXPECT_EQ(split(line + "one-more", &too_many).size(), CONTROL_MAX_WORDS);
    EXPECT_TRUE(too_many);
}

TEST(ControlWords, WordIsComparesWholeWords)
{
    EXPECT_TRUE(word_is("list", "list"));
    EXPECT_FALSE(word_is("lis", "list"));
    EXPECT_FALSE(word_is("lists", "list"));
    EXPECT_FALSE(word_is("LIST", "list"));
    EXPECT_TRUE(word_is("", ""));
}

// ---- argument checks ----------------------------------------------------------------------

TEST(ControlArguments, DecimalNumbers)
{
    u64 value = 99;
    EXPECT_TRUE(parse_decimal("0", 10, value));
    EXPECT_EQ(value, 0u);
    EXPECT_TRUE(parse_decimal("0010", 10, value));
    EXPECT_EQ(value, 10u);
    EXPECT_TRUE(parse_decimal("18446744073709551615", ~u64{0}, value));
    EXPECT_EQ(value, ~u64{0});
    value = 7;
    for (const char *bad : {"", "11", "-1", "+1", "0x1", "1k", " 1", "1 ", "18446744073709551616"})
        EXPECT_FALSE(parse_decimal(bad, bad[0] == '1' && bad[1] == '8' ? ~u64{0} : 10, value)) << bad;
    EXPECT_EQ(value, 7u); // untouched on failure
}

TEST(ControlArguments, DomainIds)
{
    u32 id = 0;
    EXPECT_TRUE(parse_domain_id("0", id));
    EXPECT_TRUE(parse_domain_id("32767", id));
    EXPECT_EQ(id, 32767u);
    for (const char *bad : {"32768", "4294967297", "-3", "abc", "3a", ""})
        EXPECT_FALSE(parse_domain_id(bad, id)) << bad;
}

TEST(ControlArguments, NamesModulesAndNonces)
{
    EXPECT_TRUE(is_domain_name("counter-2.test_x"));
    EXPECT_TRUE(is_domain_name("9lives"));
    EXPECT_TRUE(is_domain_name(std::string(CONTROL_DOMAIN_NAME_MAX, 'n').c_str()));
    for (const char *bad : {"", "-dash", ".dot", "a b", "a=b", "a/b", "ä"})
        EXPECT_FALSE(is_domain_name(bad)) << bad;
    EXPECT_FALSE(is_domain_name(std::string(CONTROL_DOMAIN_NAME_MAX + 1, 'n').c_str()));

    EXPECT_TRUE(is_module_name("/boot/counter.elf"));
    EXPECT_TRUE(is_module_name("guest+v2"));
    EXPECT_FALSE(is_module_name("ram=64M"));
    EXPECT_FALSE(is_module_name(""));
    EXPECT_FALSE(is_module_name(std::string(CONTROL_MODULE_NAME_MAX + 1, 'm').c_str()));

    EXPECT_TRUE(is_nonce("a1B2_-"));
    EXPECT_FALSE(is_nonce("a.b"));
    EXPECT_FALSE(is_nonce(std::string(CONTROL_NONCE_MAX + 1, 'n').c_str()));
}

TEST(ControlArguments, YesNoAndOptions)
{
    bool value = false;
    EXPECT_TRUE(parse_yes_no("yes", value));
    EXPECT_TRUE(value);
    EXPECT_TRUE(parse_yes_no("0", value));
    EXPECT_FALSE(value);
    EXPECT_FALSE(parse_yes_no("true", value));
    EXPECT_FALSE(parse_yes_no("", value));

    Option option = split_option("ram=64M=x");
    EXPECT_TRUE(option_key_is(option, "ram"));
    EXPECT_FALSE(option_key_is(option, "ra"));
    EXPECT_FALSE(option_key_is(option, "rams"));
    EXPECT_STREQ(option.value, "64M=x");
    EXPECT_EQ(split_option("bare").value, nullptr);
    EXPECT_FALSE(option_key_is(split_option("ram"), "ram"));
    Option empty = split_option("name=");
    EXPECT_STREQ(empty.value, "");
    EXPECT_EQ(split_option("=v").key_length, 0u);
}

TEST(ControlArguments, ShownWordsAreCutAndTokensCleaned)
{
    EXPECT_STREQ(show_word("short").text, "short");
    EXPECT_STREQ(show_word(std::string(100, 'a').c_str()).text, (std::string(40, 'a') + "...").c_str());
    EXPECT_STREQ(show_token("my dom=1\tx").text, "my_dom_1_x");
    EXPECT_STREQ(show_token("").text, "-");
    EXPECT_STREQ(show_token(nullptr).text, "-");
    EXPECT_EQ(std::string(show_token(std::string(200, 't').c_str()).text).size(), 63u);
}

// ---- errno names --------------------------------------------------------------------------

TEST(ControlErrno, EveryAbiCodeHasANameAndDescription)
{
    const std::vector<std::pair<int, const char *>> codes = {
        {BATON_EPERM, "EPERM"},         {BATON_ENOENT, "ENOENT"},   {BATON_EIO, "EIO"},       {BATON_E2BIG, "E2BIG"},
        {BATON_ENOMEM, "ENOMEM"},       {BATON_EFAULT, "EFAULT"},   {BATON_EBUSY, "EBUSY"},   {BATON_EEXIST, "EEXIST"},
        {BATON_EINVAL, "EINVAL"},       {BATON_ENOSPC, "ENOSPC"},   {BATON_ERANGE, "ERANGE"}, {BATON_ENOSYS, "ENOSYS"},
        {BATON_EOVERFLOW, "EOVERFLOW"}, {BATON_EBADMSG, "EBADMSG"}, {BATON_ENODEV, "ENODEV"}, {BATON_EAGAIN, "EAGAIN"},
        {BATON_ETIMEDOUT, "ETIMEDOUT"},
    };
    for (auto [code, name] : codes) {
        EXPECT_STREQ(errno_name(code), name);
        EXPECT_STREQ(errno_name(-code), name);
        EXPECT_STRNE(errno_description(code), "unknown error") << name;
    }
    EXPECT_STREQ(errno_name(999), "EUNKNOWN");
    EXPECT_STREQ(errno_name(0), "EUNKNOWN");
    EXPECT_STREQ(errno_name(-2147483647 - 1), "EUNKNOWN");
    EXPECT_STREQ(errno_description(-999), "unknown error");
}

// ---- response formatting ----------------------------------------------------------------

TEST(ControlReply, DataThenOneStatus)
{
    CapturedOutput output;
    Reply reply(output);
    reply.start();
    reply.data("domain id=%u", 1u);
    reply.ok("done %d", 2);
    reply.ok(); // a second status is dropped
    reply.error(BATON_EIO, "%s", "no"); // and so is a late error
    reply.data("%s", "late"); // and data after the status
    EXPECT_EQ(output.all, ". domain id=1\nok done 2\n");
    EXPECT_EQ(output.broken_writes, 0);

    output.all.clear();
    reply.start();
    reply.ok();
    reply.start();
    reply.error(-BATON_EBUSY, "domain %u is busy", 3u);
    EXPECT_EQ(output.all, "ok\nerror EBUSY domain 3 is busy\n");
    EXPECT_TRUE(reply.finished());
}

TEST(ControlReply, LinesAreCutAndCleaned)
{
    CapturedOutput output;
    Reply reply(output);
    reply.start();
    reply.data("%s", std::string(CONTROL_LINE_MAX * 2, 'x').c_str());
    reply.data("evil\nok forged\r\x01\x7f\xff");
    std::vector<std::string> lines = output.take_lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].size(), CONTROL_LINE_MAX);
    EXPECT_EQ(lines[0].substr(CONTROL_LINE_MAX - 4), "x...");
    EXPECT_EQ(lines[1], ". evil?ok forged????");
    EXPECT_EQ(output.broken_writes, 0);

    reply.error(BATON_EINVAL, "%s", std::string(CONTROL_LINE_MAX, 'e').c_str());
    lines = output.take_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind("error EINVAL eee", 0), 0u);
    EXPECT_EQ(lines[0].size(), CONTROL_LINE_MAX);
}
