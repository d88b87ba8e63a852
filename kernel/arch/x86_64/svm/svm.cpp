// SPDX-License-Identifier: MIT
// AMD SVM: enabling it, VMCB set-up for a PVH-style start, VMRUN and exit decoding.
#include "arch/x86_64/svm/svm.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "lib/log.hpp"
#include "lib/this_cpu.hpp"
#include "mm/frames.hpp"
#include "mm/phys.hpp"

namespace {

u64 host_save_area_pa; // where VMRUN keeps the bootstrap CPU's state
// Per CPU: the VMSAVE/VMLOAD area for the host's FS/GS/TR/LDTR and syscall MSRs. Each CPU
// has its own GS base (its per-CPU block) and TSS, so one shared area would hand a CPU
// another's after VMRUN.
u64 host_vmcb_pa[MAX_CPU_SLOTS];
u64 iopm_pa; // 12 KiB: every port intercepted
u64 msrpm_pa; // 8 KiB: every MSR intercepted but those VMLOAD/VMSAVE switch
u32 asids;

u64 alloc_zeroed(unsigned order)
{
    u64 pa = frame_allocator().alloc_frames(order, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    if (pa == 0)
        return 0;
    u8 *bytes = phys_to<u8>(pa);
    for (u64 i = 0; i < (PAGE_SIZE << order); i++)
        bytes[i] = 0;
    return pa;
}

// MSRs whose guest values live in the VMCB and are switched by VMLOAD/VMSAVE: the guest
// may read and write them directly.
void pass_through_msr(u8 *bitmap, u32 msr)
{
    u32 base;
    if (msr < 0x2000)
        base = 0;
    else if (msr >= 0xc0000000 && msr < 0xc0002000)
        base = 0x800 * 8, msr -= 0xc0000000;
    else
        return;
    u32 bit = base + msr * 2; // two bits per MSR: read, write
    bitmap[bit / 8] &= static_cast<u8>(~(3u << (bit % 8)));
}

void fill(u64 pa, u64 bytes, u8 value)
{
    u8 *p = phys_to<u8>(pa);
    for (u64 i = 0; i < bytes; i++)
        p[i] = value;
}

VmcbSegment flat_segment(u16 selector, u16 attributes) { return VmcbSegment{selector, attributes, 0xffffffff, 0}; }

} // namespace

bool svm::supported(const char **why)
{
    if ((cpu::cpuid(cpu::CPUID_EXTENDED_FEATURES).ecx & cpu::CPUID_80000001_ECX_SVM) == 0) {
        *why = "the CPU has no AMD SVM (CPUID 0x80000001 ECX bit 2); QEMU needs -cpu max or EPYC";
        return false;
    }
    if ((cpu::cpuid(cpu::CPUID_SVM_FEATURES).edx & cpu::CPUID_8000000A_EDX_NESTED_PAGING) == 0) {
        *why = "the CPU has SVM but no nested paging (CPUID 0x8000000A EDX bit 0)";
        return false;
    }
    if (cpu::rdmsr(cpu::MSR_VM_CR) & cpu::VM_CR_SVMDIS) {
        *why = "SVM is disabled by the firmware (VM_CR.SVMDIS)";
        return false;
    }
    return true;
}

int svm::enable()
{
    host_save_area_pa = alloc_zeroed(0);
    host_vmcb_pa[0] = alloc_zeroed(0);
    iopm_pa = alloc_zeroed(2);
    msrpm_pa = alloc_zeroed(1);
    if (!host_save_area_pa || !host_vmcb_pa[0] || !iopm_pa || !msrpm_pa)
        return -BATON_ENOMEM;
    fill(iopm_pa, 3 * PAGE_SIZE, 0xff);
    fill(msrpm_pa, 2 * PAGE_SIZE, 0xff);
    u8 *msrpm = phys_to<u8>(msrpm_pa);
    static constexpr u32 switched_msrs[] = {
        cpu::MSR_SYSENTER_CS, cpu::MSR_SYSENTER_ESP, cpu::MSR_SYSENTER_EIP, cpu::MSR_STAR,    cpu::MSR_LSTAR,
        cpu::MSR_CSTAR,       cpu::MSR_SFMASK,       cpu::MSR_FS_BASE,      cpu::MSR_GS_BASE, cpu::MSR_KERNEL_GS_BASE};
    for (u32 msr : switched_msrs)
        pass_through_msr(msrpm, msr);

    cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) | cpu::EFER_SVME);
    cpu::wrmsr(cpu::MSR_VM_HSAVE_PA, host_save_area_pa);
    const cpu::CpuidResult features = cpu::cpuid(cpu::CPUID_SVM_FEATURES);
    asids = features.ebx;
    log_info("svm: enabled, revision %u, %u ASIDs, nested paging", features.eax & 0xff, asids);
    return 0;
}

void svm::enable_on_ap(u32 index, u64 host_save_pa, u64 host_vmcb)
{
    if (index >= MAX_CPU_SLOTS)
        return;
    host_vmcb_pa[index] = host_vmcb;
    cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) | cpu::EFER_SVME);
    cpu::wrmsr(cpu::MSR_VM_HSAVE_PA, host_save_pa);
}

u32 svm::asid_count() { return asids; }

void SvmVcpu::init(u64 vmcb_pa, u32 asid, u64 nested_root)
{
    vmcb_pa_ = vmcb_pa;
    vmcb_ = phys_to<Vmcb>(vmcb_pa);
    VmcbControl &c = vmcb_->control;
    c.intercept_exceptions = vmcb::intercept_exception(cpu::VECTOR_MACHINE_CHECK); // they stay with the host
    c.intercept_misc1 = vmcb::INTERCEPT_INTR | vmcb::INTERCEPT_NMI | vmcb::INTERCEPT_CPUID | vmcb::INTERCEPT_HLT |
                        vmcb::INTERCEPT_IOIO | vmcb::INTERCEPT_MSR | vmcb::INTERCEPT_SHUTDOWN;
    // VMRUN must be intercepted or the CPU refuses the VMCB; the other SVM instructions
    // would let a guest touch host state.
    c.intercept_misc2 = vmcb::INTERCEPT_VMRUN | vmcb::INTERCEPT_VMMCALL | vmcb::INTERCEPT_VMLOAD |
                        vmcb::INTERCEPT_VMSAVE | vmcb::INTERCEPT_STGI | vmcb::INTERCEPT_CLGI | vmcb::INTERCEPT_SKINIT |
                        vmcb::INTERCEPT_XSETBV;
    c.iopm_base_pa = iopm_pa;
    c.msrpm_base_pa = msrpm_pa;
    c.guest_asid = asid;
    c.tlb_control = vmcb::TLB_FLUSH_ALL;
    // V_INTR_MASKING: the guest's IF masks only virtual interrupts, so a guest that
    // disables interrupts cannot keep the host's timer out.
    c.virtual_interrupt = vmcb::V_INTR_MASKING;
    c.nested_control = vmcb::NESTED_PAGING_ENABLE;
    c.nested_cr3 = nested_root;
}

void SvmVcpu::set_start_state(u32 entry, u32 ebx, u32 esp, u32 esi)
{
    VmcbState &s = vmcb_->state;
    s.cs = flat_segment(0x08, vmcb::SEGMENT_CODE32);
    s.ds = s.es = s.ss = s.fs = s.gs = flat_segment(0x10, vmcb::SEGMENT_DATA);
    s.tr = VmcbSegment{0, vmcb::SEGMENT_TSS_BUSY, 0xffff, 0};
    s.ldtr = VmcbSegment{0, vmcb::SEGMENT_LDT, 0xffff, 0};
    s.gdtr = VmcbSegment{0, 0, 0xffff, 0};
    s.idtr = VmcbSegment{0, 0, 0xffff, 0};
    s.cpl = 0;
    s.efer = cpu::EFER_SVME;
    s.cr0 = cpu::CR0_PE | cpu::CR0_ET;
    s.cr3 = 0;
    s.cr4 = 0;
    s.dr6 = cpu::DR6_RESET;
    s.dr7 = cpu::DR7_RESET;
    s.rflags = cpu::RFLAGS_RESERVED_ONE;
    s.rip = entry;
    s.rsp = esp;
    s.rax = 0;
    s.g_pat = cpu::PAT_RESET;
    registers_ = GuestRegisters{};
    registers_.rbx = ebx;
    registers_.rsi = esi;
}

void SvmVcpu::commit_entry(bool moved_cpu)
{
    vmcb_->control.tlb_control = flush_requested_ ? 1 : 0;
    flush_requested_ = false;
    if (moved_cpu)
        vmcb_->control.clean_bits = 0;
}

VmExit SvmVcpu::run()
{
    svm_run(vmcb_pa_, host_vmcb_pa[this_cpu_index()], &registers_);
    VmcbControl &c = vmcb_->control;
    // An event whose delivery this exit cut short (a nested fault on the IDT or stack,
    // say) goes in again on the next entry, or it would be lost.
    if ((c.exit_interrupt_info & vmcb::EVENT_VALID) != 0)
        c.event_injection = c.exit_interrupt_info;

    VmExit exit;
    exit.code = c.exit_code;
    exit.info1 = c.exit_info1;
    exit.info2 = c.exit_info2;
    u32 code = static_cast<u32>(c.exit_code); // QEMU reports VMEXIT_INVALID as 0xffffffff
    switch (code) {
    case vmcb::EXIT_VMMCALL: exit.kind = ExitKind::hypercall; break;
    case vmcb::EXIT_HLT: exit.kind = ExitKind::halt; break;
    case vmcb::EXIT_IOIO:
        exit.kind = ExitKind::io;
        exit.io.port = static_cast<u16>(c.exit_info1 >> vmcb::IOIO_PORT_SHIFT);
        exit.io.in = c.exit_info1 & vmcb::IOIO_IN;
        exit.io.string_or_rep = (c.exit_info1 & (vmcb::IOIO_STRING | vmcb::IOIO_REP)) != 0;
        exit.io.size = (c.exit_info1 & vmcb::IOIO_SIZE8) ? 1 : (c.exit_info1 & vmcb::IOIO_SIZE16) ? 2 : 4;
        break;
    case vmcb::EXIT_NPF:
        exit.kind = ExitKind::nested_fault;
        exit.fault.gpa = c.exit_info2;
        exit.fault.present = (c.exit_info1 & vmcb::NPF_PRESENT) != 0;
        exit.fault.write = (c.exit_info1 & vmcb::NPF_WRITE) != 0;
        exit.fault.fetch = (c.exit_info1 & vmcb::NPF_FETCH) != 0;
        break;
    case vmcb::EXIT_INTR:
    case vmcb::EXIT_NMI: exit.kind = ExitKind::interrupt; break;
    case vmcb::EXIT_VINTR: exit.kind = ExitKind::virtual_intr; break;
    case vmcb::EXIT_CPUID: exit.kind = ExitKind::cpuid; break;
    case vmcb::EXIT_MSR: exit.kind = ExitKind::msr; break;
    case vmcb::EXIT_SHUTDOWN: exit.kind = ExitKind::shutdown; break;
    case vmcb::EXIT_INVALID: exit.kind = ExitKind::invalid; break;
    default:
        exit.kind = code >= vmcb::EXIT_EXCEPTION_BASE && code < vmcb::EXIT_EXCEPTION_BASE + 32 ? ExitKind::exception
                                                                                               : ExitKind::unknown;
        break;
    }
    return exit;
}

void SvmVcpu::inject_interrupt(u8 vector)
{
    // V_IRQ with priority 15 and TPR ignored: the CPU delivers it once the guest has
    // interrupts enabled, and clears V_IRQ when it does.
    u64 v = vmcb_->control.virtual_interrupt;
    vmcb_->control.virtual_interrupt = (v & ~vmcb::V_INTR_VECTOR_MASK) | (u64{vector} << vmcb::V_INTR_VECTOR_SHIFT) |
                                       vmcb::V_IRQ | vmcb::V_INTR_PRIO_MASK | vmcb::V_IGN_TPR;
}

void SvmVcpu::open_interrupt_window()
{
    VmcbControl &c = vmcb_->control;
    c.virtual_interrupt =
        (c.virtual_interrupt & ~vmcb::V_INTR_VECTOR_MASK) | vmcb::V_IRQ | vmcb::V_INTR_PRIO_MASK | vmcb::V_IGN_TPR;
    c.intercept_misc1 |= vmcb::INTERCEPT_VINTR;
}

void SvmVcpu::close_interrupt_window()
{
    VmcbControl &c = vmcb_->control;
    c.virtual_interrupt &= ~(vmcb::V_IRQ | vmcb::V_INTR_PRIO_MASK | vmcb::V_IGN_TPR);
    c.intercept_misc1 &= ~vmcb::INTERCEPT_VINTR;
}

void SvmVcpu::request_interrupt_window(bool on)
{
    if (on)
        vmcb_->control.intercept_misc1 |= vmcb::INTERCEPT_VINTR;
    else
        vmcb_->control.intercept_misc1 &= ~vmcb::INTERCEPT_VINTR;
}
