// SPDX-License-Identifier: MIT
// A vCPU's state in the handover record: what each architecture saves and restores.
#pragma once
#include "dom/vcpu.hpp"
#include "handover_layout.hpp"

// Provided by the architecture (host tests provide fakes). Save writes the registers,
// segments, MSRs, injected event and virtual-interrupt state of a vCPU that is not
// running; the generic fields (id, run state, timer) are the caller's.
void arch_vcpu_save(const Vcpu &vcpu, handover::schema::VcpuState::Builder state);
// Creates the hardware state of vcpu (like arch_vcpu_create) from a saved state over the
// nested tables at `nested_root`. Returns 0 or a negative errno; nothing is left allocated
// on failure.
[[nodiscard]] int arch_vcpu_restore(Vcpu &vcpu, u64 nested_root, handover::schema::VcpuState::Reader state);
