// SPDX-License-Identifier: MIT
// Host test helpers: capture what the portable kernel code writes to the console.
#pragma once
#include <string>

void console_capture_begin();
std::string console_capture_end();

#include "lib/types.hpp"
// What time_now_ns() returns in host tests.
extern u64 host_time_ns;

struct Vcpu;
// The fake vCPU's instruction pointer, which the fake save and restore carry over.
u64 host_vcpu_rip(const Vcpu &vcpu);
void host_set_vcpu_rip(Vcpu &vcpu, u64 rip);
// The stack pointer a fake vCPU was started with (BATON_HC_VCPU_UP) or restored to.
u64 host_vcpu_rsp(const Vcpu &vcpu);
// What timer::tsc_khz() returns in host tests.
inline constexpr u64 HOST_TSC_KHZ = 2'000'000;

// this_cpu_index() of the calling thread (0 unless set).
void host_set_cpu_index(u32 index);
// What arch_tlb_shootdown_kick does in host tests (nothing while null); set it before
// starting the threads that change a p2m.
extern void (*host_tlb_kick)(u32 cpu);
// What arch_reschedule_kick does in host tests (nothing while null).
extern void (*host_reschedule_kick)(u32 cpu);
