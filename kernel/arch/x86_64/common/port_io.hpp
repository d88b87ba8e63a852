// SPDX-License-Identifier: MIT
// x86 port I/O as inline functions: the one copy the hypervisor and the test guests share.
#pragma once
#include <stdint.h>

// Freestanding and free of kernel types (stdint.h comes with the compiler), so the test
// guests build it as they are; the kernel's cpu:: names these.
namespace x86 {

inline void outb(uint16_t port, uint8_t value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
inline void outw(uint16_t port, uint16_t value) { asm volatile("outw %0, %1" ::"a"(value), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t value) { asm volatile("outl %0, %1" ::"a"(value), "Nd"(port)); }
inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
inline uint32_t inl(uint16_t port)
{
    uint32_t value;
    asm volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

} // namespace x86
