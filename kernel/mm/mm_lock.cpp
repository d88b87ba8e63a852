// SPDX-License-Identifier: MIT
// Memory-management locks: the per-CPU record of held locks and the order check.
#include "mm/mm_lock.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/this_cpu.hpp"

namespace {

// Deeper than any real nesting: one lock per level is six.
constexpr usize MAX_HELD = 8;

struct HeldMmLock {
    const MmLockId *lock;
    MmLockMode mode;
};

// A cache line or two each, so CPUs taking locks do not bounce one another's records.
struct alignas(64) HeldMmLocks {
    HeldMmLock locks[MAX_HELD];
    usize count;
};

// Each CPU keeps its own record and only it reads or writes it, so the record needs no
// lock. Host tests run real threads, each standing in for a CPU; the kernel indexes an
// array by this_cpu_index() (0 on the bootstrap CPU until the per-CPU blocks exist, when
// no other CPU runs).
#ifdef BATON_HOST
thread_local HeldMmLocks host_thread_locks{};
HeldMmLocks &this_cpu_locks() { return host_thread_locks; }
#else
constinit HeldMmLocks cpu_locks[MAX_CPU_SLOTS]{};
HeldMmLocks &this_cpu_locks() { return cpu_locks[this_cpu_index()]; }
#endif

// "p2m lock 'p2m' of d7" or "page_alloc lock 'frames'".
struct LockText {
    char text[96];
    explicit LockText(const MmLockId &lock)
    {
        if (lock.domain() == OWNER_HYPERVISOR)
            format(text, sizeof(text), "%s lock '%s'", mm_lock_level_name(lock.level()), lock.name());
        else
            format(text, sizeof(text), "%s lock '%s' of d%u", mm_lock_level_name(lock.level()), lock.name(),
                   lock.domain());
    }
};

const char *why_out_of_order(const MmLockId &taking, MmLockMode taking_mode, const HeldMmLock &held)
{
    if (&taking == held.lock) {
        if (held.mode == MmLockMode::shared && taking_mode == MmLockMode::exclusive)
            return "this CPU holds its read side: a read lock is not upgraded, drop it and take the write side";
        return "this CPU already holds it";
    }
    if (taking.level() != held.lock->level())
        return "levels must rise: hypervisor, p2m, altp2m_list, altp2m, log_dirty, heap, page_alloc";
    if (taking.domain() == held.lock->domain())
        return "one lock of a level per domain at a time";
    return "locks of one level are taken in domain-id order";
}

} // namespace

const char *mm_lock_level_name(MmLockLevel level)
{
    switch (level) {
    case MmLockLevel::hypervisor: return "hypervisor";
    case MmLockLevel::p2m: return "p2m";
    case MmLockLevel::altp2m_list: return "altp2m_list";
    case MmLockLevel::altp2m: return "altp2m";
    case MmLockLevel::log_dirty: return "log_dirty";
    case MmLockLevel::heap: return "heap";
    case MmLockLevel::page_alloc: return "page_alloc";
    }
    return "unknown";
}

usize mm_locks_held() { return this_cpu_locks().count; }

void mm_lock_order::check(const MmLockId &lock, MmLockMode mode)
{
    // Against the highest-ranked lock held: that is the one the new lock must follow.
    const HeldMmLocks &held = this_cpu_locks();
    const HeldMmLock *highest = nullptr;
    for (usize i = 0; i < held.count; i++) {
        if (highest == nullptr || held.locks[i].lock->rank() > highest->lock->rank())
            highest = &held.locks[i];
    }
    if (highest == nullptr || lock.rank() > highest->lock->rank())
        return;
    // Modes go last, so that the first part reads the same for every kind of lock.
    panic("mm lock order: taking %s while holding %s: %s%s%s", LockText(lock).text, LockText(*highest->lock).text,
          why_out_of_order(lock, mode, *highest), mode == MmLockMode::shared ? " [taking a read side]" : "",
          highest->mode == MmLockMode::shared ? " [holding a read side]" : "");
}

void mm_lock_order::taken(const MmLockId &lock, MmLockMode mode)
{
    HeldMmLocks &held = this_cpu_locks();
    if (held.count == MAX_HELD)
        panic("mm lock order: taking %s with %lu mm locks held already", LockText(lock).text, MAX_HELD);
    held.locks[held.count++] = {&lock, mode};
}

// Scope guards release in reverse order, but nothing requires it.
void mm_lock_order::released(const MmLockId &lock)
{
    HeldMmLocks &held = this_cpu_locks();
    for (usize i = held.count; i > 0; i--) {
        if (held.locks[i - 1].lock != &lock)
            continue;
        for (usize j = i; j < held.count; j++)
            held.locks[j - 1] = held.locks[j];
        held.count--;
        return;
    }
    panic("mm lock order: releasing %s, which this CPU does not hold", LockText(lock).text);
}
