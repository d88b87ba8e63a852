// SPDX-License-Identifier: MIT
// Event channels: the shared-info page, the upcall handler and blocking waits.
#pragma once
#include "abi/hypercall.h"
#include "lib/hypercalls.hpp"
#include <stdint.h>

namespace guest::events {

using Port_handler = void (*)(unsigned port);

constexpr uint8_t UPCALL_VECTOR = 0xf0;

// Maps the shared-info page at gfn, masks every port, routes UPCALL_VECTOR to the upcall
// handler and tells the hypervisor to deliver there. Returns 0 or a negative errno
// (and says which step failed). Interrupts stay as they are (off at start).
long start(uint64_t gfn);

baton_shared_info &shared_info();

// A periodic timer port with its handler (still masked: unmask() to receive upcalls).
// Returns the port or a negative errno.
long bind_timer(uint64_t period_ns, Port_handler handler);

void mask(unsigned port);
long unmask(unsigned port); // BATON_EVTCHN_UNMASK: clears the mask, delivers if pending
bool is_pending(unsigned port);

struct Statistics {
    uint64_t upcalls; // times the upcall vector ran
    uint64_t events; // port handlers called
    uint64_t stray_events; // pending ports without a handler (cleared and ignored)
};
Statistics statistics();

// Waits, with interrupts enabled, until done() or the time reaches deadline_ns. done()
// is checked with interrupts off, so an upcall cannot slip in between it and BLOCK.
// Returns with interrupts enabled.
template <typename Done>
void wait_until(uint64_t deadline_ns, Done done)
{
    for (;;) {
        disable_interrupts();
        if (done() || time_ns() >= deadline_ns)
            break;
        block_with_interrupts_enabled(deadline_ns);
    }
    enable_interrupts();
}

} // namespace guest::events
