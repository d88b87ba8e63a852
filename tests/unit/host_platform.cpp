// SPDX-License-Identifier: MIT
// Host stand-ins for the platform hooks the portable kernel code calls.
#include "host_platform.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/guest/platform.hpp"
#include "boot/version.hpp"
#include "dom/vcpu_state.hpp"
#include "lib/log.hpp"
#include "lib/time.hpp"
#include "update/iommu_record.hpp"
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
std::string captured;
bool capturing = false;
} // namespace

void console_write(const char *text, usize length)
{
    if (capturing)
        captured.append(text, length);
    else
        fwrite(text, 1, length, stderr);
}

[[noreturn]] void platform_fail_stop(const char *)
{
    // A panic in host tests is a test failure; death tests match on the message.
    fflush(stderr);
    abort();
}

void console_capture_begin()
{
    captured.clear();
    capturing = true;
}

std::string console_capture_end()
{
    capturing = false;
    return captured;
}

// Host tests control time explicitly.
u64 host_time_ns = 0;
u64 time_now_ns() { return host_time_ns; }

// The image identity that version.cpp provides in the kernel.
const char *const baton_version = "0.0.0-host";
const char *const baton_build_id = "host-test";

// The architecture's vCPU hooks: host tests have no SVM, so a vCPU is bookkeeping only.
struct ArchVcpu {
    u64 nested_root;
    u8 upcall_vector;
    u64 rip;
    u64 rsp = 0;
    u64 rsi = 0;
};
int arch_vcpu_create(Vcpu &vcpu, u64 nested_root, u32 entry, u32)
{
    vcpu.arch = new ArchVcpu{nested_root, 0, entry};
    return 0;
}
void arch_vcpu_start(Vcpu &vcpu, u32 entry, u32 stack, u32, u32 esi)
{
    vcpu.arch->rip = entry;
    vcpu.arch->rsp = stack;
    vcpu.arch->rsi = esi;
}
u64 host_vcpu_rsp(const Vcpu &vcpu) { return vcpu.arch->rsp; }
u64 host_vcpu_rip(const Vcpu &vcpu) { return vcpu.arch->rip; }
void host_set_vcpu_rip(Vcpu &vcpu, u64 rip) { vcpu.arch->rip = rip; }
// A plausible 32-bit protected-mode state around the fake's RIP, so the record validates.
// No IOMMU on the host: records carry no units.
u64 arch_iommu_record_bound() { return 0; }
bool arch_iommu_write_record(handover::schema::Handover::Builder, char *, usize) { return true; }
void arch_iommu_adopt_devices() {}
void arch_iommu_domain_not_restored(u32) {}

void arch_vcpu_save(const Vcpu &vcpu, handover::schema::VcpuState::Builder state)
{
    state.set_rip(vcpu.arch->rip);
    state.set_rsp(vcpu.arch->rsp);
    state.set_rflags(2);
    state.set_cr0(0x11);
    state.set_dr6(0xffff0ff0);
    state.set_dr7(0x400);
    state.set_xcr0(1);
    state.set_upcall_pending(vcpu.arch->upcall_vector != 0);
}
int arch_vcpu_restore(Vcpu &vcpu, u64 nested_root, handover::schema::VcpuState::Reader state)
{
    vcpu.arch = new ArchVcpu{nested_root, 0, state.rip(), state.rsp()};
    return 0;
}
void arch_vcpu_destroy(Vcpu &vcpu)
{
    delete vcpu.arch;
    vcpu.arch = nullptr;
}
// Like the real ones, these accept a vCPU whose hardware state does not exist yet.
void arch_vcpu_flush_guest_tlb(Vcpu &vcpu, u64 nested_root)
{
    if (vcpu.arch != nullptr)
        vcpu.arch->nested_root = nested_root;
}
void arch_vcpu_request_upcall(Vcpu &vcpu, u8 vector)
{
    if (vcpu.arch != nullptr)
        vcpu.arch->upcall_vector = vector;
}

// PC guests: the platform's SVM side does not run on the host.
bool arch_platform_tick(Domain &) { return false; }
// The TSC rate the host tests' platform reports (the PC loader hands it to Linux).
u64 timer::tsc_khz() { return HOST_TSC_KHZ; }

// Per-CPU records: each host thread stands in for a CPU; threads that play several CPUs
// set their index (host_set_cpu_index). Changes shoot down through host_tlb_kick.
namespace {
thread_local u32 host_cpu_index = 0;
} // namespace
u32 this_cpu_index() { return host_cpu_index; }
void host_set_cpu_index(u32 index) { host_cpu_index = index; }
void (*host_tlb_kick)(u32 cpu) = nullptr;
void (*host_reschedule_kick)(u32 cpu) = nullptr;
void arch_reschedule_kick(u32 cpu)
{
    if (host_reschedule_kick != nullptr)
        host_reschedule_kick(cpu);
}
void arch_tlb_shootdown_kick(u32 cpu)
{
    if (host_tlb_kick != nullptr)
        host_tlb_kick(cpu);
}
