// SPDX-License-Identifier: MIT
// Hypercall wrappers: VMMCALL with the register convention of abi/hypercall.h.
#pragma once
#include "abi/errno.h"
#include "abi/hypercall.h"
#include "lib/cpu.hpp"
#include <stdint.h>

namespace guest {

// RAX = number, arguments in RDI, RSI, RDX, R10, R8; the result comes back in RAX and
// every other register is preserved. "memory": the hypervisor reads and writes guest
// buffers; "cc": cheap insurance should it not restore RFLAGS bit for bit.
inline long hypercall(uint64_t number, uint64_t arg0 = 0, uint64_t arg1 = 0, uint64_t arg2 = 0, uint64_t arg3 = 0,
                      uint64_t arg4 = 0)
{
    register uint64_t r10 asm("r10") = arg3;
    register uint64_t r8 asm("r8") = arg4;
    uint64_t rax = number;
    asm volatile("vmmcall" : "+a"(rax) : "D"(arg0), "S"(arg1), "d"(arg2), "r"(r10), "r"(r8) : "memory", "cc");
    return static_cast<long>(rax);
}

inline long console_write(const void *text, uint64_t length)
{
    return hypercall(BATON_HC_CONSOLE_WRITE, gpa_of(text), length);
}

inline void yield() { hypercall(BATON_HC_YIELD); }

// Sleeps until an unmasked event is pending or the time reaches deadline_ns (0: none).
inline long block(uint64_t deadline_ns) { return hypercall(BATON_HC_BLOCK, deadline_ns); }

// BLOCK with interrupts enabled by the instruction right before it: STI's one-instruction
// interrupt shadow means no upcall can slip in between a caller's check (made with
// interrupts off) and the hypervisor's own look at the pending bits.
inline long block_with_interrupts_enabled(uint64_t deadline_ns)
{
    uint64_t rax = BATON_HC_BLOCK;
    asm volatile("sti; vmmcall" : "+a"(rax) : "D"(deadline_ns) : "memory", "cc");
    return static_cast<long>(rax);
}

inline uint64_t time_ns() { return static_cast<uint64_t>(hypercall(BATON_HC_TIME)); }

inline long shared_info_map(uint64_t gfn) { return hypercall(BATON_HC_SHARED_INFO_MAP, gfn); }

inline long vcpu_info_map(uint64_t vcpu, uint64_t gfn) { return hypercall(BATON_HC_VCPU_INFO_MAP, vcpu, gfn); }

inline long evtchn_op(uint64_t op, uint64_t arg0 = 0, uint64_t arg1 = 0)
{
    return hypercall(BATON_HC_EVTCHN, op, arg0, arg1);
}

inline long domain_info(baton_domain_info *info, uint64_t size)
{
    return hypercall(BATON_HC_DOMAIN_INFO, gpa_of(info), size);
}

// BATON_HC_SHUTDOWN; if the hypervisor ever lets it return, say so and stay parked.
[[noreturn]] void shutdown(baton_shutdown_reason reason);

constexpr uint64_t NS_PER_MS = 1000000;
constexpr uint64_t NS_PER_SECOND = 1000000000;

} // namespace guest
