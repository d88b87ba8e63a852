// SPDX-License-Identifier: MIT
// Concurrency tests of per-CPU scheduling: claims, run queues, placement and balancing, threads as CPUs.
#include "concurrency_support.hpp"
#include "dom/domain.hpp"
#include "dom/hv_lock.hpp"
#include "dom/scheduler.hpp"
#include "test_mm_support.hpp"
#include <chrono>
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

namespace {

// Per CPU: a reschedule kick arrived (host_reschedule_kick), which ends "guest mode".
std::atomic<bool> kicked[MAX_CPU_SLOTS];

void record_kick(u32 cpu) { kicked[cpu].store(true); }

// The kernel's loop, on a thread: under the hypervisor lock pick a vCPU; "guest mode"
// without the lock (in_guest counts who is inside each vCPU) until a kick or the end of a
// 2 ms slice, as a guest runs until an interrupt; the exit and the release under the lock
// again. Ends when `done` is set.
void loop_like_the_kernel(u32 cpu, std::atomic<bool> &done, std::atomic<u32> *in_guest)
{
    while (!done.load()) {
        hv_lock();
        Vcpu *vcpu = scheduler_pick(cpu);
        hv_unlock();
        if (vcpu == nullptr) {
            std::this_thread::yield();
            continue;
        }
        const unsigned slot = (vcpu->domain->id - 1u) * MAX_VCPUS + vcpu->id;
        kicked[cpu].store(false);
        in_guest[slot].fetch_add(1);
        const auto slice_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
        while (!kicked[cpu].load() && std::chrono::steady_clock::now() < slice_end)
            std::this_thread::yield();
        in_guest[slot].fetch_sub(1);
        hv_lock();
        scheduler_release(*vcpu, cpu);
        hv_unlock();
    }
}

// Stop-and-resume rounds: enough for the runners to be caught inside a vCPU many times.
constexpr int STOP_ROUNDS = 60;

u32 inside_any(const std::atomic<u32> *in_guest, usize slots)
{
    u32 inside = 0;
    for (usize i = 0; i < slots; i++)
        inside += in_guest[i].load();
    return inside;
}

// Four runner threads as CPUs 1-4 (loop_like_the_kernel over `in_guest`) and CPU 0 as the
// controller, which runs `control` and then ends the runners. The domains' vCPUs are homed
// round robin over the runners.
constexpr u32 RUNNERS = 4;
std::atomic<u32> in_guest[2 * MAX_VCPUS];

void run_with_runners(std::initializer_list<Domain *> domains, const std::function<void()> &control)
{
    for (u32 cpu = 0; cpu <= RUNNERS; cpu++)
        scheduler_set_cpu_online(cpu, true);
    u32 next = 0;
    for (Domain *domain : domains)
        for (u16 i = 0; i < domain->vcpu_count; i++)
            domain->vcpus[i].home_cpu = 1 + next++ % RUNNERS;
    for (std::atomic<u32> &count : in_guest)
        count = 0;
    std::atomic<bool> done{false};
    host_reschedule_kick = record_kick;
    run_cpus(
        RUNNERS + 1,
        [&](u32 cpu) {
            if (cpu != 0)
                return loop_like_the_kernel(cpu, done, in_guest);
            control();
            done = true;
        },
        0);
    host_reschedule_kick = nullptr;
}

} // namespace

// The live update's quiesce: with every vCPU stopped and the wait returned, no CPU is in a
// vCPU, and none enters one until everything resumes. Four CPUs run seven vCPUs; CPU 0
// stops and resumes them round after round, holding the hypervisor lock as the update does.
TEST_F(SchedulerConcurrencyTest, StoppingEveryVcpuWaitsUntilNoCpuIsInsideOne)
{
    Domain &a = make(1, 4);
    Domain &b = make(2, 3);
    u64 stopped_rounds = 0, seen_inside = 0, timeouts = 0;
    run_with_runners({&a, &b}, [&] {
        for (int round = 0; round < STOP_ROUNDS; round++) {
            hv_lock();
            scheduler_stop_all();
            u32 late = NO_CPU;
            if (!scheduler_wait_unclaimed(nullptr, ~u64{0} >> 1, late))
                timeouts++;
            // "Writing the record": nobody may be in a vCPU all this while.
            for (int look = 0; look < 20; look++) {
                seen_inside += inside_any(in_guest, std::size(in_guest));
                std::this_thread::yield();
            }
            stopped_rounds++;
            scheduler_resume_all();
            hv_unlock();
            std::this_thread::yield();
        }
    });
    EXPECT_EQ(stopped_rounds, u64{STOP_ROUNDS});
    EXPECT_EQ(timeouts, 0u);
    EXPECT_EQ(seen_inside, 0u) << "a CPU was inside a vCPU while every vCPU was stopped";
    EXPECT_FALSE(scheduler_stopped());
    EXPECT_EQ(mm_locks_held(), 0u);
}

// Pausing a domain returns only once no other CPU is inside one of its vCPUs (the other
// domain's vCPUs are not waited for); unpausing lets them run again.
TEST_F(SchedulerConcurrencyTest, PausingADomainWaitsForItsVcpusOnOtherCpus)
{
    Domain &a = make(1, 4);
    Domain &b = make(2, 2);
    u64 inside_paused = 0, failures = 0;
    run_with_runners({&a, &b}, [&] {
        for (int round = 0; round < STOP_ROUNDS; round++) {
            hv_lock();
            if (domain_pause(a.id) != 0)
                failures++;
            for (int look = 0; look < 20; look++) {
                inside_paused += inside_any(in_guest, MAX_VCPUS); // domain a's slots
                std::this_thread::yield();
            }
            if (domain_unpause(a.id) != 0)
                failures++;
            hv_unlock();
            std::this_thread::yield();
        }
    });
    EXPECT_EQ(failures, 0u);
    EXPECT_EQ(inside_paused, 0u) << "a CPU was inside a paused domain's vCPU";
    EXPECT_EQ(a.state, DomainState::running);
    EXPECT_EQ(mm_locks_held(), 0u);
}
