// SPDX-License-Identifier: MIT
// Multi-vCPU domains on the host: creation, BATON_HC_VCPU_UP and its refusals, per-vCPU
// blocking and event delivery, and the scheduler's turns.
#include "abi/errno.h"
#include "abi/hypercall.h"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "dom/hypercall.hpp"
#include "dom/scheduler.hpp"
#include "dom/vcpu_info.hpp"
#include "elf_builder.hpp"
#include "host_platform.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr u64 GUEST_RAM = 8 * MiB;

std::vector<uint8_t> tiny_guest()
{
    TestSegment code;
    code.memsz = 0x3000;
    code.bytes = std::vector<uint8_t>(16, 0xf4);
    return build_elf({code}, 0x100000);
}

class VcpuTest : public ::testing::Test {
protected:
    VcpuTest() : ram_(256 * MiB)
    {
        EXPECT_EQ(frame_allocator().early_init(mm_test::qemu_layout()), 0);
        EXPECT_EQ(frame_allocator().init(), 0);
        image_ = tiny_guest();
    }
    ~VcpuTest() override
    {
        for_each_domain([](Domain &domain) { EXPECT_EQ(domain_destroy(domain.id), 0); });
    }

    int create(u16 vcpus, std::string &why, GuestKind kind = GuestKind::baton)
    {
        DomainConfig config;
        config.name = "smp";
        config.ram_bytes = GUEST_RAM;
        config.kind = kind;
        config.vcpus = vcpus;
        config.image = image_.data();
        config.image_size = image_.size();
        char text[DOMAIN_MESSAGE_SIZE] = {};
        int id = domain_create(config, text, sizeof(text));
        why = text;
        return id;
    }
    Domain &create(u16 vcpus)
    {
        std::string why;
        int id = create(vcpus, why);
        EXPECT_GT(id, 0) << why;
        return *domain_find(static_cast<u64>(id));
    }

    static i64 call(Vcpu &vcpu, u64 number, u64 a0 = 0, u64 a1 = 0, u64 a2 = 0)
    {
        return handle_hypercall(vcpu, HypercallArgs{number, {a0, a1, a2, 0, 0}, 0}).value;
    }

    SimulatedRam ram_;
    std::vector<uint8_t> image_;
};

} // namespace

TEST_F(VcpuTest, ADomainHasEveryVcpuButOnlyTheFirstIsUp)
{
    Domain &domain = create(4);
    EXPECT_EQ(domain.vcpu_count, 4u);
    for (u16 i = 0; i < 4; i++) {
        EXPECT_EQ(domain.vcpus[i].id, i);
        EXPECT_NE(domain.vcpus[i].arch, nullptr) << "hardware state exists before the vCPU is started";
        EXPECT_EQ(domain.vcpus[i].up, i == 0);
        EXPECT_STREQ(vcpu_state_name(domain.vcpus[i]), i == 0 ? "running" : "down");
    }
    EXPECT_EQ(domain.vcpu(4), nullptr);
    EXPECT_EQ(host_vcpu_rip(domain.vcpus[0]), 0x100000u);

    constexpr u64 BUFFER = 0x200000;
    ASSERT_EQ(call(domain.vcpus[0], BATON_HC_DOMAIN_INFO, BUFFER, sizeof(baton_domain_info)),
              static_cast<i64>(sizeof(baton_domain_info)));
    baton_domain_info info{};
    ASSERT_EQ(copy_from_guest(domain.p2m, &info, BUFFER, sizeof(info)), 0);
    EXPECT_EQ(info.vcpus, 4u);
    EXPECT_EQ(info.vcpu_id, 0u);
}

TEST_F(VcpuTest, CountsOutsideOneToEightAndSmpPcGuestsAreRefused)
{
    std::string why;
    EXPECT_EQ(create(0, why), -BATON_EINVAL);
    EXPECT_NE(why.find("1 to 8 vCPUs"), std::string::npos) << why;
    EXPECT_EQ(create(MAX_VCPUS + 1, why), -BATON_EINVAL);
    EXPECT_NE(why.find("vcpus=9"), std::string::npos) << why;
    EXPECT_EQ(create(2, why, GuestKind::pc), -BATON_EINVAL);
    EXPECT_NE(why.find("kind=pc guest has exactly one vCPU"), std::string::npos) << why;
    EXPECT_EQ(domain_count(), 0u) << "nothing is left of a refused domain";
    EXPECT_GT(create(MAX_VCPUS, why), 0) << why;
}

TEST_F(VcpuTest, VcpuUpRefusesBadRequestsAndChangesNothing)
{
    Domain &domain = create(3);
    Vcpu &boot = domain.vcpus[0];
    const struct {
        u64 index, entry, stack;
        i64 error;
    } refused[] = {
        {3, 0x100000, 0x300000, -BATON_ENOENT}, // no such vCPU
        {~0ull, 0x100000, 0x300000, -BATON_ENOENT},
        {0, 0x100000, 0x300000, -BATON_EBUSY}, // vCPU 0 is up
        {1, GUEST_RAM, 0x300000, -BATON_EFAULT}, // entry past RAM
        {1, ~0ull, 0x300000, -BATON_EFAULT},
        {1, 0x100000, 0, -BATON_EFAULT}, // no stack
        {1, 0x100000, GUEST_RAM + PAGE_SIZE, -BATON_EFAULT}, // stack past RAM
        {1, 0x100000, 5ull << 30, -BATON_EFAULT}, // beyond 4 GiB
    };
    for (const auto &r : refused) {
        EXPECT_EQ(call(boot, BATON_HC_VCPU_UP, r.index, r.entry, r.stack), r.error)
            << "vcpu " << r.index << " entry 0x" << std::hex << r.entry << " stack 0x" << r.stack;
    }
    EXPECT_FALSE(domain.vcpus[1].up);
    EXPECT_FALSE(domain.vcpus[2].up);
    EXPECT_TRUE(boot.up);
    EXPECT_EQ(domain.state, DomainState::running);

    ASSERT_EQ(call(boot, BATON_HC_VCPU_UP, 2, 0x100400, GUEST_RAM), 0) << "the stack may end at the end of RAM";
    EXPECT_TRUE(domain.vcpus[2].up);
    EXPECT_EQ(host_vcpu_rip(domain.vcpus[2]), 0x100400u);
    EXPECT_EQ(host_vcpu_rsp(domain.vcpus[2]), GUEST_RAM);
    EXPECT_EQ(call(domain.vcpus[2], BATON_HC_VCPU_UP, 2, 0x100400, 0x300000), -BATON_EBUSY) << "it runs already";
    EXPECT_EQ(call(domain.vcpus[2], BATON_HC_VCPU_UP, 1, 0x100800, 0x310000), 0) << "any running vCPU may ask";
    EXPECT_TRUE(domain.vcpus[1].up);
}

TEST_F(VcpuTest, EachVcpuBlocksAndWakesOnItsOwn)
{
    Domain &domain = create(2);
    ASSERT_EQ(call(domain.vcpus[0], BATON_HC_VCPU_UP, 1, 0x100000, 0x300000), 0);
    Vcpu &zero = domain.vcpus[0], &one = domain.vcpus[1];
    ASSERT_EQ(call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_SET_UPCALL_VECTOR, 0x40), 0);
    host_time_ns = 1'000'000'000;
    const i64 timer = call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_TIMER, 10'000'000);
    ASSERT_GT(timer, 0);
    EXPECT_EQ(call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_VCPU, timer, 2), -BATON_ENOENT) << "no vCPU 2";
    EXPECT_EQ(call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_VCPU, 77, 1), -BATON_ENOENT) << "a free port";
    EXPECT_EQ(call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_VCPU, 9999, 1), -BATON_EINVAL);
    ASSERT_EQ(call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_VCPU, timer, 1), 0);

    // Both wait; the timer is vCPU 1's, so only vCPU 1 wakes when it fires.
    EXPECT_EQ(handle_hypercall(zero, HypercallArgs{BATON_HC_BLOCK, {0, 0, 0, 0, 0}, 0}).action, HypercallAction::block);
    EXPECT_EQ(handle_hypercall(one, HypercallArgs{BATON_HC_BLOCK, {0, 0, 0, 0, 0}, 0}).action, HypercallAction::block);
    EXPECT_STREQ(vcpu_state_name(one), "blocked");
    host_time_ns += 20'000'000;
    domains_tick(host_time_ns);
    EXPECT_FALSE(one.blocked);
    EXPECT_TRUE(zero.blocked) << "the event is not vCPU 0's";
    EXPECT_EQ(handle_hypercall(one, HypercallArgs{BATON_HC_BLOCK, {0, 0, 0, 0, 0}, 0}).action, HypercallAction::resume)
        << "vCPU 1 has its event pending";
}

// BATON_HC_VCPU_INFO_MAP: a page per vCPU over the guest's RAM, with that vCPU's own
// upcall flags: masking upcalls on one vCPU no longer holds them off for another.
TEST_F(VcpuTest, EachVcpuInfoPageHasItsOwnUpcallFlags)
{
    const u64 free_at_start = frame_allocator().free_frame_count(MemClass::preserved);
    Domain &domain = create(2);
    Vcpu &zero = domain.vcpus[0], &one = domain.vcpus[1];
    ASSERT_EQ(call(zero, BATON_HC_VCPU_UP, 1, 0x100000, 0x300000), 0);
    const u64 ram_at_0x200 = domain.p2m.lookup(0x200).mfn;
    const u64 free_before = frame_allocator().free_frame_count(MemClass::preserved);
    // Refusals change nothing.
    EXPECT_EQ(call(zero, BATON_HC_VCPU_INFO_MAP, 2, 0x200), -BATON_ENOENT);
    EXPECT_EQ(call(zero, BATON_HC_VCPU_INFO_MAP, 1, GUEST_RAM >> PAGE_SHIFT), -BATON_EINVAL);
    ASSERT_EQ(call(zero, BATON_HC_SHARED_INFO_MAP, 0x1f0), 0);
    EXPECT_EQ(call(zero, BATON_HC_VCPU_INFO_MAP, 1, 0x1f0), -BATON_EINVAL) << "over the shared-info page";
    EXPECT_EQ(one.info_mfn, 0u);
    EXPECT_EQ(frame_allocator().free_frame_count(MemClass::preserved), free_before);

    // Any vCPU may map any vCPU's page; it shows the vCPU's id, and mapping again moves it.
    ASSERT_EQ(call(zero, BATON_HC_VCPU_INFO_MAP, 1, 0x200), 0);
    ASSERT_NE(one.info_mfn, 0u);
    EXPECT_EQ(domain.p2m.lookup(0x200).mfn, one.info_mfn);
    EXPECT_EQ(vcpu_info(one)->vcpu_id, 1u);
    ASSERT_EQ(call(one, BATON_HC_VCPU_INFO_MAP, 1, 0x210), 0);
    EXPECT_EQ(domain.p2m.lookup(0x210).mfn, one.info_mfn);
    EXPECT_EQ(domain.p2m.lookup(0x200).mfn, ram_at_0x200) << "the RAM it covered shows again";
    vcpu_info_note_entry(one, 3);
    EXPECT_EQ(vcpu_info(one)->cpu, 3u);
    EXPECT_EQ(vcpu_info(one)->entries, 1u);

    // vCPU 1 masks its upcalls in its own page: its port waits, vCPU 0's still comes.
    ASSERT_EQ(call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_SET_UPCALL_VECTOR, 0x40), 0);
    const i64 for_zero = call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_TIMER, 10'000'000);
    const i64 for_one = call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_TIMER, 10'000'000);
    ASSERT_GT(for_zero, 0);
    ASSERT_GT(for_one, 0);
    ASSERT_EQ(call(zero, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_VCPU, for_one, 1), 0);
    vcpu_info(one)->upcall_mask = 1;
    EXPECT_FALSE(domain.events.raise(static_cast<u16>(for_one)));
    EXPECT_EQ(vcpu_info(one)->upcall_pending, 0u);
    EXPECT_TRUE(domain.events.raise(static_cast<u16>(for_zero))) << "vCPU 0 uses the shared-info flags";
    EXPECT_EQ(domain.shared_info()->upcall_pending, 1u);
    vcpu_info(one)->upcall_mask = 0;
    EXPECT_TRUE(domain.events.raise(static_cast<u16>(for_one)));
    EXPECT_EQ(vcpu_info(one)->upcall_pending, 1u);

    // Destroying the domain frees the page with the rest.
    ASSERT_EQ(domain_destroy(domain.id), 0);
    EXPECT_EQ(frame_allocator().free_frame_count(MemClass::preserved), free_at_start);
}

TEST_F(VcpuTest, TheSchedulerGivesEveryVcpuOfEveryDomainATurn)
{
    Domain &a = create(3);
    Domain &b = create(1);
    ASSERT_EQ(call(a.vcpus[0], BATON_HC_VCPU_UP, 1, 0x100000, 0x300000), 0);
    std::set<const Vcpu *> picked;
    for (int i = 0; i < 8; i++) {
        Vcpu *vcpu = scheduler_pick(0);
        ASSERT_NE(vcpu, nullptr);
        picked.insert(vcpu);
        scheduler_release(*vcpu, 0);
    }
    EXPECT_EQ(picked, (std::set<const Vcpu *>{&a.vcpus[0], &a.vcpus[1], &b.vcpus[0]})) << "down vCPUs are skipped";
    ASSERT_EQ(domain_pause(a.id), 0);
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(scheduler_pick(0), &b.vcpus[0]);
        scheduler_release(b.vcpus[0], 0);
    }
}
