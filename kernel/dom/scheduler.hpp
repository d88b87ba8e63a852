// SPDX-License-Identifier: MIT
// Round-robin choice of the next vCPU to run on this CPU.
#pragma once
#include "dom/vcpu.hpp"

// A vCPU can run when its domain is running, it is not blocked, and it has hardware state.
bool vcpu_runnable(const Vcpu &vcpu);
// The next runnable vCPU after the one picked last, or nullptr when all are idle.
Vcpu *scheduler_pick();
