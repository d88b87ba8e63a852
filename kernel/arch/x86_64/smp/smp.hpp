// SPDX-License-Identifier: MIT
// Application processors: started at boot from the MADT, running vCPUs, parked for every jump.
#pragma once
#include "arch/x86_64/smp/per_cpu.hpp"
#include "boot/boot_info.hpp"
#include "boot/cmdline.hpp"
#include "mm/phys.hpp"

namespace smp {

// Low pages the AP start-up uses: the real-mode trampoline (its page is the SIPI vector)
// and the three page tables it enters long mode with. Below 1 MiB, which the heap never
// gets, and clear of the kexec trampoline's pages (0x8000-0xb000, checked in kexec.cpp):
// an image jumping away must never write where a starting AP may run.
inline constexpr u64 AP_TABLES_PHYS = 0x4000; // PML4, PDPT, PD
inline constexpr u64 AP_TRAMPOLINE_PHYS = 0x7000;
inline constexpr PhysRange AP_LOW_PAGES{AP_TABLES_PHYS, AP_TRAMPOLINE_PHYS + PAGE_SIZE};

// The vector the bootstrap CPU sends to ask an application processor to stop.
inline constexpr u8 STOP_VECTOR = 0xfd;
// The TLB shootdown kick (dom/tlb_shootdown.hpp): its arrival makes a CPU in guest mode
// leave it; the handler only acknowledges it.
inline constexpr u8 TLB_SHOOTDOWN_VECTOR = 0xfc;
// The reschedule kick (dom/scheduler.hpp): a CPU in guest mode leaves it, a halted one
// wakes; either then looks at its run queue. The handler only acknowledges it.
inline constexpr u8 RESCHEDULE_VECTOR = 0xfb;
// How long an AP has to report in, or to acknowledge a stop request.
inline constexpr u64 START_TIMEOUT_MS = 100;
inline constexpr u64 STOP_TIMEOUT_MS = 100;

// GS base and per-CPU block of the bootstrap CPU; before anything reads this_cpu().
void init_bootstrap();
// Finds the processors in the MADT and starts every other one with INIT-SIPI-SIPI (at
// most options.smp_cpus in all, 0: every one), each on its own stack, GDT and TSS, with
// the shared IDT and SVM ready, idling with interrupts on. A processor that does not
// report in within START_TIMEOUT_MS is reported and left out. Logs
// `smp: N of M CPUs up (APIC ids ...)`. After the heap, the timer and svm::enable.
void start_application_processors(const BootInfo &boot, const KernelOptions &options);
// The same in steps, for a start-up while guests run (after a live update): `begin` sends
// INIT and returns whether a start-up is under way (false: nothing to start, already
// logged); `continue` takes the next step when its time has come and returns whether the
// start-up is still under way (it logs the outcome when it ends). Call it between guest
// slices; each call returns at once. park_application_processors() ends one under way.
bool begin_starting_application_processors(const BootInfo &boot, const KernelOptions &options);
bool continue_starting_application_processors();
// Asks every running AP to stop, waits for each to acknowledge (interrupts off, halted),
// then sends it INIT: it waits for a start-up IPI and runs nothing of this image while
// the next one takes memory over. Before every jump to another image (kexec, the way
// back) and in machine_exit (panic, exception, the end of a run). An AP that does not
// acknowledge is INITed anyway and reported. Does nothing on an AP or when none runs.
void park_application_processors();
// The processors running now (the bootstrap CPU included).
usize online_count();
// CPU `index`'s block if that CPU is up (the bootstrap CPU once init_bootstrap ran), else
// nullptr.
PerCpu *cpu_if_up(u32 index);
// STOP_VECTOR's handler, from the interrupt dispatcher: acknowledges and halts.
void handle_stop_request();
// TLB_SHOOTDOWN_VECTOR's handler: the end of interrupt, nothing more. The #VMEXIT the
// interrupt caused (or, outside guest mode, the next entry's generation check) is the flush.
void handle_tlb_shootdown();
// RESCHEDULE_VECTOR's handler: the end of interrupt (the loop looks when it runs again).
void handle_reschedule();

} // namespace smp
