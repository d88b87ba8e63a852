// SPDX-License-Identifier: MIT
// The test-guest runtime: what a guest's main.cpp provides and what it may use.
#pragma once
#include "abi/errno.h"
#include "abi/hypercall.h"
#include "lib/console.hpp"
#include "lib/cpu.hpp"
#include "lib/hypercalls.hpp"
#include <stddef.h>
#include <stdint.h>

// Each guest defines these two. guest_name prefixes every line the guest prints; the
// runtime prints "<name>: start domid=N ram=BYTES" before calling guest_main, and shuts
// the domain down with POWEROFF if guest_main returns.
extern const char guest_name[];
void guest_main(const baton_start_info *info);

namespace guest {

constexpr uint64_t PAGE_SIZE = 4096;
constexpr unsigned PAGE_SHIFT = 12;
// The runtime's identity map ends here; RAM beyond it (if any) is not used.
constexpr uint64_t IDENTITY_MAP_END = 4ull << 30;

// Guest frames [first_gfn, end_gfn) that nothing else uses: after the loaded image (and
// its BSS, stacks and page tables), within RAM and the identity map.
struct Free_frames {
    uint64_t first_gfn;
    uint64_t end_gfn;
    uint64_t count() const { return end_gfn - first_gfn; }
};
Free_frames free_frames();

// The start information as the runtime received (and checked) it.
const baton_start_info &start_info();
// The module string the guest was started with, or nullptr if there is none (or it is
// not a string inside the start-info page).
const char *command_line(const baton_start_info &info);

// Compares and clears the bits of a shared word atomically (the hypervisor sets bits
// in the same words from another CPU).
inline bool test_and_clear_bit(volatile uint64_t *word, unsigned bit)
{
    uint64_t mask = 1ull << bit;
    return (__atomic_fetch_and(word, ~mask, __ATOMIC_SEQ_CST) & mask) != 0;
}

inline void set_bit(volatile uint64_t *word, unsigned bit) { __atomic_fetch_or(word, 1ull << bit, __ATOMIC_SEQ_CST); }

} // namespace guest
