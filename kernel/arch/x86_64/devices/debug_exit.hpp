// SPDX-License-Identifier: MIT
// Ending a QEMU run with a status that tells the test harness what happened.
#pragma once
#include "lib/types.hpp"

// QEMU's isa-debug-exit device (port 0xf4) exits with status (code << 1) | 1, so a
// harness never confuses these with 0 (a triple fault under -no-reboot).
enum class ExitCode : u8 {
    success = 0x10, // QEMU status 33
    panic = 0x11, // QEMU status 35
    exception = 0x12, // QEMU status 37
};

// Writes the code to the debug-exit port; on real hardware nothing listens there and
// the CPU halts instead.
[[noreturn]] void machine_exit(ExitCode code);
