// SPDX-License-Identifier: MIT
// Memory-management locks: the per-CPU record of held locks and the order check.
#include "mm/mm_lock.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

namespace {

// Deeper than any real nesting: one lock per level is six.
constexpr usize MAX_HELD = 8;

struct HeldMmLocks {
    const MmLock *locks[MAX_HELD];
    usize count;
};

// One CPU runs Baton today, so one record; it moves into per-CPU data when APs start.
// Host tests run real threads, each standing in for a CPU.
#ifdef BATON_HOST
thread_local HeldMmLocks this_cpu_locks{};
#else
constinit HeldMmLocks this_cpu_locks{};
#endif

// "p2m lock 'p2m' of d7" or "page_alloc lock 'frames'".
struct LockText {
    char text[96];
    explicit LockText(const MmLock &lock)
    {
        if (lock.domain() == OWNER_HYPERVISOR)
            format(text, sizeof(text), "%s lock '%s'", mm_lock_level_name(lock.level()), lock.name());
        else
            format(text, sizeof(text), "%s lock '%s' of d%u", mm_lock_level_name(lock.level()), lock.name(),
                   lock.domain());
    }
};

const char *why_out_of_order(const MmLock &taking, const MmLock &held)
{
    if (&taking == &held)
        return "this CPU already holds it";
    if (taking.level() != held.level())
        return "levels must rise: p2m, altp2m_list, altp2m, log_dirty, heap, page_alloc";
    if (taking.domain() == held.domain())
        return "one lock of a level per domain at a time";
    return "locks of one level are taken in domain-id order";
}

} // namespace

const char *mm_lock_level_name(MmLockLevel level)
{
    switch (level) {
    case MmLockLevel::p2m: return "p2m";
    case MmLockLevel::altp2m_list: return "altp2m_list";
    case MmLockLevel::altp2m: return "altp2m";
    case MmLockLevel::log_dirty: return "log_dirty";
    case MmLockLevel::heap: return "heap";
    case MmLockLevel::page_alloc: return "page_alloc";
    }
    return "unknown";
}

usize mm_locks_held() { return this_cpu_locks.count; }

void mm_lock_order::check(const MmLock &lock)
{
    // Against the highest-ranked lock held: that is the one the new lock must follow.
    const MmLock *highest = nullptr;
    for (usize i = 0; i < this_cpu_locks.count; i++) {
        if (highest == nullptr || this_cpu_locks.locks[i]->rank() > highest->rank())
            highest = this_cpu_locks.locks[i];
    }
    if (highest == nullptr || lock.rank() > highest->rank())
        return;
    panic("mm lock order: taking %s while holding %s: %s", LockText(lock).text, LockText(*highest).text,
          why_out_of_order(lock, *highest));
}

void mm_lock_order::taken(const MmLock &lock)
{
    if (this_cpu_locks.count == MAX_HELD)
        panic("mm lock order: taking %s with %lu mm locks held already", LockText(lock).text, MAX_HELD);
    this_cpu_locks.locks[this_cpu_locks.count++] = &lock;
}

// Scope guards release in reverse order, but nothing requires it.
void mm_lock_order::released(const MmLock &lock)
{
    for (usize i = this_cpu_locks.count; i > 0; i--) {
        if (this_cpu_locks.locks[i - 1] != &lock)
            continue;
        for (usize j = i; j < this_cpu_locks.count; j++)
            this_cpu_locks.locks[j - 1] = this_cpu_locks.locks[j];
        this_cpu_locks.count--;
        return;
    }
    panic("mm lock order: releasing %s, which this CPU does not hold", LockText(lock).text);
}
