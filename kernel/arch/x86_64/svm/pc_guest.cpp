// SPDX-License-Identifier: MIT
// SVM exits of a PC guest: its ports, MMIO, MSRs and CPUID, and delivering its interrupts.
#include "arch/x86_64/svm/pc_guest.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/guest/pc_platform.hpp"
#include "arch/x86_64/platform/guest_walk.hpp"
#include "arch/x86_64/platform/insn_decode.hpp"
#include "arch/x86_64/platform/mul_div.hpp"
#include "arch/x86_64/platform/pc_layout.hpp"
#include "arch/x86_64/svm/arch_vcpu.hpp"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "lib/log.hpp"
#include "lib/new.hpp"
#include "lib/time.hpp"
#include "mm/slab.hpp"

namespace {

constexpr u16 SEGMENT_LONG = 1u << 9, SEGMENT_DEFAULT_32 = 1u << 10;
constexpr u64 RFLAGS_IF = 1u << 9;
constexpr u64 MTRR_DEF_TYPE_ENABLED_WB = 0x806; // MTRRs on, default type write-back
constexpr usize FETCH_MAX = INSN_MAX_BYTES; // the longest x86 instruction

PcPlatform &platform_of(const Vcpu &vcpu) { return *vcpu.domain->platform; }

// Reads guest-physical memory for the page walk, through the p2m.
class P2mReader final : public GuestPhysReader {
public:
    explicit P2mReader(const P2m &p2m) : p2m_(p2m) {}
    bool read_u64(u64 gpa, u64 *value) override { return copy_from_guest(p2m_, value, gpa, sizeof(*value)) == 0; }

private:
    const P2m &p2m_;
};

// The instruction bytes at the guest's CS:RIP, up to FETCH_MAX, across a page boundary
// if need be. Returns how many it could read (0: RIP does not translate).
usize fetch_instruction(const Vcpu &vcpu, u8 (&bytes)[FETCH_MAX])
{
    const VmcbState &s = vcpu.arch->svm.vmcb().state;
    const GuestPaging paging{s.cr0, s.cr3, s.cr4, s.efer};
    P2mReader reader(vcpu.domain->p2m);
    const u64 linear = s.cs.base + s.rip;
    usize fetched = 0;
    while (fetched < FETCH_MAX) {
        u64 gpa = 0;
        if (guest_translate(paging, linear + fetched, {GuestAccessType::fetch, s.cpl == 3}, reader, &gpa) != 0)
            break;
        const u64 in_page = PAGE_SIZE - (gpa & (PAGE_SIZE - 1));
        const usize chunk = in_page < FETCH_MAX - fetched ? static_cast<usize>(in_page) : FETCH_MAX - fetched;
        if (copy_from_guest(vcpu.domain->p2m, bytes + fetched, gpa, chunk) != 0)
            break;
        fetched += chunk;
    }
    return fetched;
}

CpuMode cpu_mode(const VmcbState &s)
{
    if ((s.efer & cpu::EFER_LMA) != 0 && (s.cs.attributes & SEGMENT_LONG) != 0)
        return CpuMode::long64;
    return (s.cs.attributes & SEGMENT_DEFAULT_32) != 0 ? CpuMode::protected32 : CpuMode::protected16;
}

// The general registers in x86 encoding order (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15).
void gather(SvmVcpu &svm, u64 (&gpr)[16])
{
    const GuestRegisters &r = svm.registers();
    const VmcbState &s = svm.vmcb().state;
    const u64 values[16] = {s.rax, r.rcx, r.rdx, r.rbx, s.rsp, r.rbp, r.rsi, r.rdi,
                            r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
    for (usize i = 0; i < 16; i++)
        gpr[i] = values[i];
}

void scatter(SvmVcpu &svm, const u64 (&gpr)[16])
{
    GuestRegisters &r = svm.registers();
    VmcbState &s = svm.vmcb().state;
    s.rax = gpr[0];
    r.rcx = gpr[1];
    r.rdx = gpr[2];
    r.rbx = gpr[3];
    s.rsp = gpr[4];
    r.rbp = gpr[5];
    r.rsi = gpr[6];
    r.rdi = gpr[7];
    r.r8 = gpr[8];
    r.r9 = gpr[9];
    r.r10 = gpr[10];
    r.r11 = gpr[11];
    r.r12 = gpr[12];
    r.r13 = gpr[13];
    r.r14 = gpr[14];
    r.r15 = gpr[15];
}

} // namespace

bool arch_platform_tick(Domain &domain)
{
    // A PC guest has one vCPU (domain_create refuses more): its devices belong to vCPU 0.
    Vcpu &vcpu = domain.vcpus[0];
    if (domain.platform == nullptr || vcpu.arch == nullptr)
        return false;
    const u64 now = pc_guest::guest_tsc(vcpu);
    const u64 next = domain.platform->advance(now);
    // A halted vCPU wakes at the next device deadline (the host tick checks it).
    if (next != PLATFORM_NO_DEADLINE && next > now) {
        // mul_div: a far deadline (an RTC alarm hours away) must not overflow into an early one.
        const u64 khz = timer::tsc_khz();
        vcpu.wake_deadline_ns = time_now_ns() + (khz != 0 ? mul_div(next - now, 1000000, khz) : 0) + 1;
    }
    return domain.platform->pending_vector() >= 0;
}

namespace pc_guest {

u64 guest_tsc(const Vcpu &vcpu) { return cpu::rdtsc() + vcpu.arch->svm.vmcb().control.tsc_offset; }

bool port_io(Vcpu &vcpu, const VmExit &exit)
{
    SvmVcpu &svm = vcpu.arch->svm;
    if (exit.io.string_or_rep)
        return domain_crash(*vcpu.domain, "string or REP I/O on port 0x%x is not emulated", exit.io.port), false;
    const u64 mask = exit.io.size == 1 ? 0xff : exit.io.size == 2 ? 0xffff : 0xffffffff;
    const u64 now = guest_tsc(vcpu);
    if (exit.io.in)
        svm.set_rax((svm.rax() & ~mask) | (platform_of(vcpu).port_read(exit.io.port, exit.io.size, now) & mask));
    else
        platform_of(vcpu).port_write(exit.io.port, exit.io.size, static_cast<u32>(svm.rax() & mask), now);
    svm.vmcb().state.rip = exit.info2; // IOIO exits report the next RIP
    return true;
}

bool mmio(Vcpu &vcpu, u64 gpa)
{
    SvmVcpu &svm = vcpu.arch->svm;
    Domain &domain = *vcpu.domain;
    const u64 rip = svm.vmcb().state.rip;
    u8 bytes[FETCH_MAX] = {};
    const usize fetched = fetch_instruction(vcpu, bytes);
    MmioInsn insn{};
    const int error = decode_mmio(bytes, fetched, cpu_mode(svm.vmcb().state), &insn);
    if (error != 0) {
        domain_crash(domain,
                     "MMIO at 0x%lx by an instruction Baton does not emulate at rip 0x%lx: "
                     "%02x %02x %02x %02x %02x %02x (%zu bytes read, error %d)",
                     gpa, rip, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], fetched, error);
        return false;
    }
    u64 gpr[16];
    gather(svm, gpr);
    PcPlatform &pc = platform_of(vcpu);
    const u64 now = guest_tsc(vcpu);
    bool done = true;
    u64 loaded = 0;
    switch (insn.op) {
    case MmioOp::store:
    case MmioOp::store_imm: done = pc.mmio_write(gpa, insn.access_bytes, mmio_store_value(insn, gpr), now); break;
    case MmioOp::load:
    case MmioOp::load_zero_extend:
    case MmioOp::load_sign_extend:
        done = pc.mmio_read(gpa, insn.access_bytes, loaded, now);
        if (done)
            mmio_complete_load(insn, loaded, gpr);
        break;
    case MmioOp::exchange:
        done = pc.mmio_read(gpa, insn.access_bytes, loaded, now) &&
               pc.mmio_write(gpa, insn.access_bytes, mmio_store_value(insn, gpr), now);
        if (done)
            mmio_complete_load(insn, loaded, gpr);
        break;
    }
    if (!done) {
        domain_crash(domain, "%u-byte MMIO %s at 0x%lx (rip 0x%lx): the device takes aligned 32-bit accesses only",
                     insn.access_bytes, mmio_op_name(insn.op), gpa, rip);
        return false;
    }
    scatter(svm, gpr);
    svm.advance_rip(insn.length);
    return true;
}

bool msr_read(Vcpu &vcpu, u32 index, u64 &value, bool &fault)
{
    fault = false;
    switch (platform_of(vcpu).msr_read(index, value)) {
    case PcPlatform::MsrResult::handled: return true;
    case PcPlatform::MsrResult::fault: fault = true; return true;
    case PcPlatform::MsrResult::not_mine: break;
    }
    switch (index) {
    case cpu::MSR_MTRR_CAP: value = 0; return true; // no fixed or variable ranges: all memory is WB
    case cpu::MSR_MTRR_DEF_TYPE: value = MTRR_DEF_TYPE_ENABLED_WB; return true;
    case cpu::MSR_MISC_ENABLE: value = 0; return true;
    case cpu::MSR_AMD_INT_PENDING: value = 0; return true; // read by the AMD E400 idle routine
    default: return false;
    }
}

bool msr_write(Vcpu &vcpu, u32 index, u64 value, bool &fault)
{
    fault = false;
    switch (platform_of(vcpu).msr_write(index, value, guest_tsc(vcpu))) {
    case PcPlatform::MsrResult::handled: return true;
    case PcPlatform::MsrResult::fault: fault = true; return true;
    case PcPlatform::MsrResult::not_mine: break;
    }
    // The kernel writes back what it read; the memory type stays write-back.
    return index == cpu::MSR_MTRR_DEF_TYPE || index == cpu::MSR_MISC_ENABLE || index == cpu::MSR_AMD_INT_PENDING;
}

// A plain x86-64 CPU with a local APIC: nothing the platform does not emulate (x2APIC,
// monitor/mwait, performance counters, machine checks), and no XSAVE state, because
// guest FPU state is switched with FXSAVE (cpu/fpu.cpp) and XSETBV is intercepted.
void cpuid_policy(u32 leaf, u32 subleaf, u32 &eax, u32 &ebx, u32 &ecx, u32 &edx)
{
    (void)subleaf;
    switch (leaf) {
    case cpu::CPUID_FEATURES:
        ecx &= ~(cpu::CPUID_1_ECX_MONITOR | cpu::CPUID_1_ECX_PDCM | cpu::CPUID_1_ECX_X2APIC | cpu::CPUID_1_ECX_XSAVE |
                 cpu::CPUID_1_ECX_OSXSAVE | cpu::CPUID_1_ECX_AVX);
        ecx |= cpu::CPUID_1_ECX_TSC_DEADLINE;
        edx &= ~(cpu::CPUID_1_EDX_MCE | cpu::CPUID_1_EDX_MCA | cpu::CPUID_1_EDX_DS | cpu::CPUID_1_EDX_ACPI |
                 cpu::CPUID_1_EDX_TM);
        edx |= cpu::CPUID_1_EDX_APIC;
        ebx &= 0x0000ffff; // APIC id 0, one logical processor
        break;
    case cpu::CPUID_STRUCTURED_FEATURES:
        ebx &= ~(cpu::CPUID_7_EBX_AVX2 | cpu::CPUID_7_EBX_AVX512F);
        ecx &= ~(cpu::CPUID_7_ECX_PKU | cpu::CPUID_7_ECX_OSPKE);
        break;
    case cpu::CPUID_PERFORMANCE_MONITORING:
    case cpu::CPUID_XSAVE_STATE: eax = ebx = ecx = edx = 0; break;
    case cpu::CPUID_EXTENDED_FEATURES: ecx &= ~cpu::CPUID_80000001_ECX_PERFCTR_CORE; break;
    default: break;
    }
}

bool halt(Vcpu &vcpu)
{
    vcpu.arch->svm.advance_rip(1);
    if (arch_platform_tick(*vcpu.domain))
        return true; // an interrupt waits: HLT ends at once
    vcpu.blocked = true;
    return false;
}

void deliver_interrupts(Vcpu &vcpu)
{
    SvmVcpu &svm = vcpu.arch->svm;
    VmcbControl &c = svm.vmcb().control;
    PcPlatform &pc = platform_of(vcpu);
    (void)pc.advance(guest_tsc(vcpu));
    if ((c.event_injection & vmcb::EVENT_VALID) != 0)
        return; // an event is already on its way (a re-injection or an exception)
    const int vector = pc.pending_vector();
    if (vector < 0) {
        svm.close_interrupt_window();
        return;
    }
    const bool can_take = (svm.vmcb().state.rflags & RFLAGS_IF) != 0 && (c.interrupt_shadow & 1) == 0;
    if (!can_take) {
        svm.open_interrupt_window(); // a VINTR exit when it can
        return;
    }
    svm.close_interrupt_window();
    c.event_injection = vmcb::event(static_cast<u8>(vector), vmcb::EVENT_EXTERNAL);
    pc.acknowledge(static_cast<u8>(vector));
}

} // namespace pc_guest
