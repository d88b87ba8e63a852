// SPDX-License-Identifier: MIT
// The hypervisor lock (an mm lock of the outermost level, so the order check covers it).
#include "dom/hv_lock.hpp"

namespace {
MmLock lock{MmLockLevel::hypervisor, "hypervisor"};
} // namespace

void hv_lock() { lock.lock(); }
void hv_unlock() { lock.unlock(); }
bool hv_try_lock() { return lock.try_lock(); }
bool hv_lock_taken() { return lock.is_locked(); }
