// SPDX-License-Identifier: MIT
// Monotonic time for the whole hypervisor, provided by the platform (TSC on x86-64).
#pragma once
#include "lib/types.hpp"

inline constexpr u64 NS_PER_MS = 1000000;
inline constexpr u64 NS_PER_S = 1000000000;

// Nanoseconds since the host first booted; keeps counting across live updates.
u64 time_now_ns();
