// SPDX-License-Identifier: MIT
// Concurrency tests of per-CPU scheduling: claims, run queues, placement and balancing, threads as CPUs.
#include "concurrency_support.hpp"
#include "dom/domain.hpp"
#include "dom/scheduler.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <vector>

using namespace concurrency_test;

namespace {

// Domains made by hand (no memory, no image): the scheduler looks at the domain table,
// the domain's state and each vCPU's run state only.
class SchedulerConcurrencyTest : public ::testing::Test {
protected:
    SchedulerConcurrencyTest() : ram_(256 * MiB)
    {
        EXPECT_EQ(frame_allocator().early_init(mm_test::qemu_layout()), 0);
        EXPECT_EQ(frame_allocator().init(), 0);
        for (u32 cpu = 0; cpu < MAX_CPU_SLOTS; cpu++)
            scheduler_set_cpu_online(cpu, false);
    }
    ~SchedulerConcurrencyTest() override
    {
        for (Domain *domain : made_) {
            for (Vcpu &vcpu : domain->vcpus)
                vcpu.arch = nullptr; // a stand-in, not the architecture's
            domain_discard(*domain);
        }
        for (u32 cpu = 0; cpu < MAX_CPU_SLOTS; cpu++)
            scheduler_set_cpu_online(cpu, false);
    }

    Domain &make(u16 id, u16 vcpus)
    {
        Domain *domain = domain_install(id);
        EXPECT_NE(domain, nullptr);
        domain->vcpu_count = vcpus;
        for (u16 i = 0; i < vcpus; i++) {
            Vcpu &vcpu = domain->vcpus[i];
            vcpu.domain = domain;
            vcpu.id = i;
            vcpu.arch = reinterpret_cast<ArchVcpu *>(&arch_stand_in_);
            vcpu.up = true;
        }
        domain->state = DomainState::running;
        made_.push_back(domain);
        return *domain;
    }

private:
    SimulatedRam ram_;
    std::vector<Domain *> made_;
    u64 arch_stand_in_ = 0;
};

} // namespace

TEST_F(SchedulerConcurrencyTest, PlacementSpreadsVcpusOverTheOnlineCpus)
{
    for (u32 cpu = 0; cpu < 4; cpu++)
        scheduler_set_cpu_online(cpu, true);
    EXPECT_EQ(scheduler_online_count(), 4u);
    Domain &a = make(1, 4);
    Domain &b = make(2, 2);
    for (Vcpu &vcpu : a.vcpus)
        vcpu.home_cpu = NO_CPU;
    for (Vcpu &vcpu : b.vcpus)
        vcpu.home_cpu = NO_CPU;
    u32 load[4] = {};
    for (u16 i = 0; i < 4; i++)
        load[scheduler_place(a.vcpus[i])]++;
    EXPECT_EQ(load[0] + load[1] + load[2] + load[3], 4u);
    for (u32 cpu = 0; cpu < 4; cpu++)
        EXPECT_EQ(load[cpu], 1u) << "least loaded first: one each";
    EXPECT_EQ(scheduler_place(b.vcpus[0], 2), 2u) << "its last CPU, which is online";
    EXPECT_EQ(scheduler_place(b.vcpus[1], 7), 0u) << "CPU 7 is offline: the least loaded, lowest index";
}

TEST_F(SchedulerConcurrencyTest, AVcpuHomedOnAnOfflineCpuRunsElsewhereAndKeepsItsHome)
{
    scheduler_set_cpu_online(0, true);
    Domain &a = make(1, 1);
    a.vcpus[0].home_cpu = 3; // restored from a record: it last ran on CPU 3, not up yet
    Vcpu *vcpu = scheduler_pick(0);
    ASSERT_EQ(vcpu, &a.vcpus[0]);
    EXPECT_EQ(vcpu_home(*vcpu), 3u);
    EXPECT_EQ(scheduler_pick(0), nullptr) << "claimed: not picked twice";
    scheduler_release(*vcpu, 0);
    scheduler_set_cpu_online(3, true);
    EXPECT_EQ(scheduler_pick(0), nullptr) << "CPU 3 is up: it is CPU 3's again";
    EXPECT_EQ(scheduler_pick(3), &a.vcpus[0]);
    scheduler_release(a.vcpus[0], 3);
}

// Every thread picks, "runs" and releases vCPUs as fast as it can; a vCPU seen by two at
// once, or one never run, fails. Six CPUs for eleven vCPUs homed unevenly: balancing must
// move some, since CPUs 3-5 have nothing of their own.
TEST_F(SchedulerConcurrencyTest, NoVcpuRunsOnTwoCpusAtOnceAndEveryOneRuns)
{
    for (u32 cpu = 1; cpu <= CPUS; cpu++)
        scheduler_set_cpu_online(cpu, true);
    Domain &one = make(1, 1);
    Domain &two = make(2, 2);
    Domain &eight = make(3, 8);
    one.vcpus[0].home_cpu = 1;
    for (Vcpu &vcpu : two.vcpus)
        vcpu.home_cpu = 2;
    for (Vcpu &vcpu : eight.vcpus)
        vcpu.home_cpu = 1;
    constexpr unsigned ROUNDS = 3000;
    std::atomic<u32> inside[3][MAX_VCPUS] = {};
    std::atomic<u64> runs[3][MAX_VCPUS] = {};
    std::atomic<u64> doubled{0}, wrong_claim{0};
    std::atomic<u64> per_cpu[CPUS + 1] = {};
    Domain *domains[3] = {&one, &two, &eight};
    run_cpus(CPUS, [&](u32 cpu) {
        for (unsigned i = 0; i < ROUNDS; i++) {
            Vcpu *vcpu = scheduler_pick(cpu);
            if (vcpu == nullptr) {
                std::this_thread::yield();
                continue;
            }
            const unsigned d = vcpu->domain->id - 1;
            if (inside[d][vcpu->id].fetch_add(1) != 0)
                doubled++;
            if (vcpu_running_on(*vcpu) != cpu)
                wrong_claim++;
            runs[d][vcpu->id]++;
            per_cpu[cpu]++;
            inside[d][vcpu->id].fetch_sub(1);
            scheduler_release(*vcpu, cpu);
        }
    });
    EXPECT_EQ(doubled.load(), 0u);
    EXPECT_EQ(wrong_claim.load(), 0u);
    for (unsigned d = 0; d < 3; d++)
        for (u16 v = 0; v < domains[d]->vcpu_count; v++) {
            EXPECT_GT(runs[d][v].load(), 0u) << "d" << d + 1 << " vCPU " << v;
            EXPECT_EQ(vcpu_running_on(domains[d]->vcpus[v]), NO_CPU);
        }
    unsigned cpus_that_ran = 0;
    for (u32 cpu = 1; cpu <= CPUS; cpu++)
        cpus_that_ran += per_cpu[cpu].load() != 0;
    EXPECT_GT(cpus_that_ran, 2u) << "idle CPUs took vCPUs from the busy ones";
}
