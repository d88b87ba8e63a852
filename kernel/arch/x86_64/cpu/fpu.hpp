// SPDX-License-Identifier: MIT
// Guest x87/SSE state: each vCPU's FXSAVE image, switched when another vCPU runs.
#pragma once
#include "lib/types.hpp"

struct ArchVcpu;

namespace fpu {

// The FXSAVE image: x87 and SSE registers, MXCSR (the legacy region of an XSAVE area).
inline constexpr usize STATE_SIZE = 512;

// The CPU's FPU is shared by every vCPU and VMRUN switches none of it, so the hypervisor
// keeps each vCPU's state and loads it before that vCPU runs (it never uses the FPU
// itself: the kernel is built with -mgeneral-regs-only). Switching is lazy: a vCPU that
// runs again with nobody else in between pays nothing.
//
// Enables FXSAVE/SSE for the host (CR4.OSFXSR/OSXMMEXCPT, CR0.MP, no EM/TS) and records
// the reset state new vCPUs start with.
void init();
// The state a vCPU starts with: FCW 0x37f, MXCSR 0x1f80, every register empty.
void reset_state(u8 (&state)[STATE_SIZE]);
// Before `vcpu` enters the guest: saves the previous owner's state, loads this one's.
void switch_to(ArchVcpu &vcpu);
// Brings the owner's saved image up to date (before its state is read or written out).
void save_owner();
// Copies what the registers hold now into `state` (a record written before images kept
// the state: the old image left the guest's registers in place).
void capture(u8 (&state)[STATE_SIZE]);
// The vCPU goes away (or its image is replaced): it no longer owns the registers.
void forget(ArchVcpu &vcpu);

} // namespace fpu
