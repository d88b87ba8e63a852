// SPDX-License-Identifier: MIT
// Spinlock: test-and-set with pause, for short critical sections that never sleep.
#pragma once
#include "lib/types.hpp"

// No owner, no fairness, no recursion: taking it twice on one CPU spins forever, which is
// why the memory-management locks wrap it with an order check (mm/mm_lock.hpp). Never
// taken from an interrupt handler, so holders need not mask interrupts.
class Spinlock final {
public:
    constexpr Spinlock() = default;
    Spinlock(const Spinlock &) = delete;
    Spinlock &operator=(const Spinlock &) = delete;

    void lock()
    {
        // Spin on a plain load so that waiters share the line until it is released.
        while (__atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE)) {
            while (__atomic_load_n(&locked_, __ATOMIC_RELAXED))
                asm volatile("pause" ::: "memory");
        }
    }
    [[nodiscard]] bool try_lock() { return !__atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE); }
    void unlock() { __atomic_store_n(&locked_, false, __ATOMIC_RELEASE); }
    bool is_locked() const { return __atomic_load_n(&locked_, __ATOMIC_RELAXED); }

private:
    bool locked_ = false;
};
