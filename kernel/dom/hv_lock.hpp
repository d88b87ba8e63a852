// SPDX-License-Identifier: MIT
// The hypervisor lock: one lock around everything a CPU does outside guest mode.
#pragma once
#include "mm/mm_lock.hpp"

// Every CPU that runs the scheduling loop holds this lock except while its vCPU is in
// guest mode (VMRUN to #VMEXIT) and while it halts with nothing to run. Exit handling,
// hypercalls, event channels, the domain table and lifecycle, the control channel, device
// models and the scheduler's choice all run under it, so none of them needs a lock of its
// own yet; the p2m's locks nest inside it (it is the outermost mm lock level, checked).
// The guests run in parallel; the hypervisor's own work does not. Finer locks can replace
// it piece by piece where a profile shows CPUs waiting here.
//
// It is never taken in an interrupt handler, so holders need not mask interrupts; a CPU
// spinning for it takes interrupts (a stop request halts it there, holding nothing).
void hv_lock();
void hv_unlock();
// Takes it only if it is free: a CPU with nothing to run halts again instead of spinning
// while another CPU holds the lock for long (an update, an image check).
[[nodiscard]] bool hv_try_lock();
// Whether some CPU holds it (for assertions; not who).
bool hv_lock_taken();

// Drops the lock for a scope in which another CPU must make progress under it (a waiter
// for other CPUs' vCPUs to leave guest mode), and takes it again at the end. The caller
// must hold no other mm lock (the order check panics when the lock is taken again).
class [[nodiscard]] HvLockDropped final {
public:
    HvLockDropped() { hv_unlock(); }
    ~HvLockDropped() { hv_lock(); }
    HvLockDropped(const HvLockDropped &) = delete;
    HvLockDropped &operator=(const HvLockDropped &) = delete;
};
