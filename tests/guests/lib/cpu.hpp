// SPDX-License-Identifier: MIT
// The few privileged instructions the guest runtime needs, as inline functions.
#pragma once
#include "kernel/arch/x86_64/common/port_io.hpp"
#include <stdint.h>

namespace guest {

using x86::inb, x86::inl, x86::outb, x86::outl, x86::outw; // the hypervisor's own copy

inline void disable_interrupts() { asm volatile("cli" ::: "memory"); }
inline void enable_interrupts() { asm volatile("sti" ::: "memory"); }

// The guest's TSC: the host's plus the offset the hypervisor keeps for the domain (RDTSC
// is not intercepted), so it keeps counting through a live update at the same rate.
inline uint64_t read_tsc()
{
    uint32_t low, high;
    asm volatile("rdtsc" : "=a"(low), "=d"(high));
    return static_cast<uint64_t>(high) << 32 | low;
}

inline uint64_t read_cr2()
{
    uint64_t value;
    asm volatile("mov %%cr2, %0" : "=r"(value));
    return value;
}

// Guest-physical address of a guest object: the runtime's page tables are an identity map.
inline uint64_t gpa_of(const volatile void *object) { return reinterpret_cast<uintptr_t>(object); }

template <typename T>
inline T *at_gpa(uint64_t gpa)
{
    return reinterpret_cast<T *>(static_cast<uintptr_t>(gpa));
}

} // namespace guest
