// SPDX-License-Identifier: MIT
// Deliberate CPU faults for `selftest=`: each must end in a full exception report.
#include "arch/x86_64/cpu/selftest.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "lib/log.hpp"

namespace {

[[gnu::noinline]] void fault_on_unmapped_read()
{
    // Physical address 0 is not mapped once the identity map is gone; the kernel must
    // never treat a physical address as a pointer, and this proves it would fault.
    volatile u64 *unmapped = reinterpret_cast<volatile u64 *>(0x1000);
    log_info("selftest: reading unmapped address %p", const_cast<u64 *>(unmapped));
    (void)*unmapped;
}

volatile bool keep_recursing = true;

// Runs into the guard page below the kernel stack; the page fault then cannot push its
// frame and becomes a double fault, handled on its own IST stack.
[[gnu::noinline]] u64 recurse_until_fault(u64 depth)
{
    volatile u8 pad[512];
    pad[0] = static_cast<u8>(depth);
    if (!keep_recursing)
        return pad[0];
    return recurse_until_fault(depth + 1) + pad[0];
}

} // namespace

void run_selftest(Selftest test)
{
    if (test == Selftest::none)
        return;
    log_info("selftest: triggering %s", selftest_name(test));
    switch (test) {
    case Selftest::page_fault: fault_on_unmapped_read(); break;
    case Selftest::invalid_opcode: asm volatile("ud2"); break;
    case Selftest::stack_overflow: recurse_until_fault(0); break;
    case Selftest::panic: panic("selftest: deliberate panic");
    case Selftest::none:
    case Selftest::count: break;
    }
    panic("selftest: %s did not fault", selftest_name(test));
}
