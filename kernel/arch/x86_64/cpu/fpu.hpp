// SPDX-License-Identifier: MIT
// Guest x87/SSE state: each vCPU's FXSAVE image, switched when another vCPU runs.
#pragma once
#include "lib/types.hpp"

struct ArchVcpu;

namespace fpu {

// The FXSAVE image: x87 and SSE registers, MXCSR (the legacy region of an XSAVE area).
inline constexpr usize STATE_SIZE = 512;
// ArchVcpu::fpu_cpu when no CPU's registers hold the vCPU's image.
inline constexpr u32 FPU_IN_MEMORY = ~u32{0};

// The CPU's FPU is shared by every vCPU and VMRUN switches none of it, so the hypervisor
// keeps each vCPU's state and loads it before that vCPU runs (it never uses the FPU
// itself: the kernel is built with -mgeneral-regs-only). Loading is lazy: a vCPU that runs
// again on the same CPU with nobody else in between loads nothing. Saving is not: a vCPU
// may next run on another CPU, which cannot reach this CPU's registers, so its image is
// saved each time it leaves a CPU (release). Every call is made under the hypervisor lock.
//
// Enables FXSAVE/SSE on this CPU (CR4.OSFXSR/OSXMMEXCPT, CR0.MP, no EM/TS); each CPU
// calls it before it runs a vCPU.
void init();
// The state a vCPU starts with: FCW 0x37f, MXCSR 0x1f80, every register empty.
void reset_state(u8 (&state)[STATE_SIZE]);
// Before `vcpu` enters the guest on this CPU: loads its image unless the registers hold it.
void switch_to(ArchVcpu &vcpu);
// `vcpu` leaves this CPU (the end of its slice): its image is saved from the registers.
void release(ArchVcpu &vcpu);
// Brings the image of the vCPU this CPU's registers hold up to date (before its state is
// read or written out).
void save_owner();
// Copies what the registers hold now into `state` (a record written before images kept
// the state: the old image left the guest's registers in place).
void capture(u8 (&state)[STATE_SIZE]);
// The vCPU goes away (or its image is replaced): it no longer owns the registers.
void forget(ArchVcpu &vcpu);

} // namespace fpu
