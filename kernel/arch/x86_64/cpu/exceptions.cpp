// SPDX-License-Identifier: MIT
// CPU exception reporting: vector, error code, registers and a backtrace, then exit.
#include "arch/x86_64/cpu/exceptions.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/debug_exit.hpp"
#include "lib/log.hpp"
#include "update/rollback.hpp"

extern "C" char __text_start[], __text_end[];

namespace {

constexpr const char *exception_names[32] = {
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security exception",
    "reserved",
};

// Kernel stacks and data live in the top 2 GiB; anything else cannot be a frame.
bool plausible_frame_pointer(u64 rbp) { return rbp >= 0xffffffff80000000ul && rbp < ~u64{0} - 16 && (rbp & 7) == 0; }

bool in_kernel_text(u64 address)
{
    return address >= reinterpret_cast<u64>(__text_start) && address < reinterpret_cast<u64>(__text_end);
}

} // namespace

void print_backtrace(u64 rbp, unsigned max_frames)
{
    log_error("backtrace (resolve with: addr2line -e build/baton.elf ADDR):");
    for (unsigned depth = 0; depth < max_frames && plausible_frame_pointer(rbp); depth++) {
        const u64 *frame = reinterpret_cast<const u64 *>(rbp);
        u64 return_address = frame[1];
        if (!in_kernel_text(return_address))
            break;
        log_error("  #%u %016lx", depth, return_address);
        if (frame[0] <= rbp) // stacks grow down: the chain must go up
            break;
        rbp = frame[0];
    }
}

void exception_fatal(const InterruptFrame &f)
{
    // Exceptions are fatal while Baton runs no guests; print everything useful first.
    log_error("EXCEPTION %lu (%s), error code 0x%lx", f.vector, exception_names[f.vector & 31], f.error_code);
    log_error("  rip %016lx  cs %04lx  rflags %016lx", f.rip, f.cs, f.rflags);
    log_error("  rsp %016lx  ss %04lx  cr2 %016lx  cr3 %016lx", f.rsp, f.ss, cpu::read_cr2(), cpu::read_cr3());
    log_error("  rax %016lx  rbx %016lx  rcx %016lx  rdx %016lx", f.rax, f.rbx, f.rcx, f.rdx);
    log_error("  rsi %016lx  rdi %016lx  rbp %016lx  r8  %016lx", f.rsi, f.rdi, f.rbp, f.r8);
    log_error("  r9  %016lx  r10 %016lx  r11 %016lx  r12 %016lx", f.r9, f.r10, f.r11, f.r12);
    log_error("  r13 %016lx  r14 %016lx  r15 %016lx", f.r13, f.r14, f.r15);
    if (in_kernel_text(f.rip))
        log_error("  #- %016lx (faulting instruction)", f.rip);
    print_backtrace(f.rbp, 32);
    rollback_if_pending("exception %lu (%s) at rip %016lx, error code 0x%lx", f.vector, exception_names[f.vector & 31],
                        f.rip, f.error_code);
    machine_exit(ExitCode::exception);
}

void handle_nmi(const InterruptFrame &frame)
{
    // Before the commit an NMI is the update watchdog: this image did not commit in time.
    rollback_if_pending("watchdog: no commit in time (NMI at rip %016lx)", frame.rip);
    // Otherwise nothing here sends NMIs: a late watchdog edge (a kit found damaged, so
    // never armed here) must not stop a running image.
    log_warn("NMI at rip %016lx ignored (no update pending)", frame.rip);
}

void report_spurious_interrupt(const InterruptFrame &frame)
{
    log_warn("spurious interrupt on vector %lu ignored", frame.vector);
}
