// SPDX-License-Identifier: MIT
// Per-CPU scheduling: each vCPU's home CPU, a claim so one CPU runs it at a time, round robin.
#pragma once
#include "dom/vcpu.hpp"

// Running on no CPU (Vcpu::running_on), or no CPU to give.
inline constexpr u32 NO_CPU = ~u32{0};

// A vCPU can run when its domain is running, it is not blocked, and it has hardware state.
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
