// SPDX-License-Identifier: MIT
// RwSpinlock: many readers or one writer, spinning with pause; a waiting writer bars new readers.
#pragma once
#include "lib/types.hpp"

// One word: the reader count in the low bits, WRITER while a writer holds it, WAITING while
// a writer spins for the readers to leave. New readers wait while either bit is set, so a
// stream of readers cannot starve a writer; writers are not ordered among themselves.
// No owner and no recursion (taking it twice on one CPU can spin forever, even two read
// sides once a writer waits between them) and no upgrade: the mm wrapper (MmRwLock,
// mm/mm_lock.hpp) checks all of that. Never taken from an interrupt handler.
//
// Cost: an uncontended read or write side is one compare-and-swap to take and one atomic
// add or store to release, as for Spinlock; readers share the word's cache line, so they
// do not wait for each other but the line moves between CPUs on every take.
class RwSpinlock final {
public:
    constexpr RwSpinlock() = default;
    RwSpinlock(const RwSpinlock &) = delete;
    RwSpinlock &operator=(const RwSpinlock &) = delete;

    void lock_shared()
    {
        for (;;) {
            u32 seen = __atomic_load_n(&word_, __ATOMIC_RELAXED);
            if ((seen & (WRITER | WAITING)) == 0 &&
                __atomic_compare_exchange_n(&word_, &seen, seen + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return;
            asm volatile("pause" ::: "memory");
        }
    }
    void unlock_shared() { __atomic_fetch_sub(&word_, 1u, __ATOMIC_RELEASE); }

    void lock()
    {
        for (;;) {
            u32 seen = __atomic_load_n(&word_, __ATOMIC_RELAXED);
            if ((seen & ~WAITING) == 0) {
                // Free (perhaps with our own or another writer's WAITING): take it, clearing WAITING;
                // another waiting writer sets it again on its next turn.
                if (__atomic_compare_exchange_n(&word_, &seen, WRITER, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                    return;
                continue;
            }
            if ((seen & WAITING) == 0)
                __atomic_fetch_or(&word_, WAITING, __ATOMIC_RELAXED);
            asm volatile("pause" ::: "memory");
        }
    }
    void unlock() { __atomic_fetch_and(&word_, ~WRITER, __ATOMIC_RELEASE); }

    bool is_locked() const { return (__atomic_load_n(&word_, __ATOMIC_RELAXED) & ~WAITING) != 0; }
    bool is_write_locked() const { return (__atomic_load_n(&word_, __ATOMIC_RELAXED) & WRITER) != 0; }
    u32 readers() const { return __atomic_load_n(&word_, __ATOMIC_RELAXED) & READERS; }
    bool writer_waiting() const { return (__atomic_load_n(&word_, __ATOMIC_RELAXED) & WAITING) != 0; }

private:
    static constexpr u32 WRITER = 1u << 31;
    static constexpr u32 WAITING = 1u << 30;
    static constexpr u32 READERS = WAITING - 1;

    u32 word_ = 0;
};
