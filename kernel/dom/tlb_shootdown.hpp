// SPDX-License-Identifier: MIT
// TLB shootdown for one domain's nested translations: which CPUs may cache them, and the wait for each.
#pragma once
#include "lib/this_cpu.hpp"

// The protocol (docs/p2m.md, "Concurrency"), arch-neutral so the host tests run it with
// threads as CPUs:
//
// - A CPU about to run guest code of the domain calls enter_guest(cpu): it publishes the
//   generation it runs with in its slot, then reads the generation again, until the two
//   agree, and flushes its TLB (the caller does) when that generation is not the one it
//   last flushed at. At every exit from the guest it calls exit_guest(cpu): its slot reads
//   OUTSIDE until the next entry.
// - A change that took rights or frames away calls advance() (the generation moves) and
//   then wait(generation): every CPU whose slot shows an older generation is kicked once
//   (arch_tlb_shootdown_kick: an IPI on the kernel, which makes a CPU in guest mode exit)
//   and waited for until its slot shows OUTSIDE or a generation at least as new.
//
// Why that is enough: the slot store and the generation load on the entering CPU and the
// generation increment and the slot load on the changing CPU are sequentially consistent,
// so either the entering CPU sees the new generation (and flushes before its guest runs)
// or the changer sees its slot with the old one (and waits for it to leave the guest).
// A CPU outside the guest caches nothing it will use: it re-enters through enter_guest.
// The wait holds no lock, so a CPU that needs a lock the changer held is never waited on
// (it is outside the guest while it handles an exit). The kick only bounds how long a CPU
// stays in the guest; correctness rests on the slots alone.
//
// Cost: two atomic stores per guest entry and exit on the CPU's own slot, plus one load of
// the shared generation (read-mostly); a change scans one mask word and the slots of CPUs
// that ever ran the domain, and waits at most one guest exit per CPU running it.
class TlbShootdown final {
public:
    // What slot() shows for a CPU not running this domain's guest code.
    static constexpr u64 OUTSIDE = 0;
    using CpuMask = u64;
    static_assert(MAX_CPU_SLOTS <= 64, "one mask word");

    constexpr TlbShootdown() = default;
    TlbShootdown(const TlbShootdown &) = delete;
    TlbShootdown &operator=(const TlbShootdown &) = delete;

    // Moves whenever a change took rights or frames away from translations a CPU may cache.
    u64 generation() const { return __atomic_load_n(&generation_, __ATOMIC_SEQ_CST); }

    // `cpu` (< MAX_CPU_SLOTS) is about to run the domain's guest code; returns the
    // generation it runs with: the caller flushes the guest TLB unless it already did at
    // that generation. Only `cpu` itself calls this and exit_guest for its slot.
    u64 enter_guest(u32 cpu);
    // `cpu` left guest mode (a #VMEXIT): nothing it caches is used until enter_guest.
    void exit_guest(u32 cpu) { __atomic_store_n(&slots_[cpu], OUTSIDE, __ATOMIC_RELEASE); }

    // A change took something away: the new generation, to pass to wait().
    u64 advance() { return __atomic_add_fetch(&generation_, 1, __ATOMIC_SEQ_CST); }
    // Kicks every CPU that may still run with a generation older than `generation` and
    // waits until none does. 0, or -BATON_ETIMEDOUT after `timeout_ns` (time_now_ns) with
    // the CPUs that did not answer in `*laggards` (if given): they may still use
    // translations the change removed. Call with no mm lock held.
    [[nodiscard]] int wait(u64 generation, u64 timeout_ns, CpuMask *laggards = nullptr) const;

    // The CPUs that ever ran the domain (they may cache its translations).
    CpuMask cpus() const { return __atomic_load_n(&cpus_, __ATOMIC_ACQUIRE); }
    // What `cpu`'s slot shows now: OUTSIDE or 1 + the generation it runs with (tests).
    u64 slot(u32 cpu) const { return __atomic_load_n(&slots_[cpu], __ATOMIC_ACQUIRE); }

private:
    CpuMask behind(u64 generation) const;

    u64 generation_ = 0;
    CpuMask cpus_ = 0;
    // Per CPU: 0 (OUTSIDE) or 1 + the generation its guest runs with, so that zero is the
    // start and a larger slot is a newer generation.
    u64 slots_[MAX_CPU_SLOTS] = {};
};

// Provided by the architecture (host tests provide a stand-in): make `cpu` leave guest
// mode soon if it is in it (an IPI on x86-64). May be called for a CPU that already left.
void arch_tlb_shootdown_kick(u32 cpu);
