// SPDX-License-Identifier: MIT
// The p2m: keeping an IOMMU's tables for the domain in step with the visible RAM mappings.
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "lib/log.hpp"

// Locking: everything here runs under the p2m lock; the listener takes none of the p2m's.

int P2m::attach_io(P2mIoListener &listener, IoLeaves leaves)
{
    MmLockGuard guard(lock_);
    if (!ready())
        return -BATON_EINVAL;
    if (io_ != nullptr)
        return -BATON_EBUSY;
    if (dirty_.enabled()) {
        log_warn("p2m %u: refusing a device while log-dirty is on (its DMA writes would not be tracked)", owner_);
        return -BATON_EBUSY;
    }
    if (leaves == IoLeaves::current) {
        io_ = &listener;
        return 0;
    }
    for (const P2mRange &range : visible_)
        if (p2m_io_rights(range.type, range.access).any() && listener.io_prepare(range.gfn, range.count) != 0)
            return -BATON_ENOMEM;
    io_ = &listener;
    sync_io_all();
    return 0;
}

void P2m::detach_io()
{
    MmLockGuard guard(lock_);
    io_ = nullptr;
}

// The span's visible pieces with their rights, and every hole between them unmapped: after
// this the listener's leaves of [gfn, gfn + count) are exactly what the ranges say, whatever
// they were before (a mapping removed, RAM uncovered, rights changed).
void P2m::sync_io(u64 gfn, u64 count)
{
    if (io_ == nullptr)
        return;
    u64 next = gfn;
    visible_.for_each_in(gfn, count, [&](const P2mRange &piece) {
        if (piece.gfn > next)
            io_->io_set(next, 0, piece.gfn - next, {});
        const IoRights rights = p2m_io_rights(piece.type, piece.access);
        io_->io_set(piece.gfn, rights.any() ? piece.mfn : 0, piece.count, rights);
        next = piece.end();
    });
    if (next < gfn + count)
        io_->io_set(next, 0, gfn + count - next, {});
    io_->io_flush(gfn, count);
}

// After a global type change: the set of visible ranges is the same, only types (and so
// rights) changed, so rewriting every visible range is enough; holes stay unmapped.
void P2m::sync_io_all()
{
    if (io_ == nullptr)
        return;
    for (const P2mRange &range : visible_) {
        const IoRights rights = p2m_io_rights(range.type, range.access);
        io_->io_set(range.gfn, rights.any() ? range.mfn : 0, range.count, rights);
    }
    io_->io_flush(0, P2M_IO_ALL);
}
