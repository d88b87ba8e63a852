// SPDX-License-Identifier: MIT
// Per-CPU scheduling: each vCPU's home CPU, a claim so one CPU runs it at a time, round robin.
#include "dom/scheduler.hpp"
#include "dom/domain.hpp"
#include "dom/hv_lock.hpp"
#include "lib/this_cpu.hpp"
#include "lib/time.hpp"

namespace {
// Round robin over (domain slot, vCPU) pairs: every vCPU of every domain gets its turn,
// so a domain with 4 vCPUs gets 4 turns to a 1-vCPU domain's one. Each CPU has its own
// position (where its next search starts), written only by that CPU.
constexpr u32 SLOTS = u32{MAX_DOMAINS} * MAX_VCPUS;
u32 next_position[MAX_CPU_SLOTS];
u64 online_mask; // atomic: bit n, CPU n runs vCPUs
bool all_stopped; // atomic: scheduler_stop_all
u64 exit_delay_ns; // atomic: scheduler_inject_exit_delay

Vcpu *slot_vcpu(u32 position)
{
    Domain *domain = domain_slot(static_cast<u16>(position / MAX_VCPUS));
    return domain != nullptr ? domain->vcpu(position % MAX_VCPUS) : nullptr;
}

bool claim(Vcpu &vcpu, u32 cpu)
{
    u32 expected = NO_CPU;
    return __atomic_compare_exchange_n(&vcpu.running_on, &expected, cpu, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

// Runnable vCPUs homed on `cpu` (balancing takes from a CPU with more than one).
u32 runnable_homed_on(u32 cpu)
{
    u32 count = 0;
    for (u32 position = 0; position < SLOTS; position++) {
        const Vcpu *vcpu = slot_vcpu(position);
        if (vcpu != nullptr && vcpu_home(*vcpu) == cpu && vcpu_runnable(*vcpu))
            count++;
    }
    return count;
}
} // namespace

bool vcpu_runnable(const Vcpu &vcpu)
{
    return vcpu.domain != nullptr && vcpu.domain->state == DomainState::running && vcpu.up && !vcpu.blocked &&
           vcpu.arch != nullptr && !scheduler_stopped();
}

void scheduler_set_cpu_online(u32 cpu, bool online)
{
    if (cpu >= MAX_CPU_SLOTS)
        return;
    if (online)
        __atomic_or_fetch(&online_mask, u64{1} << cpu, __ATOMIC_ACQ_REL);
    else
        __atomic_and_fetch(&online_mask, ~(u64{1} << cpu), __ATOMIC_ACQ_REL);
}

bool scheduler_cpu_online(u32 cpu)
{
    return cpu < MAX_CPU_SLOTS && ((__atomic_load_n(&online_mask, __ATOMIC_ACQUIRE) >> cpu) & 1) != 0;
}

u32 scheduler_online_count()
{
    u64 mask = __atomic_load_n(&online_mask, __ATOMIC_ACQUIRE);
    u32 count = 0;
    for (; mask != 0; mask &= mask - 1) // no __builtin_popcount: it needs libgcc here
        count++;
    return count;
}

u32 scheduler_place(Vcpu &vcpu, u32 preferred)
{
    u32 home = preferred;
    if (!scheduler_cpu_online(home)) {
        u32 load[MAX_CPU_SLOTS] = {};
        for (u32 position = 0; position < SLOTS; position++) {
            const Vcpu *other = slot_vcpu(position);
            if (other != nullptr && other != &vcpu && other->up && vcpu_home(*other) < MAX_CPU_SLOTS)
                load[vcpu_home(*other)]++;
        }
        home = 0; // no CPU online yet (boot): the bootstrap CPU
        bool found = false;
        for (u32 cpu = 0; cpu < MAX_CPU_SLOTS; cpu++) {
            if (scheduler_cpu_online(cpu) && (!found || load[cpu] < load[home])) {
                home = cpu;
                found = true;
            }
        }
    }
    __atomic_store_n(&vcpu.home_cpu, home, __ATOMIC_RELAXED);
    return home;
}

Vcpu *scheduler_pick(u32 cpu)
{
    u32 &next = next_position[cpu];
    for (u32 step = 0; step < SLOTS; step++) {
        const u32 position = (next + step) % SLOTS;
        Vcpu *vcpu = slot_vcpu(position);
        if (vcpu == nullptr || !vcpu_runnable(*vcpu))
            continue;
        const u32 home = vcpu_home(*vcpu);
        if ((home == cpu || !scheduler_cpu_online(home)) && claim(*vcpu, cpu)) {
            next = position + 1;
            return vcpu;
        }
    }
    // Nothing of its own: take over a waiting vCPU from a CPU with more than one runnable.
    for (u32 step = 0; step < SLOTS; step++) {
        const u32 position = (next + step) % SLOTS;
        Vcpu *vcpu = slot_vcpu(position);
        if (vcpu == nullptr || !vcpu_runnable(*vcpu) || vcpu_running_on(*vcpu) != NO_CPU)
            continue;
        const u32 home = vcpu_home(*vcpu);
        if (home != cpu && runnable_homed_on(home) > 1 && claim(*vcpu, cpu)) {
            __atomic_store_n(&vcpu->home_cpu, cpu, __ATOMIC_RELAXED);
            next = position + 1;
            return vcpu;
        }
    }
    return nullptr;
}

void scheduler_release(Vcpu &vcpu, u32 cpu)
{
    u32 expected = cpu;
    (void)__atomic_compare_exchange_n(&vcpu.running_on, &expected, NO_CPU, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

namespace {
// A CPU other than this one that holds a claim on a vCPU of `domain` (nullptr: of any), or
// NO_CPU; kicks each such CPU when `kick`.
u32 other_claims(const Domain *domain, bool kick)
{
    const u32 self = this_cpu_index();
    u32 found = NO_CPU;
    for (u32 position = 0; position < SLOTS; position++) {
        const Vcpu *vcpu = slot_vcpu(position);
        if (vcpu == nullptr || (domain != nullptr && vcpu->domain != domain))
            continue;
        const u32 cpu = vcpu_running_on(*vcpu);
        if (cpu == NO_CPU || cpu == self)
            continue;
        found = cpu;
        if (kick)
            arch_reschedule_kick(cpu);
    }
    return found;
}
} // namespace

bool scheduler_wait_unclaimed(const Domain *domain, u64 timeout_ns, u32 &late_cpu)
{
    late_cpu = other_claims(domain, true);
    if (late_cpu == NO_CPU)
        return true;
    const u64 start = time_now_ns();
    {
        // The domain table is stable meanwhile: only the CPU that serves the control channel
        // creates and destroys domains, and that is the caller.
        HvLockDropped dropped;
        while (other_claims(domain, false) != NO_CPU && time_now_ns() - start < timeout_ns)
            asm volatile("pause" ::: "memory");
    }
    late_cpu = other_claims(domain, false);
    return late_cpu == NO_CPU;
}

void scheduler_stop_all() { __atomic_store_n(&all_stopped, true, __ATOMIC_RELEASE); }

void scheduler_resume_all()
{
    __atomic_store_n(&all_stopped, false, __ATOMIC_RELEASE);
    for (u32 position = 0; position < SLOTS; position++)
        if (const Vcpu *vcpu = slot_vcpu(position); vcpu != nullptr && vcpu_runnable(*vcpu))
            scheduler_kick(*vcpu);
}

bool scheduler_stopped() { return __atomic_load_n(&all_stopped, __ATOMIC_ACQUIRE); }

void scheduler_kick(const Vcpu &vcpu)
{
    u32 target = vcpu_running_on(vcpu);
    if (target == NO_CPU)
        target = vcpu_home(vcpu);
    if (target != this_cpu_index() && scheduler_cpu_online(target))
        arch_reschedule_kick(target);
}

void scheduler_inject_exit_delay(u64 ns) { __atomic_store_n(&exit_delay_ns, ns, __ATOMIC_RELEASE); }

u64 scheduler_take_exit_delay(u32 cpu)
{
    if (cpu == 0 || __atomic_load_n(&exit_delay_ns, __ATOMIC_RELAXED) == 0)
        return 0;
    return __atomic_exchange_n(&exit_delay_ns, 0, __ATOMIC_ACQ_REL);
}

bool scheduler_exit_delay_pending() { return __atomic_load_n(&exit_delay_ns, __ATOMIC_ACQUIRE) != 0; }
