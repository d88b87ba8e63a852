// SPDX-License-Identifier: MIT
// Unit tests for the image-replacing commands against a fake backend: live-update and its
// module option, last-update, update-fault, their argument checks and refusals.
#include "test_control_support.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using Lines = std::vector<std::string>;

} // namespace

TEST(ControlUpdate, LiveUpdateShowsTheOldImagesPhasesThenOk)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("live-update"),
              (Lines{". phase check us=120", ". phase pause us=340", ". phase serialize us=910",
                     "ok live-update: entering the staged image"}));
    EXPECT_EQ(harness.backend.live_update_module, "(staged)");
    EXPECT_EQ(harness.status("live-update module=/boot/baton-b.elf"),
              "ok live-update: entering boot module /boot/baton-b.elf");
    EXPECT_EQ(harness.backend.live_update_module, "/boot/baton-b.elf");
    EXPECT_EQ(harness.status("  live-update\tmodule=b  "), "ok live-update: entering boot module b");
    EXPECT_EQ(harness.backend.live_update_module, "b");
}

TEST(ControlUpdate, LiveUpdateChecksItsOptionBeforeTheBackend)
{
    ControlHarness harness;
    const std::string long_name(CONTROL_MODULE_NAME_MAX + 1, 'm');
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"live-update baton-b", "error EINVAL live-update: 'baton-b' is not key=value (options: module=)"},
        {"live-update =b", "error EINVAL live-update: '=b' is not key=value (options: module=)"},
        {"live-update image=b.elf", "error EINVAL live-update: unknown option 'image' (options: module=)"},
        {"live-update Module=b", "error EINVAL live-update: unknown option 'Module' (options: module=)"},
        {"live-update module=", "error EINVAL live-update: 'module=': a module name is 1 to 63 of [A-Za-z0-9_.+/-]"},
        {"live-update module=a=b",
         "error EINVAL live-update: 'module=a=b': a module name is 1 to 63 of [A-Za-z0-9_.+/-]"},
        {"live-update module=a,b",
         "error EINVAL live-update: 'module=a,b': a module name is 1 to 63 of [A-Za-z0-9_.+/-]"},
        {"live-update module=" + long_name, "error EINVAL live-update: 'module=" + long_name.substr(0, 33) +
                                                "...': a module name is 1 to 63 of [A-Za-z0-9_.+/-]"},
        {"live-update module=a module=b", "error EINVAL usage: live-update [module=NAME]"},
    };
    for (const auto &[request, expected] : cases)
        EXPECT_EQ(harness.status(request), expected);
    EXPECT_TRUE(harness.backend.calls.empty());
    // The longest valid name passes.
    EXPECT_EQ(harness.status("live-update module=" + long_name.substr(1)),
              "ok live-update: entering boot module " + long_name.substr(1));
}

TEST(ControlUpdate, LiveUpdateRefusalsKeepTheLinesAndGiveTheReason)
{
    ControlHarness harness;
    // A refusal after the check: its phase line is shown, then the reason.
    harness.backend.fail_next = -BATON_EBUSY;
    harness.backend.fail_reason = "invariant check: frame 0x1234 of domain 2 lies inside lu_bootmem";
    EXPECT_EQ(harness.send("live-update"),
              (Lines{". phase check us=120",
                     "error EBUSY invariant check: frame 0x1234 of domain 2 lies inside lu_bootmem"}));
    // Without a reason: what was asked and the errno's meaning.
    harness.backend.fail_reason.clear();
    harness.backend.fail_next = -BATON_ENOENT;
    EXPECT_EQ(harness.status("live-update"), "error ENOENT live-update: no such object");
    harness.backend.fail_next = -BATON_ENOENT;
    EXPECT_EQ(harness.status("live-update module=nosuch"), "error ENOENT live-update module=nosuch: no such object");
    // The channel still works, and the next update is not refused by a stale reason.
    EXPECT_EQ(harness.status("live-update"), "ok live-update: entering the staged image");
}

TEST(ControlUpdate, LiveUpdateEndsAnOpenTransferFirst)
{
    ControlHarness harness;
    ASSERT_EQ(harness.status("upload begin image 1000 00000000"), "ok upload image: 1000 bytes in 2 chunks");
    harness.backend.calls.clear();
    EXPECT_EQ(harness.status("live-update"), "ok live-update: entering the staged image");
    EXPECT_EQ(harness.backend.calls, (Lines{"upload_abort", "live_update (staged)"}));
    EXPECT_EQ(harness.status("upload end"), "error EINVAL upload end: no upload in progress");
    // A bad option changes nothing, the open transfer included.
    ASSERT_EQ(harness.status("upload begin image 1000 00000000"), "ok upload image: 1000 bytes in 2 chunks");
    harness.backend.calls.clear();
    EXPECT_EQ(harness.status("live-update bogus"),
              "error EINVAL live-update: 'bogus' is not key=value (options: module=)");
    EXPECT_TRUE(harness.backend.calls.empty());
    EXPECT_EQ(harness.status("upload end"), "error EINVAL upload end: only 0 of 2 chunks received");
}

TEST(ControlUpdate, LastUpdateListsTheReport)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("last-update"), Lines{"error ENOENT last-update: no such object"});
    harness.backend.fail_next = -BATON_ENOENT;
    harness.backend.fail_reason = "cold boot: no live update started this image";
    EXPECT_EQ(harness.status("last-update"), "error ENOENT cold boot: no live update started this image");
    harness.backend.update_report = {"from 0.1.0 build=abc-A", "generation 1", "phase blackout us=4860 x y"};
    EXPECT_EQ(harness.send("last-update"),
              (Lines{". from 0.1.0 build=abc-A", ". generation 1", ". phase blackout us=4860 x y", "ok"}));
    harness.backend.calls.clear();
    EXPECT_EQ(harness.status("last-update now"), "error EINVAL usage: last-update");
    EXPECT_TRUE(harness.backend.calls.empty());
}

TEST(ControlUpdate, UpdateFaultPassesAWordAndReportsRefusals)
{
    ControlHarness harness;
    EXPECT_EQ(harness.send("update-fault bootmem-violation"),
              Lines{"ok update-fault: bootmem-violation armed for the next live-update"});
    EXPECT_EQ(harness.backend.calls, Lines{"update_fault bootmem-violation"});
    EXPECT_EQ(harness.status("update-fault gremlins"), "error EINVAL unknown fault 'gremlins'");
    harness.backend.fail_next = -BATON_EBUSY;
    EXPECT_EQ(harness.status("update-fault bootmem-violation"), "error EBUSY update-fault bootmem-violation: busy");

    harness.backend.calls.clear();
    const std::string too_long(CONTROL_FAULT_NAME_MAX + 1, 'f');
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"update-fault", "error EINVAL usage: update-fault FAULT"},
        {"update-fault a b", "error EINVAL usage: update-fault FAULT"},
        {"update-fault x=1", "error EINVAL update-fault: 'x=1' is not a fault name (1 to 31 of [A-Za-z0-9_-])"},
        {"update-fault a.b", "error EINVAL update-fault: 'a.b' is not a fault name (1 to 31 of [A-Za-z0-9_-])"},
        {"update-fault " + too_long,
         "error EINVAL update-fault: '" + too_long + "' is not a fault name (1 to 31 of [A-Za-z0-9_-])"},
    };
    for (const auto &[request, expected] : cases)
        EXPECT_EQ(harness.status(request), expected);
    EXPECT_TRUE(harness.backend.calls.empty());
}

TEST(ControlUpdate, ImagesWithoutUpdateSupportSaySo)
{
    MinimalBackend backend;
    CapturedOutput output;
    ControlChannel channel(backend, output);
    const std::string requests = "live-update\nlast-update\nupdate-fault bootmem-violation\nkexec\n"
                                 "download begin snapshot\n";
    channel.feed(requests.data(), requests.size());
    EXPECT_EQ(output.take_lines(),
              (Lines{"error ENOSYS this image cannot live-update", "error ENOSYS this image has no live-update report",
                     "error ENOSYS this image has no fault injection", "error ENOSYS this image cannot kexec",
                     "error ENOSYS this image does not transfer snapshot data"}));
}

TEST(ControlUpdate, HelpListsTheUpdateCommands)
{
    ControlHarness harness;
    Lines lines = harness.send("help");
    auto has = [&](const std::string &prefix) {
        for (const std::string &line : lines)
            if (line.rfind(prefix, 0) == 0)
                return true;
        return false;
    };
    EXPECT_TRUE(has(". live-update [module=NAME] -- "));
    EXPECT_TRUE(has(". last-update -- "));
    EXPECT_TRUE(has(". update-fault FAULT -- "));
    EXPECT_TRUE(has(". kexec -- enter the uploaded image as is; refused while domains exist"));
    EXPECT_TRUE(has(". download begin KIND | chunk SEQ | end -- fetch binary data (KIND: image, record or snapshot)"));
    EXPECT_EQ(lines.back(), "ok");
}
