// SPDX-License-Identifier: MIT
// Per-CPU scheduling: each vCPU's home CPU, a claim so one CPU runs it at a time, round robin.
#pragma once
#include "dom/vcpu.hpp"

struct Domain;

// Running on no CPU (Vcpu::running_on), or no CPU to give.
inline constexpr u32 NO_CPU = ~u32{0};

// A vCPU can run when its domain is running, it is not blocked, it has hardware state, and
// the scheduler is not stopped (scheduler_stop_all).
bool vcpu_runnable(const Vcpu &vcpu);

// The CPUs that run vCPUs now. A CPU comes online when it enters its scheduling loop and
// goes offline when it stops for a live update (or is parked); a vCPU homed on an offline
// CPU is run by whichever CPU takes it, and goes back once its home is online again.
void scheduler_set_cpu_online(u32 cpu, bool online);
bool scheduler_cpu_online(u32 cpu);
u32 scheduler_online_count();

// Gives a vCPU coming up a home: `preferred` if that CPU is online, else the online CPU
// with the fewest up vCPUs homed on it (the lowest index on a tie). Returns the home.
u32 scheduler_place(Vcpu &vcpu, u32 preferred = NO_CPU);

// The next vCPU for `cpu`, claimed for it (running_on == cpu), or nullptr. Round robin
// among the runnable vCPUs homed on `cpu` and those whose home is offline; with none, a
// runnable vCPU of a CPU that has more than one is taken over (its home becomes `cpu`).
// The claim is an atomic compare-and-swap: two CPUs never run one vCPU at once.
Vcpu *scheduler_pick(u32 cpu);
// `cpu` no longer runs the vCPU it claimed.
void scheduler_release(Vcpu &vcpu, u32 cpu);

// Atomic views of the scheduling words (written by other CPUs).
inline u32 vcpu_running_on(const Vcpu &vcpu) { return __atomic_load_n(&vcpu.running_on, __ATOMIC_ACQUIRE); }
inline u32 vcpu_home(const Vcpu &vcpu) { return __atomic_load_n(&vcpu.home_cpu, __ATOMIC_RELAXED); }

// Every CPU runs its vCPUs without the hypervisor lock (dom/hv_lock.hpp) while they are in
// guest mode, so a change that must not happen under a running vCPU (destroying or pausing
// its domain, writing the live-update record) first makes the vCPUs not runnable, then
// waits here until no other CPU holds a claim on them. The wait kicks the CPUs that run
// them (their next exit ends the slice, since the loop checks vcpu_runnable under the
// lock) and drops the hypervisor lock while it spins, so they can finish that exit; the
// caller must hold no other mm lock. A claim this CPU holds (a vCPU acting on its own
// domain) is not waited for. `domain` nullptr: every domain. Returns false, naming the CPU
// in `late_cpu`, if a claim is still held after `timeout_ns`.
[[nodiscard]] bool scheduler_wait_unclaimed(const Domain *domain, u64 timeout_ns, u32 &late_cpu);

// Stops every vCPU for a live update or a snapshot: none is runnable until
// scheduler_resume_all. Callers then wait with scheduler_wait_unclaimed(nullptr, ...).
void scheduler_stop_all();
void scheduler_resume_all();
bool scheduler_stopped();

// `vcpu` may have something new to do (an upcall, a wake-up, its domain resumed): the CPU
// running it is made to exit, or the CPU it will run on to look, unless that is this CPU.
void scheduler_kick(const Vcpu &vcpu);

// A test fault (`update-fault slow-cpu`): the next application processor to leave guest
// mode keeps its vCPU for `ns` before it handles the exit, as a CPU held up by firmware (an
// SMI) would; a live update meanwhile must time out and resume everything.
void scheduler_inject_exit_delay(u64 ns);
// The delay for `cpu`, once (0: none; the bootstrap CPU never takes it).
u64 scheduler_take_exit_delay(u32 cpu);
// Whether an injected delay is still waiting for a CPU to take it.
bool scheduler_exit_delay_pending();

// The arch's reschedule IPI to `cpu` (nothing for this CPU or one that is not up).
void arch_reschedule_kick(u32 cpu);
