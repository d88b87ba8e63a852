// SPDX-License-Identifier: MIT
// Module strings: a Baton guest's options, and a PC guest's kind, initramfs and command line.
#include "abi/errno.h"
#include "dom/guest_modules.hpp"
#include <cstdio>
#include <gtest/gtest.h>
#include <string>

namespace {

struct Parsed {
    int error = 0;
    GuestModule module;
    std::string why;
};

Parsed parse(const char *string)
{
    static BootModule boot; // the parsed module points into its string
    boot = BootModule{};
    std::snprintf(boot.string, sizeof(boot.string), "%s", string);
    Parsed out;
    char why[DOMAIN_MESSAGE_SIZE] = {};
    out.error = parse_guest_module(boot, out.module, why, sizeof(why));
    out.why = why;
    return out;
}

} // namespace

TEST(GuestModules, ABatonGuestsOptions)
{
    const Parsed p = parse("counter start ram=8M name=c1 other=words");
    ASSERT_EQ(p.error, 0) << p.why;
    EXPECT_STREQ(p.module.module_name, "counter");
    EXPECT_STREQ(p.module.domain_name, "c1");
    EXPECT_EQ(p.module.ram_bytes, 8 * MiB);
    EXPECT_TRUE(p.module.start_at_boot);
    EXPECT_EQ(p.module.kind, GuestKind::baton);
    EXPECT_STREQ(p.module.initrd_module, "");
}

TEST(GuestModules, APcGuestsKindInitramfsAndCommandLine)
{
    const Parsed p = parse("linux kind=pc start ram=256M initrd=initramfs --   console=ttyS0 start ram=1M");
    ASSERT_EQ(p.error, 0) << p.why;
    EXPECT_EQ(p.module.kind, GuestKind::pc);
    EXPECT_STREQ(p.module.initrd_module, "initramfs");
    EXPECT_STREQ(p.module.kernel_command_line, "console=ttyS0 start ram=1M")
        << "everything after -- is the kernel's, words Baton knows included";
    EXPECT_EQ(p.module.ram_bytes, 256 * MiB) << "ram= after -- is not Baton's";
    EXPECT_TRUE(p.module.start_at_boot);
    EXPECT_STREQ(p.module.domain_name, "linux");

    const Parsed bare = parse("linux kind=pc");
    ASSERT_EQ(bare.error, 0) << bare.why;
    EXPECT_STREQ(bare.module.kernel_command_line, "");
}

TEST(GuestModules, RefusesWhatItCannotMean)
{
    Parsed p = parse("linux kind=xen");
    EXPECT_EQ(p.error, -BATON_EINVAL);
    EXPECT_NE(p.why.find("baton or pc"), std::string::npos) << p.why;
    p = parse("counter initrd=initramfs");
    EXPECT_EQ(p.error, -BATON_EINVAL);
    EXPECT_NE(p.why.find("kind=pc"), std::string::npos) << p.why;
    p = parse("linux kind=pc initrd=bad/name");
    EXPECT_EQ(p.error, -BATON_EINVAL);
    p = parse("");
    EXPECT_EQ(p.error, -BATON_EINVAL) << "a module string starts with the module's name";
}

TEST(GuestModules, VcpusFromOneToTheMaximum)
{
    Parsed p = parse("memcheck vcpus=4 start");
    ASSERT_EQ(p.error, 0) << p.why;
    EXPECT_EQ(p.module.vcpus, 4u);
    EXPECT_EQ(parse("counter").module.vcpus, 1u) << "one vCPU unless asked";
    EXPECT_EQ(parse("counter vcpus=8").module.vcpus, MAX_VCPUS);
    for (const char *bad : {"counter vcpus=0", "counter vcpus=9", "counter vcpus=two", "counter vcpus=-1"}) {
        p = parse(bad);
        EXPECT_EQ(p.error, -BATON_EINVAL) << bad;
        EXPECT_NE(p.why.find("1 to 8 vCPUs"), std::string::npos) << bad << ": " << p.why;
    }
    p = parse("linux kind=pc vcpus=2");
    EXPECT_EQ(p.error, -BATON_EINVAL);
    EXPECT_NE(p.why.find("kind=pc guest has exactly one vCPU"), std::string::npos) << p.why;
}
