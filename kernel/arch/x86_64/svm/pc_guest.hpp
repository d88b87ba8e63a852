// SPDX-License-Identifier: MIT
// SVM exits of a PC guest: its ports, MMIO, MSRs and CPUID, and delivering its interrupts.
#pragma once
#include "arch/x86_64/svm/svm.hpp"

struct Vcpu;

// For GuestKind::pc domains only (docs/guest-platform.md). Each returns false when the
// vCPU should give up the CPU (as handle_exit does).
namespace pc_guest {

// The guest's TSC now: the host's plus the vCPU's offset.
u64 guest_tsc(const Vcpu &vcpu);
bool port_io(Vcpu &vcpu, const VmExit &exit);
// A nested fault the p2m judged emulate_mmio: decodes the instruction at RIP and performs
// it on the device model; anything it cannot decode crashes the domain with the bytes.
bool mmio(Vcpu &vcpu, u64 gpa);
// true when handled (value filled for reads); false: not a PC-platform MSR.
bool msr_read(Vcpu &vcpu, u32 index, u64 &value, bool &fault);
bool msr_write(Vcpu &vcpu, u32 index, u64 value, bool &fault);
// What the guest's CPUID leaf reports beyond the common policy: a plain PC CPU.
void cpuid_policy(u32 leaf, u32 subleaf, u32 &eax, u32 &ebx, u32 &ecx, u32 &edx);
bool halt(Vcpu &vcpu);
// Before VMRUN: timers run to now, and the highest pending interrupt goes in when the
// guest can take it (else the interrupt window is opened).
void deliver_interrupts(Vcpu &vcpu);

} // namespace pc_guest
