// SPDX-License-Identifier: MIT
// CPU exception reporting: registers, backtrace, then a failure exit.
#pragma once
#include "arch/x86_64/cpu/idt.hpp"

[[noreturn]] void exception_fatal(const InterruptFrame &frame);
// An NMI: the update watchdog before a commit (rolls back), ignored with a warning after.
void handle_nmi(const InterruptFrame &frame);
void report_spurious_interrupt(const InterruptFrame &frame);

// Prints up to `max_frames` return addresses by following the frame-pointer chain.
void print_backtrace(u64 rbp, unsigned max_frames);
