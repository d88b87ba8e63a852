// SPDX-License-Identifier: MIT
// Call-function IPIs: runs a function on another CPU, in its interrupt handler, and waits.
#pragma once
#include "lib/types.hpp"

namespace smp {

// The vector of a call-function request.
inline constexpr u8 CALL_FUNCTION_VECTOR = 0xfa;

using CallFunction = void (*)(void *argument);

// Runs `function(argument)` on CPU `index` and waits up to `timeout_ns` for it to return.
// It runs in that CPU's interrupt handler, with interrupts off and whatever that CPU was
// doing suspended (a CPU in guest mode leaves it first): it must be short, and it must take
// no lock (the interrupted code may hold it). One call at a time (callers are serialized).
// Returns 0; -BATON_EINVAL for this CPU or one that is not up; -BATON_ETIMEDOUT if the
// CPU did not take the request in time, which is then withdrawn: the function did not run
// and will not.
[[nodiscard]] int call_on_cpu(u32 index, CallFunction function, void *argument, u64 timeout_ns);

// CALL_FUNCTION_VECTOR's handler: runs the request waiting for this CPU, if any.
void handle_call_function();

// After the APs came up: each one reads its TSC in a call-function request, which must
// land between the bootstrap CPU's reads before and after the call; time_now_ns() reads
// the TSC of whichever CPU runs, so CPUs out of step would move a vCPU's clock when it
// moves. Logs `smp: TSCs in step on N APs ...` or a warning naming a CPU and its skew.
void check_tsc_in_step();

} // namespace smp
