// SPDX-License-Identifier: MIT
// A domain's IO page table (VT-d or AMD-Vi format) kept in step with its p2m.
#pragma once
#include "arch/x86_64/iommu/vtd_format.hpp"
#include "dom/p2m_io.hpp"

// Pure logic like vtd_format (host tests use it with a fake invalidator); the units that
// read the table invalidate through IoInvalidator (iommu_assign.cpp).
namespace vtd {

// What the mapper needs from the units its table is installed in.
class IoInvalidator {
public:
    // The table's entries for IO frames [io_frame, io_frame + count) changed (count
    // P2M_IO_ALL: any of them): write back what the unit does not snoop, invalidate its IOTLB.
    virtual void invalidate(u64 io_frame, u64 count) = 0;
    // The domain's memory is about to be freed: block every device that uses the table,
    // with the unit's caches invalidated, before returning. The table is freed afterwards.
    virtual void block_devices() = 0;

protected:
    ~IoInvalidator() = default;
};

// IO address = guest-physical address: the device uses the addresses the guest gives it.
// Leaves follow p2m_io_rights() of the visible ranges; 4 KiB leaves only.
class IoMapper final : public P2mIoListener {
public:
    constexpr IoMapper() = default;
    IoMapper(const IoMapper &) = delete;
    IoMapper &operator=(const IoMapper &) = delete;

    // An empty table in preserved page_table frames owned by `owner` (the domain), in the
    // format of the units it is installed in. -BATON_EINVAL / -BATON_EBUSY / -BATON_ENOMEM
    // as IoPageTable::init.
    [[nodiscard]] int init(FrameAllocator *frames, frame_owner_t owner, unsigned levels, IoInvalidator *invalidator,
                           TableFormat format = TableFormat::vtd);
    // Takes over a table an earlier image built and left in use (a live update): the
    // caller walked and checked its `frame_count` frames.
    [[nodiscard]] int adopt(FrameAllocator *frames, frame_owner_t owner, unsigned levels, u64 root, u64 frame_count,
                            IoInvalidator *invalidator, TableFormat format = TableFormat::vtd);
    bool ready() const { return table_.ready(); }
    const IoPageTable &table() const { return table_; }
    u64 flushes() const { return flushes_; }
    // Frees the table; the caller has made sure no unit points at it any more.
    void destroy();

    [[nodiscard]] int io_prepare(u64 gfn, u64 count) override;
    void io_set(u64 gfn, u64 mfn, u64 count, IoRights rights) override;
    void io_flush(u64 gfn, u64 count) override;
    void io_detach() override;

private:
    IoPageTable table_;
    IoInvalidator *invalidator_ = nullptr;
    u64 flushes_ = 0;
};

} // namespace vtd
