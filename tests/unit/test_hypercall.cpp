// SPDX-License-Identifier: MIT
// Unit tests for domains and hypercall argument checking, on simulated RAM.
#include "abi/errno.h"
#include "abi/hypercall.h"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "dom/hypercall.hpp"
#include "elf_builder.hpp"
#include "host_platform.hpp"
#include "test_mm_support.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

constexpr u64 GUEST_RAM = 8 * MiB;
constexpr u64 BUFFER_GPA = 0x200000; // inside RAM, clear of the image

// The smallest guest: one executable segment of `hlt` at 1 MiB.
std::vector<uint8_t> tiny_guest()
{
    TestSegment code;
    code.memsz = 0x3000;
    code.bytes = std::vector<uint8_t>(16, 0);
    code.bytes[0] = 0xf4;
    return build_elf({code}, 0x100000);
}

class DomainTest : public ::testing::Test {
protected:
    DomainTest() : ram_(256 * MiB)
    {
        EXPECT_EQ(frame_allocator().early_init(mm_test::qemu_layout()), 0);
        EXPECT_EQ(frame_allocator().init(), 0);
        image_ = tiny_guest();
    }

    ~DomainTest() override
    {
        for_each_domain([](Domain &domain) { EXPECT_EQ(domain_destroy(domain.id), 0); });
    }

    Domain &create(const char *name = "t")
    {
        DomainConfig config;
        config.name = name;
        config.ram_bytes = GUEST_RAM;
        config.image = image_.data();
        config.image_size = image_.size();
        config.command_line = "t start";
        char why[DOMAIN_MESSAGE_SIZE] = {};
        int id = domain_create(config, why, sizeof(why));
        EXPECT_GT(id, 0) << why;
        return *domain_find(static_cast<u64>(id));
    }

    static i64 call(Domain &domain, u64 number, u64 a0 = 0, u64 a1 = 0, u64 a2 = 0, u8 cpl = 0)
    {
        return handle_hypercall(domain.vcpus[0], HypercallArgs{number, {a0, a1, a2, 0, 0}, cpl}).value;
    }

    SimulatedRam ram_;
    std::vector<uint8_t> image_;
};

} // namespace

TEST_F(DomainTest, CreateLoadsTheImageAndStartInfo)
{
    Domain &domain = create();
    EXPECT_EQ(domain.state, DomainState::running);
    EXPECT_EQ(domain.p2m.ram_frames(), GUEST_RAM >> PAGE_SHIFT);
    u8 code = 0;
    ASSERT_EQ(copy_from_guest(domain.p2m, &code, 0x100000, 1), 0);
    EXPECT_EQ(code, 0xf4);
    baton_start_info info{};
    ASSERT_EQ(copy_from_guest(domain.p2m, &info, BATON_START_INFO_GPA, sizeof(info)), 0);
    EXPECT_EQ(info.magic, BATON_START_INFO_MAGIC);
    EXPECT_EQ(info.domid, domain.id);
    EXPECT_EQ(info.ram_bytes, GUEST_RAM);
    EXPECT_EQ(info.free_gfn_start, 0x103u);
    char command_line[16] = {};
    ASSERT_EQ(copy_from_guest(domain.p2m, command_line, info.cmdline_gpa, 8), 0);
    EXPECT_STREQ(command_line, "t start");
}

TEST_F(DomainTest, DestroyReturnsEveryFrame)
{
    u64 before_ephemeral = frame_allocator().free_frame_count(MemClass::ephemeral);
    u64 before_preserved = frame_allocator().free_frame_count(MemClass::preserved);
    for (int round = 0; round < 3; round++) {
        Domain &domain = create();
        ASSERT_EQ(domain_map_shared_info(domain, 0x300), 0);
        ASSERT_EQ(domain_destroy(domain.id), 0);
    }
    EXPECT_EQ(frame_allocator().free_frame_count(MemClass::ephemeral), before_ephemeral);
    EXPECT_EQ(frame_allocator().free_frame_count(MemClass::preserved), before_preserved);
    EXPECT_EQ(domain_destroy(1), -BATON_ENOENT);
}

TEST_F(DomainTest, BadImagesAndSizesAreRefusedWithoutLeaks)
{
    u64 before = frame_allocator().free_frame_count(MemClass::ephemeral);
    char why[DOMAIN_MESSAGE_SIZE] = {};
    DomainConfig config;
    config.name = "bad";
    config.ram_bytes = GUEST_RAM;
    std::vector<uint8_t> garbage(200, 0x55);
    config.image = garbage.data();
    config.image_size = garbage.size();
    EXPECT_EQ(domain_create(config, why, sizeof(why)), -BATON_EINVAL);
    EXPECT_NE(std::string(why).find("not an ELF file"), std::string::npos) << why;

    config.image = image_.data();
    config.image_size = image_.size();
    config.ram_bytes = 1 * MiB;
    EXPECT_EQ(domain_create(config, why, sizeof(why)), -BATON_EINVAL);
    config.ram_bytes = 0x100800; // too small for the image and not page aligned
    EXPECT_EQ(domain_create(config, why, sizeof(why)), -BATON_EINVAL);
    EXPECT_EQ(domain_count(), 0u);
    EXPECT_EQ(frame_allocator().free_frame_count(MemClass::ephemeral), before);
}

TEST_F(DomainTest, ConsoleWriteChecksEveryArgument)
{
    Domain &domain = create();
    const char hello[] = "hello\n";
    ASSERT_EQ(copy_to_guest(domain.p2m, BUFFER_GPA, hello, 6), 0);
    console_capture_begin();
    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, BUFFER_GPA, 6), 6);
    EXPECT_NE(console_capture_end().find("[d1 t] hello"), std::string::npos);

    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, BUFFER_GPA, BATON_CONSOLE_MAX + 1), -BATON_E2BIG);
    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, BUFFER_GPA, ~0ull), -BATON_E2BIG);
    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, GUEST_RAM, 16), -BATON_EFAULT);
    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, GUEST_RAM - 8, 16), -BATON_EFAULT);
    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, ~0ull - 15, 32), -BATON_EFAULT);
    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, 0xc0000000, 16), -BATON_EFAULT);
    EXPECT_EQ(call(domain, BATON_HC_CONSOLE_WRITE, BUFFER_GPA, 0), 0);
}

TEST_F(DomainTest, PrivilegeAndUnknownCalls)
{
    Domain &domain = create();
    EXPECT_EQ(call(domain, BATON_HC_TIME, 0, 0, 0, 3), -BATON_EPERM);
    EXPECT_EQ(call(domain, BATON_HC_COUNT), -BATON_ENOSYS);
    EXPECT_EQ(call(domain, ~0ull), -BATON_ENOSYS);
    EXPECT_EQ(call(domain, BATON_HC_EVTCHN, 99), -BATON_ENOSYS);
    EXPECT_EQ(call(domain, BATON_HC_SHUTDOWN, 99), -BATON_EINVAL);
    EXPECT_EQ(domain.state, DomainState::running);
}

TEST_F(DomainTest, SharedInfoCoversRamAndMovesBack)
{
    Domain &domain = create();
    P2mEntry ram_before = domain.p2m.lookup(0x300);
    EXPECT_EQ(call(domain, BATON_HC_SHARED_INFO_MAP, GUEST_RAM >> PAGE_SHIFT), -BATON_EINVAL);
    EXPECT_EQ(call(domain, BATON_HC_SHARED_INFO_MAP, ~0ull), -BATON_EINVAL);
    ASSERT_EQ(call(domain, BATON_HC_SHARED_INFO_MAP, 0x300), 0);
    EXPECT_EQ(domain.p2m.lookup(0x300).mfn, domain.shared_info_mfn);
    baton_shared_info seen{};
    ASSERT_EQ(copy_from_guest(domain.p2m, &seen, 0x300 << PAGE_SHIFT, sizeof(seen)), 0);
    EXPECT_STREQ(seen.hypervisor_build_id, "host-test");

    ASSERT_EQ(call(domain, BATON_HC_SHARED_INFO_MAP, 0x301), 0);
    EXPECT_EQ(domain.p2m.lookup(0x300), ram_before) << "the RAM frame under the old place is back";
    EXPECT_EQ(domain.p2m.lookup(0x301).mfn, domain.shared_info_mfn);
}

TEST_F(DomainTest, EventChannelsBetweenDomains)
{
    Domain &a = create("a");
    Domain &b = create("b");
    ASSERT_EQ(call(b, BATON_HC_EVTCHN, BATON_EVTCHN_SET_UPCALL_VECTOR, 0x40), 0);
    i64 offered = call(b, BATON_HC_EVTCHN, BATON_EVTCHN_ALLOC_UNBOUND, a.id);
    ASSERT_GT(offered, 0);
    EXPECT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_INTERDOMAIN, b.id, offered + 1), -BATON_EINVAL);
    EXPECT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_INTERDOMAIN, 999, offered), -BATON_ENOENT);
    i64 local = call(a, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_INTERDOMAIN, b.id, offered);
    ASSERT_GT(local, 0);
    EXPECT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_SEND, local), 0);
    EXPECT_TRUE(b.events.pending(static_cast<u16>(offered)));
    EXPECT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_SEND, 200), -BATON_ENOENT);
    EXPECT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_SEND, BATON_EVTCHN_PORTS), -BATON_EINVAL);
    // Destroying b closes a's end.
    ASSERT_EQ(domain_destroy(b.id), 0);
    EXPECT_EQ(a.events.port(static_cast<u64>(local))->state, PortState::free);
}

TEST_F(DomainTest, DomainInfoTruncatesToTheCallersStruct)
{
    Domain &domain = create();
    u8 guard[96];
    std::memset(guard, 0xee, sizeof(guard));
    ASSERT_EQ(copy_to_guest(domain.p2m, BUFFER_GPA, guard, sizeof(guard)), 0);
    EXPECT_EQ(call(domain, BATON_HC_DOMAIN_INFO, BUFFER_GPA, 0), 0);
    EXPECT_EQ(call(domain, BATON_HC_DOMAIN_INFO, BUFFER_GPA, 4), 4);
    u8 seen[8];
    ASSERT_EQ(copy_from_guest(domain.p2m, seen, BUFFER_GPA, sizeof(seen)), 0);
    EXPECT_EQ(seen[0], domain.id);
    EXPECT_EQ(seen[4], 0xee) << "nothing written past the size given";
    EXPECT_EQ(call(domain, BATON_HC_DOMAIN_INFO, BUFFER_GPA, 4096), static_cast<i64>(sizeof(baton_domain_info)));
    EXPECT_EQ(call(domain, BATON_HC_DOMAIN_INFO, GUEST_RAM - 8, 4096), -BATON_EFAULT);
}

TEST_F(DomainTest, BlockWaitsOnlyWhenNothingIsDeliverable)
{
    Domain &domain = create();
    host_time_ns = 1'000'000'000;
    HypercallResult past = handle_hypercall(domain.vcpus[0], HypercallArgs{BATON_HC_BLOCK, {5, 0, 0, 0, 0}, 0});
    EXPECT_EQ(past.action, HypercallAction::resume);
    HypercallResult wait =
        handle_hypercall(domain.vcpus[0], HypercallArgs{BATON_HC_BLOCK, {2'000'000'000, 0, 0, 0, 0}, 0});
    EXPECT_EQ(wait.action, HypercallAction::block);
    EXPECT_TRUE(domain.vcpus[0].blocked);
    host_time_ns = 2'000'000'001;
    domains_tick(host_time_ns);
    EXPECT_FALSE(domain.vcpus[0].blocked) << "the deadline wakes it";
}

TEST_F(DomainTest, LifeCycleStatesAreChecked)
{
    Domain &domain = create();
    EXPECT_EQ(domain_unpause(domain.id), -BATON_EBUSY);
    EXPECT_EQ(domain_pause(domain.id), 0);
    EXPECT_EQ(domain_pause(domain.id), -BATON_EBUSY);
    EXPECT_EQ(domain_unpause(domain.id), 0);
    EXPECT_EQ(domain_pause(77), -BATON_ENOENT);
    EXPECT_EQ(call(domain, BATON_HC_SHUTDOWN, BATON_SHUTDOWN_POWEROFF), 0);
    EXPECT_EQ(domain.state, DomainState::shut_down);
    EXPECT_EQ(domain_unpause(domain.id), -BATON_EBUSY);
}
