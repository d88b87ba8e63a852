// SPDX-License-Identifier: MIT
// What each SVM exit of a guest does: the one entry point the run loop calls.
#pragma once
#include "arch/x86_64/svm/svm.hpp"
#include "dom/vcpu.hpp"

// Handles one exit of `vcpu` (already taken out of VMRUN). Returns true when the vCPU may
// run on at once, false when it should give up the CPU: it halted, was crashed, or a
// host interrupt is waiting. A guest doing what the platform does not emulate has its
// domain crashed with a message; the hypervisor and other domains go on.
[[nodiscard]] bool handle_exit(Vcpu &vcpu, const VmExit &exit);
