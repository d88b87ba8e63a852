// SPDX-License-Identifier: MIT
// Intel VT-d remapping unit: registers, invalidation, enabling, fault recording.
#pragma once
#include "arch/x86_64/iommu/dmar.hpp"
#include "arch/x86_64/iommu/iommu.hpp"
#include "arch/x86_64/iommu/iommu_adopt.hpp"
#include "arch/x86_64/iommu/vtd_format.hpp"

// One DRHD unit in legacy (root/context) mode with register-based invalidation. Its root
// and context tables are preserved page_table frames (vtd_format.hpp says why).
class VtdUnit final : public iommu::Unit {
public:
    constexpr VtdUnit() = default;
    VtdUnit(const VtdUnit &) = delete;
    VtdUnit &operator=(const VtdUnit &) = delete;

    // Takes over the unit `drhd` of `dmar` (both must outlive the unit): reads its
    // capabilities, builds a root table with a context table for bus 0 where every entry
    // is not present, points the unit at it, invalidates the caches and turns
    // translation on (or keeps it on, if a previous image left it on: there is no moment
    // without translation). 0, or -errno with a reason in `why`.
    // With `adopted` (a live update handed this unit over) and the unit still translating
    // through that root table, the tables are taken over as they are instead: nothing is
    // written to the unit, so assigned devices' DMA goes on undisturbed.
    [[nodiscard]] int init(const dmar::Info &dmar, const dmar::RemappingUnit &drhd, unsigned index,
                           const iommu::AdoptedUnit *adopted, char *why, usize why_capacity);

    iommu::Kind kind() const override { return iommu::Kind::vtd; }
    const char *name() const override { return name_; }
    u16 segment() const override { return drhd_->segment; }
    u64 register_base() const override { return drhd_->register_base; }
    bool translating() const override;
    u64 root_table() const override { return tables_.root(); }
    u64 root_table_frames() const override { return 1; }
    unsigned table_levels() const override { return levels_; }
    u64 table_frames() const override { return tables_.table_frames(); }
    u32 fault_slots() const override { return caps_.fault_records; }
    bool covers(pci::Address device) const override;
    [[nodiscard]] int block(pci::Address device) override;
    u32 domain_ids() const override { return caps_.domain_ids; }
    [[nodiscard]] int attach(pci::Address device, u64 table_root, unsigned levels, u16 domain_id) override;
    [[nodiscard]] int invalidate(u16 domain_id, u64 io_frame, u64 count) override;
    [[nodiscard]] bool context_of(pci::Address device, u16 &domain_id, u64 &table_root,
                                  unsigned &levels) const override;
    // The root and context tables (handover: every frame the unit reads besides IO tables).
    const vtd::ContextTables &context_tables() const { return tables_; }
    u32 drain_faults(iommu::FaultSink sink) override;
    [[nodiscard]] bool for_each_unit_frame(iommu::FrameVisit visit, void *context) const override;

    const vtd::Capabilities &capabilities() const { return caps_; }

private:
    u32 read32(u32 reg) const;
    u64 read64(u32 reg) const;
    void write32(u32 reg, u32 value);
    void write64(u32 reg, u64 value);
    // Writes `command` to GCMD and waits until GSTS shows `status_bit` as wanted; false
    // on timeout.
    [[nodiscard]] bool global_command(u32 command, u32 status_bit, bool want_set);
    // The GCMD value that keeps what is enabled now and sets `bit` too.
    u32 command_with(u32 bit) const;
    bool wait64(u32 reg, u64 bit, const char *what);
    [[nodiscard]] bool stop_queued_invalidation(char *why, usize why_capacity);
    // Makes the tables just written visible to the unit: cache-line flushes when it does
    // not snoop, the write-buffer flush when it needs one, then global invalidation of
    // the context cache and the IOTLB.
    [[nodiscard]] int commit(u64 changed_table);
    // One IOTLB invalidation request (granularity and domain in `command`), waited for.
    [[nodiscard]] int invalidate_iotlb(u64 command);
    // Makes IO page-table writes visible to a unit that does not snoop the CPU caches.
    void write_back_io_tables();

    const dmar::Info *dmar_ = nullptr;
    const dmar::RemappingUnit *drhd_ = nullptr;
    u8 *registers_ = nullptr;
    vtd::Capabilities caps_;
    vtd::ContextTables tables_;
    unsigned levels_ = 0;
    char name_[8] = {};
};
