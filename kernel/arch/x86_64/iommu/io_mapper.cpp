// SPDX-License-Identifier: MIT
// A domain's IO page table following its p2m: mapping, invalidation, detaching.
#include "arch/x86_64/iommu/io_mapper.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"

namespace vtd {

int IoMapper::init(FrameAllocator *frames, frame_owner_t owner, unsigned levels, IoInvalidator *invalidator,
                   TableFormat format)
{
    if (int error = table_.init(frames, owner, levels, format); error != 0)
        return error;
    invalidator_ = invalidator;
    flushes_ = 0;
    return 0;
}

int IoMapper::adopt(FrameAllocator *frames, frame_owner_t owner, unsigned levels, u64 root, u64 frame_count,
                    IoInvalidator *invalidator, TableFormat format)
{
    if (int error = table_.adopt(frames, owner, levels, root, frame_count, format); error != 0)
        return error;
    invalidator_ = invalidator;
    flushes_ = 0;
    return 0;
}

void IoMapper::destroy()
{
    table_.destroy();
    invalidator_ = nullptr;
}

int IoMapper::io_prepare(u64 gfn, u64 count) { return table_.prepare(gfn, count); }

void IoMapper::io_set(u64 gfn, u64 mfn, u64 count, IoRights rights)
{
    // Guest frames beyond what the table's levels address stay unmapped: a device's DMA
    // there faults (the unit reports an address beyond the width).
    const u64 limit = table_.frame_limit();
    if (gfn >= limit)
        return;
    if (count > limit - gfn)
        count = limit - gfn;
    if (!rights.any()) {
        table_.unmap(gfn, count);
        return;
    }
    // io_prepare() made every table of the span, so this cannot run out of memory: a
    // failure is a broken promise of the p2m, and DMA would miss the page.
    if (int error = table_.map(gfn, mfn, count, Access{rights.read, rights.write}))
        panic("iommu: mapping gfn 0x%lx+%lu into a prepared IO table failed (%d)", gfn, count, error);
}

void IoMapper::io_flush(u64 gfn, u64 count)
{
    flushes_++;
    if (invalidator_ != nullptr)
        invalidator_->invalidate(gfn, count);
}

void IoMapper::io_detach()
{
    if (invalidator_ != nullptr)
        invalidator_->block_devices();
    destroy();
}

} // namespace vtd
