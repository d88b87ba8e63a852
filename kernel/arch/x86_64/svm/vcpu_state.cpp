// SPDX-License-Identifier: MIT
// Saving a vCPU's SVM state into the handover record and rebuilding a VMCB from it.
#include "dom/vcpu_state.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/msr.hpp"
#include "arch/x86_64/svm/arch_vcpu.hpp"
#include "dom/domain.hpp"

namespace schema = handover::schema;

namespace {

using cpu::EFER_SVME;
using vmcb::EVENT_VALID, vmcb::V_IRQ, vmcb::V_TPR_MASK;

void save_segment(const VmcbSegment &from, schema::Segment::Builder to)
{
    to.set_selector(from.selector);
    to.set_attributes(from.attributes);
    to.set_limit(from.limit);
    to.set_base(from.base);
}

VmcbSegment restore_segment(schema::Segment::Reader from)
{
    return VmcbSegment{from.selector(), from.attributes(), from.limit(), from.base()};
}

// The VMCB's event types in the record's terms: 0 interrupt, 2 NMI, 3 exception, 4 software.
schema::EventKind event_kind(u64 event)
{
    switch ((event >> 8) & 7) {
    case 0: return schema::EventKind::external_interrupt;
    case 2: return schema::EventKind::nmi;
    case 3: return schema::EventKind::exception;
    case 4: return schema::EventKind::software_interrupt;
    }
    return schema::EventKind::none;
}

u64 event_type(schema::EventKind kind)
{
    switch (kind) {
    case schema::EventKind::nmi: return 2;
    case schema::EventKind::exception: return 3;
    case schema::EventKind::software_interrupt: return 4;
    default: return 0;
    }
}

u64 read_debug_register(unsigned index)
{
    u64 value = 0;
    switch (index) {
    case 0: asm volatile("mov %%dr0, %0" : "=r"(value)); break;
    case 1: asm volatile("mov %%dr1, %0" : "=r"(value)); break;
    case 2: asm volatile("mov %%dr2, %0" : "=r"(value)); break;
    default: asm volatile("mov %%dr3, %0" : "=r"(value)); break;
    }
    return value;
}

// DR0-3 are not in the VMCB: the host never uses them, so they hold the guest's values
// (one physical CPU). They survive kexec the same way.
void write_debug_registers(u64 dr0, u64 dr1, u64 dr2, u64 dr3)
{
    asm volatile("mov %0, %%dr0" ::"r"(dr0));
    asm volatile("mov %0, %%dr1" ::"r"(dr1));
    asm volatile("mov %0, %%dr2" ::"r"(dr2));
    asm volatile("mov %0, %%dr3" ::"r"(dr3));
}

} // namespace

void arch_vcpu_save(const Vcpu &vcpu, schema::VcpuState::Builder out)
{
    ArchVcpu &arch = *vcpu.arch;
    Vmcb &vmcb = arch.svm.vmcb();
    const VmcbState &s = vmcb.state;
    const VmcbControl &c = vmcb.control;
    const GuestRegisters &r = arch.svm.registers();
    out.set_rax(s.rax), out.set_rbx(r.rbx), out.set_rcx(r.rcx), out.set_rdx(r.rdx);
    out.set_rsi(r.rsi), out.set_rdi(r.rdi), out.set_rbp(r.rbp), out.set_rsp(s.rsp);
    out.set_r8(r.r8), out.set_r9(r.r9), out.set_r10(r.r10), out.set_r11(r.r11);
    out.set_r12(r.r12), out.set_r13(r.r13), out.set_r14(r.r14), out.set_r15(r.r15);
    out.set_rip(s.rip), out.set_rflags(s.rflags);
    out.set_cr0(s.cr0), out.set_cr2(s.cr2), out.set_cr3(s.cr3), out.set_cr4(s.cr4);
    out.set_cr8(c.virtual_interrupt & V_TPR_MASK);
    out.set_efer(s.efer & ~EFER_SVME); // SVME is the host's requirement, not the guest's
    out.set_xcr0(1); // XSETBV is intercepted: x87 only
    out.set_dr0(read_debug_register(0)), out.set_dr1(read_debug_register(1));
    out.set_dr2(read_debug_register(2)), out.set_dr3(read_debug_register(3));
    out.set_dr6(s.dr6), out.set_dr7(s.dr7);
    save_segment(s.cs, out.init_cs()), save_segment(s.ds, out.init_ds()), save_segment(s.es, out.init_es());
    save_segment(s.fs, out.init_fs()), save_segment(s.gs, out.init_gs()), save_segment(s.ss, out.init_ss());
    save_segment(s.tr, out.init_tr()), save_segment(s.ldtr, out.init_ldtr());
    auto gdtr = out.init_gdtr();
    gdtr.set_base(s.gdtr.base), gdtr.set_limit(static_cast<u16>(s.gdtr.limit));
    auto idtr = out.init_idtr();
    idtr.set_base(s.idtr.base), idtr.set_limit(static_cast<u16>(s.idtr.limit));
    out.set_star(s.star), out.set_lstar(s.lstar), out.set_cstar(s.cstar), out.set_sfmask(s.sfmask);
    out.set_kernel_gs_base(s.kernel_gs_base);
    out.set_sysenter_cs(s.sysenter_cs), out.set_sysenter_esp(s.sysenter_esp), out.set_sysenter_eip(s.sysenter_eip);
    out.set_pat(s.g_pat), out.set_debug_ctl(s.dbgctl);

    // An event cut short by the last exit (EXITINTINFO) must be delivered again; otherwise
    // an injection queued for the next entry (EVENTINJ).
    u64 event = (c.exit_interrupt_info & EVENT_VALID) ? c.exit_interrupt_info : c.event_injection;
    auto pending = out.init_pending_event();
    if (event & EVENT_VALID) {
        pending.set_kind(event_kind(event));
        pending.set_vector(static_cast<u8>(event));
        pending.set_has_error_code((event & vmcb::EVENT_ERROR_CODE_VALID) != 0);
        pending.set_error_code(static_cast<u32>(event >> 32));
    }
    out.set_interrupt_shadow((c.interrupt_shadow & 1) != 0);
    out.set_virq_pending((c.virtual_interrupt & V_IRQ) != 0);
    out.set_virq_vector(static_cast<u8>(c.virtual_interrupt >> 32));
    out.set_upcall_pending(arch.upcall_requested);
    out.set_tsc_offset(static_cast<i64>(c.tsc_offset));
    fpu::save_owner(); // the registers may hold this vCPU's newest state
    out.set_fpu_state(arch.fpu_state, fpu::STATE_SIZE);
}

int arch_vcpu_restore(Vcpu &vcpu, u64 nested_root, schema::VcpuState::Reader in)
{
    // The reset state first: it fills the VMCB's control area as for a new vCPU.
    if (int error = arch_vcpu_create(vcpu, nested_root, 0, 0))
        return error;
    ArchVcpu &arch = *vcpu.arch;
    Vmcb &vmcb = arch.svm.vmcb();
    VmcbState &s = vmcb.state;
    VmcbControl &c = vmcb.control;
    GuestRegisters &r = arch.svm.registers();
    s.rax = in.rax(), r.rbx = in.rbx(), r.rcx = in.rcx(), r.rdx = in.rdx();
    r.rsi = in.rsi(), r.rdi = in.rdi(), r.rbp = in.rbp(), s.rsp = in.rsp();
    r.r8 = in.r8(), r.r9 = in.r9(), r.r10 = in.r10(), r.r11 = in.r11();
    r.r12 = in.r12(), r.r13 = in.r13(), r.r14 = in.r14(), r.r15 = in.r15();
    s.rip = in.rip(), s.rflags = in.rflags();
    s.cr0 = in.cr0(), s.cr2 = in.cr2(), s.cr3 = in.cr3(), s.cr4 = in.cr4();
    c.virtual_interrupt = (c.virtual_interrupt & ~V_TPR_MASK) | (in.cr8() & V_TPR_MASK);
    s.efer = in.efer() | EFER_SVME;
    write_debug_registers(in.dr0(), in.dr1(), in.dr2(), in.dr3());
    s.dr6 = in.dr6(), s.dr7 = in.dr7();
    s.cs = restore_segment(in.cs()), s.ds = restore_segment(in.ds()), s.es = restore_segment(in.es());
    s.fs = restore_segment(in.fs()), s.gs = restore_segment(in.gs()), s.ss = restore_segment(in.ss());
    s.tr = restore_segment(in.tr()), s.ldtr = restore_segment(in.ldtr());
    s.gdtr = VmcbSegment{0, 0, in.gdtr().limit(), in.gdtr().base()};
    s.idtr = VmcbSegment{0, 0, in.idtr().limit(), in.idtr().base()};
    // CPL is the DPL of SS (what VMRUN checks it against).
    s.cpl = static_cast<u8>((s.ss.attributes >> 5) & 3);
    s.star = in.star(), s.lstar = in.lstar(), s.cstar = in.cstar(), s.sfmask = in.sfmask();
    s.kernel_gs_base = in.kernel_gs_base();
    s.sysenter_cs = in.sysenter_cs(), s.sysenter_esp = in.sysenter_esp(), s.sysenter_eip = in.sysenter_eip();
    s.g_pat = in.pat(), s.dbgctl = in.debug_ctl();

    auto pending = in.pending_event();
    if (pending.kind() != schema::EventKind::none)
        c.event_injection = EVENT_VALID | (event_type(pending.kind()) << vmcb::EVENT_TYPE_SHIFT) | pending.vector() |
                            (pending.has_error_code() ? vmcb::EVENT_ERROR_CODE_VALID |
                                                            (u64{pending.error_code()} << vmcb::EVENT_ERROR_CODE_SHIFT)
                                                      : 0);
    c.interrupt_shadow = in.interrupt_shadow() ? 1 : 0;
    if (in.virq_pending())
        arch.svm.inject_interrupt(in.virq_vector());
    arch.upcall_requested = in.upcall_pending();
    arch.upcall_vector = vcpu.domain->events.upcall_vector();
    c.tsc_offset = static_cast<u64>(in.tsc_offset());
    const auto fpu_image = in.fpu_state();
    if (fpu_image.size == fpu::STATE_SIZE)
        __builtin_memcpy(arch.fpu_state, fpu_image.bytes, fpu::STATE_SIZE);
    else if (fpu_image.size == 0)
        fpu::capture(arch.fpu_state);
    else
        return arch_vcpu_destroy(vcpu), -BATON_EINVAL; // not an FXSAVE image
    arch.fpu_cpu = fpu::FPU_IN_MEMORY; // no CPU's registers hold this image yet
    return 0;
}
