// SPDX-License-Identifier: MIT
// TLB shootdown for one domain's nested translations: entering and leaving, and the wait.
#include "dom/tlb_shootdown.hpp"
#include "abi/errno.h"
#include "lib/time.hpp"

u64 TlbShootdown::enter_guest(u32 cpu)
{
    if ((cpus() & (CpuMask{1} << cpu)) == 0)
        __atomic_fetch_or(&cpus_, CpuMask{1} << cpu, __ATOMIC_SEQ_CST);
    // Publish, then check that the generation did not move meanwhile: a changer that
    // advanced after our load either sees this slot (and waits for us) or we see it here.
    u64 running = generation();
    for (;;) {
        __atomic_store_n(&slots_[cpu], running + 1, __ATOMIC_SEQ_CST);
        const u64 now = generation();
        if (now == running)
            return running;
        running = now;
    }
}

// CPUs that may run guest code with a generation older than `generation`.
TlbShootdown::CpuMask TlbShootdown::behind(u64 generation) const
{
    CpuMask late = 0;
    for (CpuMask left = cpus(); left != 0; left &= left - 1) {
        const u32 cpu = static_cast<u32>(__builtin_ctzll(left));
        const u64 slot = __atomic_load_n(&slots_[cpu], __ATOMIC_SEQ_CST);
        if (slot != OUTSIDE && slot - 1 < generation)
            late |= CpuMask{1} << cpu;
    }
    return late;
}

int TlbShootdown::wait(u64 generation, u64 timeout_ns, CpuMask *laggards) const
{
    CpuMask late = behind(generation);
    if (late == 0)
        return 0;
    const u64 deadline = time_now_ns() + timeout_ns; // the kicks count against the bound
    for (CpuMask left = late; left != 0; left &= left - 1)
        arch_tlb_shootdown_kick(static_cast<u32>(__builtin_ctzll(left)));
    while ((late = behind(generation)) != 0) {
        if (time_now_ns() > deadline) {
            if (laggards != nullptr)
                *laggards = late;
            return -BATON_ETIMEDOUT;
        }
        asm volatile("pause" ::: "memory");
    }
    return 0;
}
