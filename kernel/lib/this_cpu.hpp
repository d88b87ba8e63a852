// SPDX-License-Identifier: MIT
// This CPU's index, for per-CPU records kept outside the architecture's per-CPU block.
#pragma once
#include "lib/types.hpp"

// At least the architecture's processor limit (smp::MAX_CPUS checks it): per-CPU arrays in
// generic code are this long.
inline constexpr usize MAX_CPU_SLOTS = 64;

// The index of the CPU running the caller, below MAX_CPU_SLOTS: 0 for the bootstrap CPU
// (also before the per-CPU blocks exist), APs in the order they started. Provided by the
// platform (the GS-based per-CPU block on x86-64; host tests: the calling thread's choice).
u32 this_cpu_index();
