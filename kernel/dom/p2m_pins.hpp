// SPDX-License-Identifier: MIT
// Frame references: a guest frame the hypervisor uses after a lookup stays mapped until released.
#pragma once
#include "dom/p2m_types.hpp"

// Slots for the references of one p2m (docs/p2m.md, "Concurrency"). A reference names a
// guest frame of the host view; while it is held, no change may move or free what that
// frame maps to: map() and unmap() over it return -BATON_EBUSY, destroy() waits for it.
//
// Taken under the p2m lock's read side (so no change runs meanwhile), released with no
// lock at all (one atomic store). A change holds the write side, so no reference can be
// taken during it, and sees every reference taken before it: the release of the read
// lock after the take orders the take before the change's acquire of the write side.
// The release store orders the holder's last use of the frame before whatever a change
// that then finds the slot free does to it.
//
// Sizing: the hypervisor holds a reference for one page of a copy at a time, so each CPU
// holds at most one per domain; P2M_REF_SLOTS covers every CPU, and a full table returns
// -BATON_EAGAIN rather than wait.
inline constexpr usize P2M_REF_SLOTS = 64;

class P2mRefSlots final {
public:
    constexpr P2mRefSlots() = default;
    P2mRefSlots(const P2mRefSlots &) = delete;
    P2mRefSlots &operator=(const P2mRefSlots &) = delete;

    // Under the p2m lock (either side): a slot now naming gfn, or -1 if all are taken.
    int take(u64 gfn)
    {
        for (usize i = 0; i < P2M_REF_SLOTS; i++) {
            u64 expected = 0;
            if (__atomic_load_n(&slots_[i], __ATOMIC_RELAXED) == 0 &&
                __atomic_compare_exchange_n(&slots_[i], &expected, gfn + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                return static_cast<int>(i);
        }
        return -1;
    }
    // No lock needed: after this the holder no longer touches the frame.
    void release(usize slot) { __atomic_store_n(&slots_[slot], 0, __ATOMIC_RELEASE); }

    // Under the write side: whether a reference names a frame of [gfn, gfn + count).
    bool any_in(u64 gfn, u64 count) const
    {
        for (const u64 &slot : slots_) {
            const u64 held = __atomic_load_n(&slot, __ATOMIC_ACQUIRE);
            if (held != 0 && held - 1 >= gfn && held - 1 - gfn < count)
                return true;
        }
        return false;
    }
    usize held() const
    {
        usize count = 0;
        for (const u64 &slot : slots_)
            count += __atomic_load_n(&slot, __ATOMIC_ACQUIRE) != 0 ? usize{1} : usize{0};
        return count;
    }

private:
    u64 slots_[P2M_REF_SLOTS] = {}; // 0: free; else 1 + the guest frame referenced
};

// A held reference to one guest frame and what the lookup that took it saw (RAII): the
// entry's machine frame stays the domain's and mapped at that gfn until release() or the
// end of the scope. Taken by P2m::get_frame(); only frames with machine frames behind them
// (RAM and device frames) are referenced, holes and emulated MMIO come back unreferenced.
// Hold it only while using the frame (one page of a copy): changes of that frame fail with
// -BATON_EBUSY meanwhile. It may be held while taking the p2m lock (marking a page dirty).
class [[nodiscard]] P2mFrameRef final {
public:
    P2mFrameRef() = default;
    ~P2mFrameRef() { release(); }
    P2mFrameRef(const P2mFrameRef &) = delete;
    P2mFrameRef &operator=(const P2mFrameRef &) = delete;

    const P2mEntry &entry() const { return entry_; }
    bool held() const { return slots_ != nullptr; }
    void release()
    {
        if (slots_ != nullptr)
            slots_->release(slot_);
        slots_ = nullptr;
    }

private:
    friend class P2m;
    P2mRefSlots *slots_ = nullptr;
    usize slot_ = 0;
    P2mEntry entry_{};
};
