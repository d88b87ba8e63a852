// SPDX-License-Identifier: MIT
// Event channels: the upcall handler scans pending & ~mask and calls port handlers.
#include "lib/events.hpp"
#include "lib/interrupts.hpp"
#include "lib/runtime.hpp"

namespace guest::events {
namespace {

volatile baton_shared_info *shared;
Port_handler port_handlers[BATON_EVTCHN_PORTS];
volatile Statistics counters;

// Xen-style: clear upcall_pending first, then take every pending unmasked port, and go
// round again if the hypervisor raised upcall_pending meanwhile. Each pending bit is
// cleared atomically before its handler runs, so a new event is never lost.
void upcall(Interrupt_frame &)
{
    counters.upcalls = counters.upcalls + 1;
    do {
        shared->upcall_pending = 0;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        for (unsigned word = 0; word < BATON_EVTCHN_WORDS; ++word) {
            uint64_t ready = shared->evtchn_pending[word] & ~shared->evtchn_mask[word];
            while (ready != 0) {
                unsigned bit = static_cast<unsigned>(__builtin_ctzll(ready));
                ready &= ready - 1;
                if (!test_and_clear_bit(&shared->evtchn_pending[word], bit))
                    continue;
                unsigned port = word * 64 + bit;
                if (port_handlers[port] != nullptr) {
                    counters.events = counters.events + 1;
                    port_handlers[port](port);
                } else {
                    counters.stray_events = counters.stray_events + 1;
                }
            }
        }
    } while (shared->upcall_pending != 0);
}

} // namespace

long start(uint64_t gfn)
{
    long result = shared_info_map(gfn);
    if (result != 0) {
        report("events: SHARED_INFO_MAP(gfn 0x%lx) -> %ld", gfn, result);
        return result < 0 ? result : -BATON_EIO;
    }
    shared = at_gpa<baton_shared_info>(gfn << PAGE_SHIFT);
    for (unsigned word = 0; word < BATON_EVTCHN_WORDS; ++word)
        __atomic_store_n(&shared->evtchn_mask[word], ~0ull, __ATOMIC_SEQ_CST);
    shared->upcall_mask = 0;
    set_interrupt_handler(UPCALL_VECTOR, upcall);
    result = evtchn_op(BATON_EVTCHN_SET_UPCALL_VECTOR, UPCALL_VECTOR);
    if (result != 0) {
        report("events: SET_UPCALL_VECTOR(%u) -> %ld", UPCALL_VECTOR, result);
        return result < 0 ? result : -BATON_EIO;
    }
    return 0;
}

baton_shared_info &shared_info() { return *const_cast<baton_shared_info *>(shared); }

long bind_timer(uint64_t period_ns, Port_handler handler)
{
    long port = evtchn_op(BATON_EVTCHN_BIND_TIMER, period_ns);
    if (port < 0)
        return port;
    if (static_cast<uint64_t>(port) >= BATON_EVTCHN_PORTS) {
        report("events: BIND_TIMER returned port %ld, beyond the %u ports of the ABI", port, BATON_EVTCHN_PORTS);
        return -BATON_ERANGE;
    }
    port_handlers[port] = handler;
    return port;
}

void mask(unsigned port) { set_bit(&shared->evtchn_mask[port / 64], port % 64); }

long unmask(unsigned port) { return evtchn_op(BATON_EVTCHN_UNMASK, port); }

bool is_pending(unsigned port) { return (shared->evtchn_pending[port / 64] >> (port % 64) & 1) != 0; }

// Each counter is one aligned 64-bit word, read atomically; the set need not be a snapshot.
Statistics statistics() { return Statistics{counters.upcalls, counters.events, counters.stray_events}; }

} // namespace guest::events
