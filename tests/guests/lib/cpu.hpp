// SPDX-License-Identifier: MIT
// The few privileged instructions the guest runtime needs, as inline functions.
#pragma once
#include <stdint.h>

namespace guest {

inline void disable_interrupts() { asm volatile("cli" ::: "memory"); }
inline void enable_interrupts() { asm volatile("sti" ::: "memory"); }

inline uint8_t in8(uint16_t port)
{
    uint8_t value;
    asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

inline uint32_t in32(uint16_t port)
{
    uint32_t value;
    asm volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

inline void out8(uint16_t port, uint8_t value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
inline void out16(uint16_t port, uint16_t value) { asm volatile("outw %0, %1" ::"a"(value), "Nd"(port)); }
inline void out32(uint16_t port, uint32_t value) { asm volatile("outl %0, %1" ::"a"(value), "Nd"(port)); }

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
