// SPDX-License-Identifier: MIT
// AMD SVM: enabling it on the CPU and running one vCPU through VMRUN.
#pragma once
#include "arch/x86_64/svm/vmcb.hpp"
#include "lib/types.hpp"

// General registers VMRUN does not switch (RAX and RSP live in the VMCB). The layout
// is shared with svm_run.S.
struct GuestRegisters {
    u64 rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
static_assert(sizeof(GuestRegisters) == 14 * 8);

extern "C" void svm_run(u64 guest_vmcb_pa, u64 host_vmcb_pa, GuestRegisters *registers);

namespace svm {

// Checks CPUID and VM_CR; on failure returns false with the reason in `why`.
[[nodiscard]] bool supported(const char **why);
// Sets EFER.SVME and the host save area on the bootstrap CPU, and allocates what every CPU
// shares (the I/O and MSR permission maps). Returns 0 or a negative errno.
[[nodiscard]] int enable();
// The same on an application processor (CPU `index`), with the two pages it brings: the
// host save area VMRUN uses, and the host VMCB that VMSAVE/VMLOAD keep this CPU's own
// FS/GS (its per-CPU block), TR and syscall MSRs in around each VMRUN.
void enable_on_ap(u32 index, u64 host_save_pa, u64 host_vmcb_pa);
u32 asid_count();

} // namespace svm

// Why a vCPU stopped running, in arch-neutral terms for the vCPU loop.
enum class ExitKind : u8 {
    hypercall, // VMMCALL: number in rax, arguments in rdi, rsi, rdx, r10, r8
    halt, // HLT
    io, // IN/OUT: see io
    nested_fault, // nested page fault: see fault
    interrupt, // a physical interrupt arrived (timer): the host handles it after STGI
    virtual_intr, // the guest can now take an interrupt (VINTR)
    cpuid,
    msr,
    shutdown, // triple fault
    exception, // an intercepted guest exception
    invalid, // VMRUN refused the state (VMEXIT_INVALID)
    unknown,
};

struct VmExit {
    ExitKind kind = ExitKind::unknown;
    u64 code = 0;
    u64 info1 = 0;
    u64 info2 = 0;
    struct {
        u16 port;
        u8 size; // 1, 2 or 4
        bool in;
        bool string_or_rep;
    } io{};
    struct {
        u64 gpa;
        bool write;
        bool fetch;
        bool present;
    } fault{};
};

// One vCPU's SVM state: its VMCB, the registers VMRUN leaves alone, and exit decoding.
class SvmVcpu final {
public:
    // `vmcb_pa`: a zeroed, page-aligned ephemeral frame. `nested_root`: the NPT PML4.
    void init(u64 vmcb_pa, u32 asid, u64 nested_root);
    // PVH-style start: 32-bit protected mode, paging off, flat segments.
    void set_start_state(u32 entry, u32 ebx, u32 esp = 0, u32 esi = 0);
    VmExit run();

    Vmcb &vmcb() { return *vmcb_; }
    GuestRegisters &registers() { return registers_; }
    u64 rax() const { return vmcb_->state.rax; }
    void set_rax(u64 value) { vmcb_->state.rax = value; }
    void advance_rip(u64 length) { vmcb_->state.rip += length; }
    void set_nested_root(u64 root) { vmcb_->control.nested_cr3 = root; }
    // Asks for a TLB flush on the next entry. Any CPU may ask (under the hypervisor lock),
    // also while the vCPU runs elsewhere; the CPU that enters it turns the request into
    // TLB_CONTROL with commit_entry(), under the lock, so no request is lost.
    void flush_tlb_on_next_run() { flush_requested_ = true; }
    // Just before the entry, under the hypervisor lock: the flush request, and (after the
    // vCPU moved CPU) the VMCB clean bits cleared, since the new CPU cached nothing of it.
    void commit_entry(bool moved_cpu);
    // External interrupt injection of `vector` (EVENTINJ).
    void inject_interrupt(u8 vector);
    void request_interrupt_window(bool on);
    // A VINTR exit as soon as the guest can take an interrupt (IF set, no shadow): a dummy
    // virtual interrupt is posted so the intercept has something to fire on. Closing takes
    // both away. The PC platform then injects its own vector with EVENTINJ.
    void open_interrupt_window();
    void close_interrupt_window();

private:
    Vmcb *vmcb_ = nullptr;
    u64 vmcb_pa_ = 0;
    GuestRegisters registers_{};
    bool flush_requested_ = false;
};
