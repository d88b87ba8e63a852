// SPDX-License-Identifier: MIT
// Per-CPU data: one block per processor, reached through the GS base.
#pragma once
#include "arch/x86_64/acpi/madt.hpp"
#include "arch/x86_64/cpu/gdt.hpp"
#include "lib/this_cpu.hpp"
#include "lib/types.hpp"

namespace smp {

inline constexpr usize MAX_CPUS = madt::MAX_PROCESSORS;
static_assert(MAX_CPUS <= MAX_CPU_SLOTS, "generic per-CPU arrays (lib/this_cpu.hpp) cover every CPU");

// What a processor is doing, as the bootstrap CPU and the processor itself agree on it.
// Written with release stores, read with acquire loads: it is the only word they share.
enum class CpuState : u32 {
    offline = 0, // never started, failed to start, or parked in wait-for-SIPI
    starting, // given a ticket by the trampoline, setting itself up
    up, // running: its scheduling loop (or, without SVM, halting until an interrupt)
    stop_requested, // the bootstrap CPU asked it to stop (STOP_VECTOR follows)
    stopped, // acknowledged: interrupts off, halted, about to be INITed
};

struct PerCpu {
    PerCpu *self = nullptr; // GS:0, so this_cpu() is one load
    u32 index = 0; // 0: the bootstrap CPU; APs in the order they reported
    u32 apic_id = 0;
    u64 stack_top = 0;
    u64 host_save_pa = 0; // VM_HSAVE_PA: SVM is ready here once set (0: no SVM)
    u64 memory_pa = 0; // the block of frames with the stacks and the host save area
    CpuState state = CpuState::offline;
    // A call-function request (call_function.hpp), atomic: the caller sets the argument,
    // then the function; this CPU's handler takes the function and sets call_done.
    void (*call_function)(void *argument) = nullptr;
    void *call_argument = nullptr;
    u32 call_done = 0;
    gdt::CpuTables tables{};

    CpuState load_state() const { return __atomic_load_n(&state, __ATOMIC_ACQUIRE); }
    void store_state(CpuState next) { __atomic_store_n(&state, next, __ATOMIC_RELEASE); }
};

// This CPU's block (GS base); valid on the bootstrap CPU once smp::init_bootstrap ran.
inline PerCpu &this_cpu()
{
    PerCpu *cpu;
    asm volatile("mov %%gs:0, %0" : "=r"(cpu));
    return *cpu;
}

} // namespace smp
