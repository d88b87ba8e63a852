// SPDX-License-Identifier: MIT
// The scheduling loop: runs guests, handles their exits, polls the control channel.
#pragma once
#include "lib/types.hpp"

// Called on every pass through the loop (the control channel); may not block.
using IdleWork = void (*)();

// The bootstrap CPU's loop: starts its scheduler tick, lets the application processors
// into their loops, and never returns. Only this CPU polls (the control channel, device
// faults) and advances the domains' timers. If `exit_when_idle`, the machine ends with a
// success status once no domain is running or blocked any more.
[[noreturn]] void run_guests(IdleWork poll, bool exit_when_idle);
// An application processor's loop (SVM enabled on it): its own tick, then vCPUs as the
// scheduler gives them, once the bootstrap CPU's loop has begun. Never returns; the stop
// request (smp.hpp) halts it.
[[noreturn]] void run_guests_on_ap();
