// SPDX-License-Identifier: MIT
// The scheduling loop on SVM: picks a vCPU, injects its upcall, runs it through VMRUN
// and hands each exit to vm_exits.cpp; polls the control channel between slices.
#include "arch/x86_64/svm/vcpu_loop.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/debug_exit.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/smp/per_cpu.hpp"
#include "arch/x86_64/svm/arch_vcpu.hpp"
#include "arch/x86_64/svm/pc_guest.hpp"
#include "arch/x86_64/svm/vm_exits.hpp"
#include "dom/domain.hpp"
#include "dom/scheduler.hpp"
#include "dom/vcpu_info.hpp"
#include "lib/log.hpp"
#include "lib/this_cpu.hpp"
#include "lib/time.hpp"

namespace {

constexpr u64 TICK_NS = 1 * NS_PER_MS;

// The vCPU that last ran on the shared ASID on this CPU (only the bootstrap CPU runs
// vCPUs so far; a per-CPU field once others do). Another one must not see its TLB entries.
const Vcpu *shared_asid_user;

void run_slice(Vcpu &vcpu)
{
    ArchVcpu &arch = *vcpu.arch;
    Domain &domain = *vcpu.domain;
    vcpu.last_cpu = smp::this_cpu().index;
    vcpu_info_note_entry(vcpu, vcpu.last_cpu);
    if (arch.shared_asid && shared_asid_user != &vcpu) {
        arch.svm.flush_tlb_on_next_run();
        shared_asid_user = &vcpu;
    }
    while (vcpu_runnable(vcpu)) {
        if (domain.platform != nullptr)
            pc_guest::deliver_interrupts(vcpu);
        if (arch.upcall_requested) {
            arch.svm.inject_interrupt(arch.upcall_vector);
            arch.upcall_requested = false;
        }
        // The TLB shootdown protocol (dom/tlb_shootdown.hpp): from here until the exit this
        // CPU counts as running the domain's guest code at the generation it read, and a
        // change waits for it; a moved generation is flushed before the guest runs.
        const u32 cpu = this_cpu_index();
        const u64 generation = domain.p2m.tlb().enter_guest(cpu);
        if (generation != arch.tlb_generation_seen) {
            arch.tlb_generation_seen = generation;
            arch.svm.flush_tlb_on_next_run();
        }
        fpu::switch_to(arch);
        VmExit exit = arch.svm.run();
        domain.p2m.tlb().exit_guest(cpu);
        vcpu.exits++;
        if (!handle_exit(vcpu, exit))
            return;
    }
}

bool any_domain_alive()
{
    bool alive = false;
    for_each_domain([&](Domain &d) { alive |= d.state == DomainState::running || d.state == DomainState::paused; });
    return alive;
}

} // namespace

void run_guests(IdleWork poll, bool exit_when_idle)
{
    timer::start_tick(TICK_NS);
    // Only the bootstrap CPU runs vCPUs so far: it is the one online CPU, so every vCPU,
    // whatever its home, is picked here (docs/smp.md).
    scheduler_set_cpu_online(this_cpu_index(), true);
    cpu::enable_interrupts();
    for (;;) {
        if (poll != nullptr)
            poll();
        domains_tick(time_now_ns());
        const u32 cpu = this_cpu_index();
        if (Vcpu *vcpu = scheduler_pick(cpu)) {
            run_slice(*vcpu);
            scheduler_release(*vcpu, cpu);
            continue;
        }
        if (exit_when_idle && !any_domain_alive()) {
            log_info("boot: no domain left running; ending as asked (after_boot=exit)");
            machine_exit(ExitCode::success);
        }
        // Nothing to run: sleep until the next tick (or another interrupt).
        asm volatile("sti; hlt" ::: "memory");
    }
}
