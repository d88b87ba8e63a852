// SPDX-License-Identifier: MIT
// Unit tests for the control channel's commands against a fake backend: dispatch, each
// command's argument checks, backend errors and the response format.
#include "test_control_support.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using Lines = std::vector<std::string>;

void with_domains(ControlHarness &harness)
{
    harness.backend.domains = {{1, "counter", "running", 64 * MiB, 1}, {2, "checksum", "paused", 128 * MiB, 2}};
    harness.backend.next_id = 3;
}

} // namespace

TEST(ControlCommands, EmptyAndBlankLinesGetNoAnswer)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send(""), Lines{});
    EXPECT_EQ(harness.send("   \t "), Lines{});
    EXPECT_TRUE(harness.backend.calls.empty());
}

TEST(ControlCommands, UnknownCommandIsAnErrorLine)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("frobnicate 1 2"),
              Lines{"error ENOSYS unknown command 'frobnicate'; 'help' lists the commands"});
    EXPECT_EQ(harness.status("LIST"), "error ENOSYS unknown command 'LIST'; 'help' lists the commands");
    EXPECT_EQ(harness.status(". x"), "error ENOSYS unknown command '.'; 'help' lists the commands");
    EXPECT_EQ(harness.status("ok"), "error ENOSYS unknown command 'ok'; 'help' lists the commands");
    // A long unknown word is quoted cut short, so the line stays readable.
    EXPECT_EQ(harness.status(std::string(300, 'w')),
              "error ENOSYS unknown command '" + std::string(40, 'w') + "...'; 'help' lists the commands");
}

TEST(ControlCommands, TransportErrorsAreAnsweredAndTheChannelRecovers)
{
    ControlHarness harness;
    harness.channel.feed(std::string(CONTROL_LINE_MAX + 1, 'x').c_str(), CONTROL_LINE_MAX + 1);
    EXPECT_EQ(harness.send(""), (Lines{"error E2BIG line too long (more than 1024 characters); ignored"}));
    EXPECT_EQ(harness.send(std::string("li\0st", 5)),
              (Lines{"error EINVAL byte 0x00 at column 3 is not printable ASCII; line ignored"}));
    EXPECT_EQ(harness.status("a b c d e f g h i j k l m"), "error E2BIG more than 12 words; line ignored");
    EXPECT_EQ(harness.status("version"), "ok");
}

TEST(ControlCommands, EveryLineWithContentGetsExactlyOneStatus)
{
    ControlHarness harness;
    with_domains(harness);
    const std::vector<std::string> requests = {
        "help",           "version",          "sync abc",   "list",         "mem",
        "create counter", "pause 1",          "unpause 1",  "destroy 2",    "pause",
        "pause 1 2",      "create",           "bogus",      "upload",       "upload begin",
        "download",       "download chunk 0", "upload end", "upload abort", "download end",
        "sync",           "sync a.b",
    };
    std::string stream;
    for (const std::string &request : requests)
        stream += request + "\r\n";
    harness.channel.feed(stream.data(), stream.size());
    Lines lines = harness.output.take_lines();
    usize statuses = 0;
    for (const std::string &line : lines) {
        if (ControlHarness::is_status(line))
            statuses++;
        else
            EXPECT_EQ(line.rfind(". ", 0), 0u) << line;
    }
    EXPECT_EQ(statuses, requests.size());
    EXPECT_TRUE(ControlHarness::is_status(lines.back()));
    EXPECT_EQ(harness.output.broken_writes, 0);
}

TEST(ControlCommands, WrongArgumentCountsShowUsage)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("pause"), "error EINVAL usage: pause ID");
    EXPECT_EQ(harness.status("destroy 1 2"), "error EINVAL usage: destroy ID");
    EXPECT_EQ(harness.status("list all"), "error EINVAL usage: list");
    EXPECT_EQ(harness.status("create"),
              "error EINVAL usage: create MODULE [name=NAME] [ram=SIZE] [vcpus=N] [start=yes|no] [assign=BB:DD.F]");
    EXPECT_EQ(harness.status("create m a=1 b=2 c=3 d=4 e=5 f=6"),
              "error EINVAL usage: create MODULE [name=NAME] [ram=SIZE] [vcpus=N] [start=yes|no] [assign=BB:DD.F]");
    EXPECT_TRUE(harness.backend.calls.empty());
}

TEST(ControlCommands, HelpListsEveryCommand)
{
    ControlHarness harness;
    Lines lines = harness.send("help");
    ASSERT_EQ(lines.size(), control_command_count + 1);
    EXPECT_EQ(lines[0], ". help -- list the commands");
    EXPECT_EQ(lines[5], ". pause ID -- pause a domain");
    for (usize i = 0; i < control_command_count; i++)
        EXPECT_EQ(lines[i].rfind(std::string(". ") + control_commands[i].name, 0), 0u) << lines[i];
    EXPECT_EQ(lines.back(), "ok");
}

// The synopses built from the operation tables read as they did when they were written out.
TEST(ControlCommands, HelpShowsTheBuiltSynopses)
{
    ControlHarness harness;
    Lines lines = harness.send("help");
    auto line_of = [&](const std::string &name) {
        for (const std::string &line : lines)
            if (line.rfind(". " + name + " ", 0) == 0)
                return line;
        return std::string();
    };
    EXPECT_EQ(line_of("logdirty"), ". logdirty ID enable|disable|peek|clean -- log-dirty mode; peek and clean list "
                                   "dirty frames");
    EXPECT_EQ(line_of("view"),
              ". view ID list | create [INDEX] | destroy INDEX | switch INDEX | access INDEX GFN COUNT RIGHTS | "
              "remap INDEX GFN TARGET COUNT RIGHTS | reset INDEX GFN COUNT -- alternate p2m views: rights and "
              "frames that differ from the host p2m, the view the vCPU runs in");
    EXPECT_STREQ(access_rights_list.text, "n, r, rw, rx or rwx");
    EXPECT_STREQ(view_operation_list.text, "list, create, destroy, switch, access, remap, reset");
    EXPECT_STREQ(log_dirty_operation_list.text, "enable, disable, peek, clean");
}

TEST(ControlCommands, VersionNamesBuildAndProtocol)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("version"), (Lines{". baton version=0.1.0 build=abc123-A protocol=1 chunk_size=512", "ok"}));
}

TEST(ControlCommands, SyncEchoesTheNonce)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("sync 5f3a-b_9"), Lines{"ok sync 5f3a-b_9"});
    EXPECT_EQ(harness.status("sync a=b"), "error EINVAL sync: the nonce must be 1 to 64 of [A-Za-z0-9_-]");
    EXPECT_EQ(harness.status("sync " + std::string(65, 'n')),
              "error EINVAL sync: the nonce must be 1 to 64 of [A-Za-z0-9_-]");
    // After garbage and a Ctrl-U, the sync still comes back on a line of its own.
    harness.channel.feed("\x01\x02garbage", 9);
    harness.channel.feed("\x15sync n1\n", 9);
    EXPECT_EQ(harness.output.take_lines(), Lines{"ok sync n1"});
}

TEST(ControlCommands, ListShowsEveryDomain)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("list"), Lines{"ok"});
    with_domains(harness);
    harness.backend.domains.push_back({7, "has space", "", 4096, 0});
    EXPECT_EQ(harness.send("list"), (Lines{". domain id=1 name=counter state=running ram=67108864 vcpus=1",
                                           ". domain id=2 name=checksum state=paused ram=134217728 vcpus=2",
                                           ". domain id=7 name=has_space state=- ram=4096 vcpus=0", "ok"}));
}

TEST(ControlCommands, CreatePassesCheckedOptions)
{
    ControlHarness harness;
    with_domains(harness);
    EXPECT_EQ(harness.send("create /boot/counter.elf name=c2 ram=64M vcpus=2 start=no"),
              (Lines{". domain id=3 name=c2 state=paused ram=67108864 vcpus=2", "ok"}));
    const CreateRequest &request = harness.backend.last_create;
    EXPECT_EQ(harness.backend.last_create_module, "/boot/counter.elf");
    EXPECT_EQ(harness.backend.last_create_name, "c2");
    EXPECT_EQ(request.ram_bytes, 64 * MiB);
    EXPECT_EQ(request.vcpus, 2u);
    EXPECT_FALSE(request.start);

    EXPECT_EQ(harness.send("create counter"),
              (Lines{". domain id=4 name=counter state=running ram=16777216 vcpus=1", "ok"}));
    EXPECT_EQ(harness.backend.last_create_name, "(default)");
    EXPECT_EQ(harness.backend.last_create.ram_bytes, 0u);
    EXPECT_EQ(harness.backend.last_create.vcpus, 0u);
    EXPECT_TRUE(harness.backend.last_create.start);

    EXPECT_EQ(harness.status("create counter ram=0x100000 ram=1G"), "error EINVAL create: ram= given twice");
    EXPECT_EQ(harness.status("create counter ram=1GiB"), "ok");
    EXPECT_EQ(harness.backend.last_create.ram_bytes, GiB);
}

TEST(ControlCommands, CreateRejectsBadOptionsBeforeCallingTheBackend)
{
    ControlHarness harness;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"create counter color=red",
         "error EINVAL create: unknown option 'color' (options: name=, ram=, vcpus=, start=, assign=)"},
        {"create counter 64M",
         "error EINVAL create: '64M' is not key=value (options: name=, ram=, vcpus=, start=, assign=)"},
        {"create counter =5",
         "error EINVAL create: '=5' is not key=value (options: name=, ram=, vcpus=, start=, assign=)"},
        {"create ram=64M", "error EINVAL create: bad module name 'ram=64M' (1 to 63 of [A-Za-z0-9_.+/-])"},
        {"create counter name=",
         "error EINVAL create: 'name=': a name is 1 to 31 of [A-Za-z0-9_.-], starting with a letter or digit"},
        {"create counter name=-x",
         "error EINVAL create: 'name=-x': a name is 1 to 31 of [A-Za-z0-9_.-], starting with a letter or digit"},
        {"create counter ram=lots", "error EINVAL create: 'ram=lots': expected a size such as 64M, 1G or 0x4000000"},
        {"create counter ram=", "error EINVAL create: 'ram=': expected a size such as 64M, 1G or 0x4000000"},
        {"create counter ram=99999999999999999999",
         "error EINVAL create: 'ram=99999999999999999999': expected a size such as 64M, 1G or 0x4000000"},
        {"create counter ram=0",
         "error EINVAL create: 'ram=0': RAM must be a nonzero multiple of 4 KiB, at most 4 PiB"},
        {"create counter ram=4097",
         "error EINVAL create: 'ram=4097': RAM must be a nonzero multiple of 4 KiB, at most 4 PiB"},
        {"create counter ram=8388608G",
         "error EINVAL create: 'ram=8388608G': RAM must be a nonzero multiple of 4 KiB, at most 4 PiB"},
        {"create counter vcpus=0", "error EINVAL create: 'vcpus=0': vcpus is a number from 1 to 64"},
        {"create counter vcpus=65", "error EINVAL create: 'vcpus=65': vcpus is a number from 1 to 64"},
        {"create counter vcpus=two", "error EINVAL create: 'vcpus=two': vcpus is a number from 1 to 64"},
        {"create counter start=maybe", "error EINVAL create: 'start=maybe': start is yes or no"},
        {"create counter name=a name=b", "error EINVAL create: name= given twice"},
    };
    for (const auto &[request, expected] : cases)
        EXPECT_EQ(harness.status(request), expected);
    EXPECT_TRUE(harness.backend.calls.empty());
}

TEST(ControlCommands, CreateReportsBackendRefusals)
{
    ControlHarness harness;
    harness.backend.fail_next = -BATON_ENOENT;
    EXPECT_EQ(harness.status("create nosuch"), "error ENOENT create nosuch: no such object");
    harness.backend.fail_next = -BATON_ENOMEM;
    harness.backend.fail_reason = "only 12 MiB free for 64 MiB of RAM";
    EXPECT_EQ(harness.status("create counter ram=64M"), "error ENOMEM only 12 MiB free for 64 MiB of RAM");
    // The reason does not leak into the next request.
    harness.backend.fail_next = -BATON_EEXIST;
    harness.backend.fail_reason.clear();
    EXPECT_EQ(harness.status("create counter"), "error EEXIST create counter: already exists");
}

TEST(ControlCommands, DomainActionsCheckIdsAndReport)
{
    ControlHarness harness;
    with_domains(harness);
    EXPECT_EQ(harness.send("pause 1"), Lines{"ok paused domain 1"});
    EXPECT_EQ(harness.backend.domains[0].state, "paused");
    EXPECT_EQ(harness.send("unpause 0001"), Lines{"ok unpaused domain 1"});
    EXPECT_EQ(harness.send("destroy 2"), Lines{"ok destroyed domain 2"});
    EXPECT_EQ(harness.status("pause 9"), "error ENOENT pause domain 9: no such object");
    harness.backend.fail_next = -BATON_EBUSY;
    harness.backend.fail_reason = "domain 1 is already paused";
    EXPECT_EQ(harness.status("pause 1"), "error EBUSY domain 1 is already paused");

    harness.backend.calls.clear();
    for (const char *verb : {"pause", "unpause", "destroy"}) {
        for (const char *bad : {"-1", "x", "1.5", "0x1", "32768", "99999999999999999999999"}) {
            std::string expected =
                std::string("error EINVAL ") + verb + ": '" + bad + "' is not a domain id (0 to 32767)";
            if (std::string(bad).size() > 40)
                expected = std::string("error EINVAL ") + verb + ": '" + std::string(bad).substr(0, 40) +
                           "...' is not a domain id (0 to 32767)";
            EXPECT_EQ(harness.status(std::string(verb) + " " + bad), expected);
        }
    }
    EXPECT_TRUE(harness.backend.calls.empty());
    EXPECT_EQ(harness.status("destroy 32767"), "error ENOENT destroy domain 32767: no such object");
}

TEST(ControlCommands, MemoryReportLinesAreData)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("mem"), (Lines{". mem: total 512 MiB", ". mem: free 400 MiB", "ok"}));
    harness.backend.fail_next = -BATON_EIO;
    EXPECT_EQ(harness.send("mem"), Lines{"error EIO mem: input/output error"});
}

TEST(ControlCommands, BackendTextCannotForgeLines)
{
    ControlHarness harness;
    harness.backend.domains = {{1, "x\nok", "run\rning", 0, 1}};
    harness.backend.fail_next = -BATON_EBUSY;
    harness.backend.fail_reason = "busy\nok fine";
    EXPECT_EQ(harness.status("pause 1"), "error EBUSY busy?ok fine");
    EXPECT_EQ(harness.send("list"), (Lines{". domain id=1 name=x_ok state=run_ning ram=0 vcpus=1", "ok"}));
}

TEST(ControlCommands, LogDirtyChecksItsArgumentsBeforeTheBackend)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("logdirty 1 bogus"),
              "error EINVAL logdirty: 'bogus' is not one of enable, disable, peek, clean");
    EXPECT_EQ(harness.status("logdirty one peek"), "error EINVAL logdirty: 'one' is not a domain id (0 to 32767)");
    EXPECT_TRUE(harness.backend.calls.empty());
    // The fake backend keeps the default: images without log-dirty support say so.
    EXPECT_EQ(harness.status("logdirty 1 peek"), "error ENOSYS this image has no log-dirty support");
}
