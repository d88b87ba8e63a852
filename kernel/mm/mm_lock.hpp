// SPDX-License-Identifier: MIT
// Memory-management locks: spinlocks with a level, taken only in rising order.
#pragma once
#include "lib/rw_spinlock.hpp"
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
    hypervisor = 0, // the hypervisor lock (dom/hv_lock.hpp): exit handling, domains, control
    p2m, // a domain's p2m: its ranges, nested tables and TLB generation
    altp2m_list, // a domain's alternate views: which exist, which each vCPU uses
    altp2m, // one alternate view (views are taken one at a time)
    log_dirty, // a domain's dirty bitmap, shared by its p2m and every view
    heap, // the slab heap (takes pages from the frame allocator)
    page_alloc, // the frame allocator: the zones and the frame table
};
// Every level, outermost first (the order check's message spells it out too).
inline constexpr MmLockLevel MM_LOCK_LEVELS[] = {
    MmLockLevel::hypervisor, MmLockLevel::p2m,  MmLockLevel::altp2m_list, MmLockLevel::altp2m,
    MmLockLevel::log_dirty,  MmLockLevel::heap, MmLockLevel::page_alloc};
const char *mm_lock_level_name(MmLockLevel level);

// What the order check knows of a lock: its level, its domain and its name. MmLock and
// MmRwLock carry one; the record of held locks holds these.
class MmLockId {
public:
    // `name` must outlive the lock (it appears in panics); hypervisor-wide locks have no
    // domain (OWNER_HYPERVISOR).
    constexpr MmLockId(MmLockLevel level, const char *name, frame_owner_t domain)
        : level_(level), domain_(domain), name_(name)
    {}
    MmLockId(const MmLockId &) = delete;
    MmLockId &operator=(const MmLockId &) = delete;

    // For locks inside objects that learn their domain after construction (attach()).
    void set_domain(frame_owner_t domain) { domain_ = domain; }

    MmLockLevel level() const { return level_; }
    frame_owner_t domain() const { return domain_; }
    const char *name() const { return name_; }
    // The order: level first, then domain id.
    u32 rank() const { return static_cast<u32>(level_) << 16 | domain_; }

protected:
    ~MmLockId() = default;

private:
    MmLockLevel level_;
    frame_owner_t domain_;
    const char *name_;
};

// How a lock is held: a plain lock and the write side of a reader-writer lock are
// exclusive, the read side is shared.
enum class MmLockMode : u8 { exclusive, shared };

namespace mm_lock_order {
// Panics unless `lock` may be taken now in `mode`; then, once it is held, records it. The
// order is the same for both modes: a shared lock is still a lock a writer waits for, so a
// read side taken out of order deadlocks like any other. A lock this CPU holds in either
// mode cannot be taken again (a read lock is never upgraded: drop it and take the write side).
void check(const MmLockId &lock, MmLockMode mode = MmLockMode::exclusive);
void taken(const MmLockId &lock, MmLockMode mode = MmLockMode::exclusive);
// Panics if this CPU does not hold `lock`; forgets it.
void released(const MmLockId &lock);
} // namespace mm_lock_order

// Mm locks this CPU holds (always 0 without the checks): tests use it to see that an
// operation returns with none held.
usize mm_locks_held();

// The record of held locks is per CPU: one per thread in host builds, one per CPU index
// (this_cpu_index(), lib/this_cpu.hpp) in the kernel, so CPUs never share or race on it.
class MmLock final : public MmLockId {
public:
    constexpr MmLock(MmLockLevel level, const char *name, frame_owner_t domain = OWNER_HYPERVISOR)
        : MmLockId(level, name, domain)
    {}

    void lock()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::check(*this); // before spinning: a lock taken twice panics, not hangs
        spin_.lock();
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::taken(*this);
    }
    // Takes it if it is free, without spinning (the order is checked all the same).
    [[nodiscard]] bool try_lock()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::check(*this);
        if (!spin_.try_lock())
            return false;
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::taken(*this);
        return true;
    }
    void unlock()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::released(*this);
        spin_.unlock();
    }
    bool is_locked() const { return spin_.is_locked(); }

private:
    Spinlock spin_;
};

// A reader-writer mm lock (the p2m's): lookups share it, changes hold it alone. Same levels
// and order as MmLock; no recursion and no upgrade (checked).
class MmRwLock final : public MmLockId {
public:
    constexpr MmRwLock(MmLockLevel level, const char *name, frame_owner_t domain = OWNER_HYPERVISOR)
        : MmLockId(level, name, domain)
    {}

    void lock()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::check(*this, MmLockMode::exclusive);
        rw_.lock();
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::taken(*this, MmLockMode::exclusive);
    }
    void unlock()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::released(*this);
        rw_.unlock();
    }
    void lock_shared()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::check(*this, MmLockMode::shared);
        rw_.lock_shared();
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::taken(*this, MmLockMode::shared);
    }
    void unlock_shared()
    {
        if constexpr (MM_LOCK_CHECKS)
            mm_lock_order::released(*this);
        rw_.unlock_shared();
    }
    bool is_locked() const { return rw_.is_locked(); }
    bool is_write_locked() const { return rw_.is_write_locked(); }

private:
    RwSpinlock rw_;
};

// Holds an mm lock (or an MmRwLock's write side) for the rest of the scope.
class [[nodiscard]] MmLockGuard final {
public:
    explicit MmLockGuard(MmLock &lock) : lock_(lock) { lock_.lock(); }
    ~MmLockGuard() { lock_.unlock(); }
    MmLockGuard(const MmLockGuard &) = delete;
    MmLockGuard &operator=(const MmLockGuard &) = delete;

private:
    MmLock &lock_;
};

// Holds an MmRwLock's read side for the rest of the scope.
class [[nodiscard]] MmReadGuard final {
public:
    explicit MmReadGuard(MmRwLock &lock) : lock_(lock) { lock_.lock_shared(); }
    ~MmReadGuard() { lock_.unlock_shared(); }
    MmReadGuard(const MmReadGuard &) = delete;
    MmReadGuard &operator=(const MmReadGuard &) = delete;

private:
    MmRwLock &lock_;
};

// Holds an MmRwLock's write side for the rest of the scope.
class [[nodiscard]] MmWriteGuard final {
public:
    explicit MmWriteGuard(MmRwLock &lock) : lock_(lock) { lock_.lock(); }
    ~MmWriteGuard() { lock_.unlock(); }
    MmWriteGuard(const MmWriteGuard &) = delete;
    MmWriteGuard &operator=(const MmWriteGuard &) = delete;

private:
    MmRwLock &lock_;
};
