// SPDX-License-Identifier: MIT
// The scheduling loop on SVM, on every CPU: picks a vCPU, runs it through VMRUN without the
// hypervisor lock and handles each exit under it; the bootstrap CPU also polls.
#include "arch/x86_64/svm/vcpu_loop.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/debug_exit.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/svm/arch_vcpu.hpp"
#include "arch/x86_64/svm/pc_guest.hpp"
#include "arch/x86_64/svm/vm_exits.hpp"
#include "dom/domain.hpp"
#include "dom/hv_lock.hpp"
#include "dom/scheduler.hpp"
#include "dom/vcpu_info.hpp"
#include "lib/log.hpp"
#include "lib/this_cpu.hpp"
#include "lib/time.hpp"

namespace {

constexpr u64 TICK_NS = 1 * NS_PER_MS;

// Per CPU: the vCPU that last ran on the shared ASID there. Another one must not see its
// TLB entries. Each CPU reads and writes only its own entry.
const Vcpu *shared_asid_user[MAX_CPU_SLOTS];

// The application processors wait for this before their first pick: until the bootstrap
// CPU's loop begins, it builds the domains without the hypervisor lock.
bool loop_started;

// Leaves guest mode counted (dom/tlb_shootdown.hpp) before taking the lock again: a CPU
// that changes the p2m under the lock waits for this CPU's exit_guest.
VmExit enter_guest(Vcpu &vcpu, ArchVcpu &arch, u32 cpu, bool moved)
{
    Domain &domain = *vcpu.domain;
    // GIF off from here to VMRUN: a kick (shootdown, reschedule) that arrives after the
    // generation is read stays pending and makes the guest exit at once, instead of being
    // taken by the host before VMRUN and leaving the guest to run on until its next tick.
    asm volatile("clgi" ::: "memory");
    // The TLB shootdown protocol: from here until the exit this CPU counts as running the
    // domain's guest code at the generation it read, and a change waits for it; a moved
    // generation is flushed before the guest runs.
    const u64 generation = domain.p2m.tlb().enter_guest(cpu);
    if (generation != arch.tlb_generation_seen) {
        arch.tlb_generation_seen = generation;
        arch.svm.flush_tlb_on_next_run();
    }
    fpu::switch_to(arch);
    arch.svm.commit_entry(moved);
    hv_unlock();
    VmExit exit = arch.svm.run(); // sets GIF again on its way out
    domain.p2m.tlb().exit_guest(cpu);
    if (const u64 delay = scheduler_take_exit_delay(cpu)) { // a test fault: a CPU held up
        for (const u64 start = time_now_ns(); time_now_ns() - start < delay;)
            cpu::pause();
    }
    hv_lock();
    return exit;
}

// One slice of `vcpu` on this CPU, which holds its claim and the hypervisor lock.
void run_slice(Vcpu &vcpu)
{
    ArchVcpu &arch = *vcpu.arch;
    Domain &domain = *vcpu.domain;
    const u32 cpu = this_cpu_index();
    // Another CPU's TLB may hold this vCPU's translations under its ASID, and this one
    // stale ones from when it last ran here: a vCPU that moved is flushed.
    bool moved = vcpu.last_cpu != cpu;
    if (moved)
        arch.svm.flush_tlb_on_next_run();
    vcpu.last_cpu = cpu;
    vcpu_info_note_entry(vcpu, cpu);
    if (arch.shared_asid && shared_asid_user[cpu] != &vcpu) {
        arch.svm.flush_tlb_on_next_run();
        shared_asid_user[cpu] = &vcpu;
    }
    while (vcpu_runnable(vcpu)) {
        if (domain.platform != nullptr)
            pc_guest::deliver_interrupts(vcpu);
        if (arch.upcall_requested) {
            arch.svm.inject_interrupt(arch.upcall_vector);
            arch.upcall_requested = false;
        }
        VmExit exit = enter_guest(vcpu, arch, cpu, moved);
        moved = false;
        vcpu.exits++;
        if (!handle_exit(vcpu, exit))
            break;
    }
    fpu::release(arch); // it may run on another CPU next
}

bool any_domain_alive()
{
    bool alive = false;
    for_each_domain([&](Domain &d) { alive |= d.state == DomainState::running || d.state == DomainState::paused; });
    return alive;
}

// Halts until a tick or a kick, then takes the lock again; interrupts are off on entry. An
// application processor takes it only when it is free and the scheduler is not stopped,
// and halts again otherwise: it has nothing to hand in, and spinning would take a host core
// from the CPU that holds the lock (under TCG every CPU is a host thread).
void idle(bool bootstrap)
{
    for (;;) {
        asm volatile("sti; hlt" ::: "memory");
        if (bootstrap) {
            hv_lock();
            return;
        }
        cpu::disable_interrupts();
        if (!scheduler_stopped() && hv_try_lock()) {
            cpu::enable_interrupts();
            return;
        }
    }
}

// The loop every CPU runs; `poll` non-null on the bootstrap CPU only.
[[noreturn]] void schedule(IdleWork poll, bool bootstrap, bool exit_when_idle)
{
    const u32 cpu = this_cpu_index();
    timer::start_tick(TICK_NS);
    // Interrupts on before the lock: a CPU spinning for it must still take a stop request
    // or a call-function request (the lock's holder may be waiting for either).
    cpu::enable_interrupts();
    hv_lock();
    scheduler_set_cpu_online(cpu, true);
    if (bootstrap) {
        __atomic_store_n(&loop_started, true, __ATOMIC_RELEASE);
        for (u32 ap = 1; ap < MAX_CPU_SLOTS; ap++)
            if (scheduler_cpu_online(ap))
                arch_reschedule_kick(ap); // into their loops (run_guests_on_ap)
    }
    for (;;) {
        if (bootstrap) {
            if (poll != nullptr)
                poll();
            domains_tick(time_now_ns());
        }
        if (Vcpu *vcpu = scheduler_pick(cpu)) {
            run_slice(*vcpu);
            scheduler_release(*vcpu, cpu);
            hv_unlock(); // a CPU waiting for the lock gets its turn between slices
            hv_lock();
            continue;
        }
        if (bootstrap && exit_when_idle && !any_domain_alive()) {
            log_info("boot: no domain left running; ending as asked (after_boot=exit)");
            machine_exit(ExitCode::success);
        }
        // Nothing to run: sleep until the next tick or a kick. Interrupts stay off from
        // before the lock is dropped to the halt, so a kick sent after this CPU found
        // nothing wakes the halt instead of being taken before it.
        cpu::disable_interrupts();
        hv_unlock();
        idle(bootstrap);
    }
}

} // namespace

void run_guests(IdleWork poll, bool exit_when_idle) { schedule(poll, true, exit_when_idle); }

void run_guests_on_ap()
{
    // Online now, so the domains built before the loops begin are placed over every CPU
    // (an atomic mask: no lock, which this CPU could only spin for with interrupts off).
    scheduler_set_cpu_online(this_cpu_index(), true);
    // Halted, with no tick and no LAPIC access, until the bootstrap CPU's loop begins and
    // kicks it: the boot meanwhile may change the memory map (IOMMU, device assignment),
    // which QEMU 7.2's multi-threaded TCG does not survive beside another CPU's MMIO
    // (docs/smp.md, "QEMU"). Interrupts go off for the check, so a kick after it wakes the
    // halt; a stop request is taken here too.
    for (;;) {
        cpu::disable_interrupts();
        if (__atomic_load_n(&loop_started, __ATOMIC_ACQUIRE))
            break;
        asm volatile("sti; hlt" ::: "memory");
    }
    cpu::enable_interrupts();
    schedule(nullptr, false, false);
}
