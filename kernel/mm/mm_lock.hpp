// SPDX-License-Identifier: MIT
// Memory-management locks: spinlocks with a level, taken only in rising order.
#pragma once
#include "lib/spinlock.hpp"
#include "mm/frame_table.hpp"

// Lock-order checking keeps a per-CPU record of the mm locks held and panics on a lock
// taken out of order, naming both locks and their levels. The Makefile turns it on for
// the kernel and the host tests (DEBUG_LOCKS=1); a build may pass -DBATON_DEBUG_LOCKS=0.
#ifndef BATON_DEBUG_LOCKS
#define BATON_DEBUG_LOCKS 1
#endif
inline constexpr bool MM_LOCK_CHECKS = BATON_DEBUG_LOCKS != 0;

// Outermost first. A CPU may take a lock only if it ranks above every mm lock it already
// holds: by level, then, within one level, by domain id (docs/p2m.md, "Locking", says why
// each level sits where it does and why domain ids order a level).
enum class MmLockLevel : u8 {
    p2m = 1, // a domain's p2m: its ranges, nested tables and TLB generation
    altp2m_list, // a domain's alternate views: which exist, which each vCPU uses
    altp2m, // one alternate view (views are taken one at a time)
    log_dirty, // a domain's dirty bitmap, shared by its p2m and every view
    heap, // the slab heap (takes pages from the frame allocator)
    page_alloc, // the frame allocator: the zones and the frame table
};
// Every level, outermost first (the order check's message spells it out too).
inline constexpr MmLockLevel MM_LOCK_LEVELS[] = {MmLockLevel::p2m,    MmLockLevel::altp2m_list,
                                                 MmLockLevel::altp2m, MmLockLevel::log_dirty,
                                                 MmLockLevel::heap,   MmLockLevel::page_alloc};
const char *mm_lock_level_name(MmLockLevel level);

class MmLock;
namespace mm_lock_order {
// Panics unless `lock` may be taken now; then, once it is held, records it.
void check(const MmLock &lock);
void taken(const MmLock &lock);
// Panics if this CPU does not hold `lock`; forgets it.
void released(const MmLock &lock);
} // namespace mm_lock_order

// Mm locks this CPU holds (always 0 without the checks): tests use it to see that an
// operation returns with none held.
usize mm_locks_held();

class MmLock final {
public:
    // `name` must outlive the lock (it appears in panics); hypervisor-wide locks have no
    // domain (OWNER_HYPERVISOR).
    constexpr MmLock(MmLockLevel level, const char *name, frame_owner_t domain = OWNER_HYPERVISOR)
        : level_(level), domain_(domain), name_(name)
    {}
    MmLock(const MmLock &) = delete;
    MmLock &operator=(const MmLock &) = delete;

    void lock()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::check(*this); // before spinning: a lock taken twice panics, not hangs
        spin_.lock();
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::taken(*this);
    }
    void unlock()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::released(*this);
        spin_.unlock();
    }

    // For locks inside objects that learn their domain after construction (attach()).
    void set_domain(frame_owner_t domain) { domain_ = domain; }

    MmLockLevel level() const { return level_; }
    frame_owner_t domain() const { return domain_; }
    const char *name() const { return name_; }
    bool is_locked() const { return spin_.is_locked(); }
    // The order: level first, then domain id.
    u32 rank() const { return static_cast<u32>(level_) << 16 | domain_; }

private:
    Spinlock spin_;
    MmLockLevel level_;
    frame_owner_t domain_;
    const char *name_;
};

// Holds an mm lock for the rest of the scope.
class [[nodiscard]] MmLockGuard final {
public:
    explicit MmLockGuard(MmLock &lock) : lock_(lock) { lock_.lock(); }
    ~MmLockGuard() { lock_.unlock(); }
    MmLockGuard(const MmLockGuard &) = delete;
    MmLockGuard &operator=(const MmLockGuard &) = delete;

private:
    MmLock &lock_;
};
