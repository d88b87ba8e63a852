// SPDX-License-Identifier: MIT
// What each SVM exit of a guest does: hypercalls, HLT, port I/O, nested page faults,
// CPUID and MSR policy, shutdown; anything else crashes only that domain.
#include "arch/x86_64/svm/vm_exits.hpp"
#include "abi/hypercall.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/pci/guest_pci.hpp"
#include "arch/x86_64/svm/arch_vcpu.hpp"
#include "arch/x86_64/svm/pc_guest.hpp"
#include "dom/domain.hpp"
#include "dom/hypercall.hpp"

namespace {

// Returns false when the vCPU should give up the CPU.
using ExitResult = bool;

void inject_general_protection(SvmVcpu &svm)
{
    svm.vmcb().control.event_injection =
        vmcb::event_with_error_code(cpu::VECTOR_GENERAL_PROTECTION, vmcb::EVENT_EXCEPTION, 0);
}

ExitResult hypercall(Vcpu &vcpu, SvmVcpu &svm)
{
    const GuestRegisters &r = svm.registers();
    HypercallArgs args{svm.rax(), {r.rdi, r.rsi, r.rdx, r.r10, r.r8}, svm.vmcb().state.cpl};
    HypercallResult result = handle_hypercall(vcpu, args);
    svm.set_rax(static_cast<u64>(result.value));
    svm.advance_rip(3); // VMMCALL is 0f 01 d9; TCG does not provide nRIP
    return result.action == HypercallAction::resume;
}

ExitResult halt(Vcpu &vcpu, SvmVcpu &svm)
{
    if (vcpu.domain->platform != nullptr)
        return pc_guest::halt(vcpu);
    svm.advance_rip(1);
    if (!vcpu.domain->events.has_deliverable_for(vcpu.id) && !vcpu.arch->upcall_requested) {
        vcpu.blocked = true;
        vcpu.wake_deadline_ns = 0;
    }
    return false;
}

ExitResult port_io(Vcpu &vcpu, SvmVcpu &svm, const VmExit &exit)
{
    Domain &domain = *vcpu.domain;
    if (domain.platform != nullptr)
        return pc_guest::port_io(vcpu, exit);
    if (exit.io.string_or_rep)
        return domain_crash(domain, "string or REP I/O on port 0x%x is not emulated", exit.io.port), false;
    u64 mask = exit.io.size == 1 ? 0xff : exit.io.size == 2 ? 0xffff : 0xffffffff;
    if (guest_pci::handles(exit.io.port)) {
        u32 value = static_cast<u32>(svm.rax());
        guest_pci::access(domain, exit.io.port, exit.io.size, exit.io.in, value);
        if (exit.io.in)
            svm.set_rax((svm.rax() & ~mask) | (value & mask));
    } else if (exit.io.in)
        svm.set_rax((svm.rax() & ~mask) | mask); // no device: reads float high
    else if (exit.io.port == BATON_DEBUG_CONSOLE_PORT) {
        char c = static_cast<char>(svm.rax());
        domain_console_write(domain, &c, 1);
    }
    svm.vmcb().state.rip = exit.info2; // IOIO exits report the next RIP
    return true;
}

ExitResult cpuid(const Vcpu &vcpu, SvmVcpu &svm)
{
    GuestRegisters &r = svm.registers();
    u32 leaf = static_cast<u32>(svm.rax()), subleaf = static_cast<u32>(r.rcx);
    cpu::CpuidResult result{};
    if (leaf >= cpu::CPUID_HYPERVISOR_BASE && leaf < cpu::CPUID_HYPERVISOR_END) {
        if (leaf == cpu::CPUID_HYPERVISOR_BASE) // "BatonVMM" signature, no further leaves
            result = {cpu::CPUID_HYPERVISOR_BASE, 0x6f746142, 0x4d4d566e, 0};
    } else {
        result = cpu::cpuid(leaf, subleaf);
        if (leaf == cpu::CPUID_FEATURES)
            result.ecx = (result.ecx | cpu::CPUID_1_ECX_HYPERVISOR) & ~(cpu::CPUID_1_ECX_VMX | cpu::CPUID_1_ECX_X2APIC);
        if (leaf == cpu::CPUID_EXTENDED_FEATURES)
            result.ecx &= ~cpu::CPUID_80000001_ECX_SVM; // no nested SVM
        if (leaf == cpu::CPUID_SVM_FEATURES)
            result = {};
        if (vcpu.domain->platform != nullptr)
            pc_guest::cpuid_policy(leaf, subleaf, result.eax, result.ebx, result.ecx, result.edx);
    }
    svm.set_rax(result.eax);
    r.rbx = result.ebx;
    r.rcx = result.ecx;
    r.rdx = result.edx;
    svm.advance_rip(2);
    return true;
}

ExitResult msr(Vcpu &vcpu, SvmVcpu &svm, const VmExit &exit)
{
    GuestRegisters &r = svm.registers();
    VmcbState &s = svm.vmcb().state;
    u32 index = static_cast<u32>(r.rcx);
    bool write = exit.info1 == vmcb::MSR_EXIT_WRITE;
    u64 value = (r.rdx << 32) | (svm.rax() & 0xffffffff);
    bool fault = false;
    if (vcpu.domain->platform != nullptr &&
        (write ? pc_guest::msr_write(vcpu, index, value, fault) : pc_guest::msr_read(vcpu, index, value, fault))) {
        if (fault)
            return inject_general_protection(svm), true;
        if (!write) {
            svm.set_rax(value & 0xffffffff);
            r.rdx = value >> 32;
        }
        svm.advance_rip(2);
        return true;
    }
    if (write) {
        if (index == cpu::MSR_EFER)
            s.efer = value | cpu::EFER_SVME; // VMRUN refuses guest state without SVME
        else if (index == cpu::MSR_PAT)
            s.g_pat = value;
        else
            return inject_general_protection(svm), true;
    } else {
        if (index == cpu::MSR_EFER)
            value = s.efer & ~cpu::EFER_SVME;
        else if (index == cpu::MSR_PAT)
            value = s.g_pat;
        else if (index == cpu::MSR_TSC)
            value = cpu::rdtsc() + svm.vmcb().control.tsc_offset;
        else if (index == cpu::MSR_APIC_BASE)
            value = cpu::APIC_DEFAULT_BASE | cpu::APIC_BASE_ENABLE | cpu::APIC_BASE_BSP;
        else
            return inject_general_protection(svm), true;
        svm.set_rax(value & 0xffffffff);
        r.rdx = value >> 32;
    }
    svm.advance_rip(2);
    return true;
}

ExitResult nested_fault(Vcpu &vcpu, const VmExit &exit)
{
    Domain &domain = *vcpu.domain;
    NpfAction action = domain.p2m.handle_nested_fault(exit.fault.gpa, exit.fault.write, exit.fault.fetch, vcpu.view);
    if (action == NpfAction::retry)
        return true;
    if (action == NpfAction::emulate_mmio && domain.platform != nullptr)
        return pc_guest::mmio(vcpu, exit.fault.gpa);
    const char *access = exit.fault.fetch ? "fetch" : exit.fault.write ? "write" : "read";
    domain_crash(domain, "nested page fault: %s at guest-physical 0x%lx in view %u, rip 0x%lx (%s)", access,
                 exit.fault.gpa, vcpu.view, vcpu.arch->svm.vmcb().state.rip, npf_action_name(action));
    return false;
}

} // namespace

bool handle_exit(Vcpu &vcpu, const VmExit &exit)
{
    SvmVcpu &svm = vcpu.arch->svm;
    Domain &domain = *vcpu.domain;
    switch (exit.kind) {
    case ExitKind::hypercall: return hypercall(vcpu, svm);
    case ExitKind::halt: return halt(vcpu, svm);
    case ExitKind::io: return port_io(vcpu, svm, exit);
    case ExitKind::nested_fault: return nested_fault(vcpu, exit);
    case ExitKind::cpuid: return cpuid(vcpu, svm);
    case ExitKind::msr: return msr(vcpu, svm, exit);
    case ExitKind::interrupt: return false; // the host handles it after STGI; then timers and the control channel
    case ExitKind::virtual_intr:
        if (domain.platform != nullptr)
            svm.close_interrupt_window(); // the loop injects the platform's interrupt next
        else
            svm.request_interrupt_window(false);
        return true;
    case ExitKind::shutdown:
        domain_crash(domain, "triple fault (shutdown) at rip 0x%lx", svm.vmcb().state.rip);
        return false;
    case ExitKind::invalid: domain_crash(domain, "VMRUN refused the guest state (VMEXIT_INVALID)"); return false;
    case ExitKind::exception:
    case ExitKind::unknown:
        domain_crash(domain, "unexpected exit 0x%lx (info1 0x%lx, info2 0x%lx) at rip 0x%lx", exit.code, exit.info1,
                     exit.info2, svm.vmcb().state.rip);
        return false;
    }
    return false;
}
