// SPDX-License-Identifier: MIT
// The scheduling loop: runs guests, handles their exits, polls the control channel.
#pragma once
#include "lib/types.hpp"

// Called on every pass through the loop (the control channel); may not block.
using IdleWork = void (*)();

// Starts the scheduler tick and never returns. If `exit_when_idle`, the machine ends
// with a success status once no domain is running or blocked any more.
[[noreturn]] void run_guests(IdleWork poll, bool exit_when_idle);
