// SPDX-License-Identifier: MIT
// Port I/O, MSRs, control registers and other single x86-64 instructions.
#pragma once
#include "arch/x86_64/common/port_io.hpp"
#include "arch/x86_64/cpu/msr.hpp"
#include "lib/types.hpp"

namespace cpu {

using x86::inb, x86::inl, x86::outb, x86::outl, x86::outw; // shared with the test guests

inline u64 rdmsr(u32 msr)
{
    u32 low, high;
    asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return (u64{high} << 32) | low;
}
inline void wrmsr(u32 msr, u64 value)
{
    asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<u32>(value)), "d"(static_cast<u32>(value >> 32)));
}

struct CpuidResult {
    u32 eax, ebx, ecx, edx;
};
inline CpuidResult cpuid(u32 leaf, u32 subleaf = 0)
{
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

#define BATON_CR_ACCESSORS(n)                                                                                          \
    inline u64 read_cr##n()                                                                                            \
    {                                                                                                                  \
        u64 value;                                                                                                     \
        asm volatile("mov %%cr" #n ", %0" : "=r"(value));                                                              \
        return value;                                                                                                  \
    }                                                                                                                  \
    inline void write_cr##n(u64 value) { asm volatile("mov %0, %%cr" #n ::"r"(value) : "memory"); }
BATON_CR_ACCESSORS(0)
BATON_CR_ACCESSORS(2)
BATON_CR_ACCESSORS(3)
BATON_CR_ACCESSORS(4)
#undef BATON_CR_ACCESSORS

inline u64 rdtsc()
{
    u32 low, high;
    asm volatile("rdtsc" : "=a"(low), "=d"(high));
    return (u64{high} << 32) | low;
}

inline void pause() { asm volatile("pause"); }
inline void disable_interrupts() { asm volatile("cli" ::: "memory"); }
inline void enable_interrupts() { asm volatile("sti" ::: "memory"); }

[[noreturn]] inline void halt_forever()
{
    for (;;)
        asm volatile("cli; hlt");
}

} // namespace cpu
