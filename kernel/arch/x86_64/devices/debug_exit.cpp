// SPDX-License-Identifier: MIT
// Ending a QEMU run through isa-debug-exit, halting on real hardware.
#include "arch/x86_64/devices/debug_exit.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/serial.hpp"
#include "arch/x86_64/smp/smp.hpp"
#include "lib/log.hpp"
#include "update/rollback.hpp"

void machine_exit(ExitCode code)
{
    cpu::disable_interrupts();
    smp::park_application_processors(); // a panic, an exception or the end: nothing else runs on
    log_release();
    log_flush();
    cpu::outl(0xf4, static_cast<u32>(code));
    cpu::halt_forever();
}

// Platform hooks for kernel/lib/log.cpp.
void console_write(const char *text, usize length) { console_uart().write(text, length); }
void platform_fail_stop(const char *message)
{
    rollback_if_pending("panic: %s", message);
    machine_exit(ExitCode::panic);
}
