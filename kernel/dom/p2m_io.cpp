// SPDX-License-Identifier: MIT
// The p2m: keeping an IOMMU's tables for the domain in step with the visible RAM mappings.
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "lib/log.hpp"

// Locking: everything here runs under the p2m lock; the listener takes none of the p2m's.

int P2m::attach_io(P2mIoListener &listener, IoLeaves leaves)
{
    Change guard(*this);
    if (!ready())
        return -BATON_EINVAL;
    if (io_.attached())
        return -BATON_EBUSY;
    if (dirty_.enabled()) {
        log_warn("p2m %u: refusing a device while log-dirty is on (its DMA writes would not be tracked)", owner_);
        return -BATON_EBUSY;
    }
    return io_.attach(listener, visible_, leaves == IoLeaves::rewrite);
}

void P2m::detach_io()
{
    Change guard(*this);
    io_.detach();
}

int P2mIoMirror::attach(P2mIoListener &listener, const P2mRangeList &visible, bool rewrite)
{
    if (rewrite) {
        for (const P2mRange &range : visible)
            if (p2m_io_rights(range.type, range.access).any() && listener.io_prepare(range.gfn, range.count) != 0)
                return -BATON_ENOMEM;
    }
    listener_ = &listener;
    if (rewrite)
        sync_all(visible);
    return 0;
}

void P2mIoMirror::release()
{
    if (listener_ != nullptr)
        listener_->io_detach();
    listener_ = nullptr;
}

int P2mIoMirror::prepare(u64 gfn, u64 count) const
{
    return listener_ != nullptr ? listener_->io_prepare(gfn, count) : 0;
}

// The span's visible pieces with their rights, and every hole between them unmapped: after
// this the listener's leaves of [gfn, gfn + count) are exactly what the ranges say, whatever
// they were before (a mapping removed, RAM uncovered, rights changed).
void P2mIoMirror::sync(const P2mRangeList &visible, u64 gfn, u64 count) const
{
    if (listener_ == nullptr)
        return;
    u64 next = gfn;
    visible.for_each_in(gfn, count, [&](const P2mRange &piece) {
        if (piece.gfn > next)
            listener_->io_set(next, 0, piece.gfn - next, {});
        const IoRights rights = p2m_io_rights(piece.type, piece.access);
        listener_->io_set(piece.gfn, rights.any() ? piece.mfn : 0, piece.count, rights);
        next = piece.end();
    });
    if (next < gfn + count)
        listener_->io_set(next, 0, gfn + count - next, {});
    listener_->io_flush(gfn, count);
}

// After a global type change the set of visible ranges is the same, only types (and so
// rights) changed, so rewriting every visible range is enough; holes stay unmapped.
void P2mIoMirror::sync_all(const P2mRangeList &visible) const
{
    if (listener_ == nullptr)
        return;
    for (const P2mRange &range : visible) {
        const IoRights rights = p2m_io_rights(range.type, range.access);
        listener_->io_set(range.gfn, rights.any() ? range.mfn : 0, range.count, rights);
    }
    listener_->io_flush(0, P2M_IO_ALL);
}
