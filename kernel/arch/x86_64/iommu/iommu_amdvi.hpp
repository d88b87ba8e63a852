// SPDX-License-Identifier: MIT
// AMD-Vi IOMMU unit: device table, command buffer, event log, enabling and adoption.
#pragma once
#include "arch/x86_64/iommu/amdvi_format.hpp"
#include "arch/x86_64/iommu/iommu.hpp"
#include "arch/x86_64/iommu/iommu_adopt.hpp"
#include "arch/x86_64/iommu/ivrs.hpp"

// One IVHD unit. Its device table (bus 0's 256 entries), command buffer and event log are
// preserved page_table frames of the hypervisor, like VT-d's root and context tables, so
// a live update leaves them in place while devices keep doing DMA (docs/iommu.md).
// Invalidation goes through the command buffer, each batch ending with COMPLETION_WAIT
// storing to memory, polled with a time limit; faults are read from the event log.
class AmdViUnit final : public iommu::Unit {
public:
    constexpr AmdViUnit() = default;
    AmdViUnit(const AmdViUnit &) = delete;
    AmdViUnit &operator=(const AmdViUnit &) = delete;

    // Takes over `ivhd` (must outlive the unit): builds a device table with every entry
    // blocked, the command buffer and event log, and turns the unit on with both rings;
    // a unit left on is switched to the new tables without being turned off. With
    // `adopted` (a live update handed it over) and the unit still on with that device
    // table and those rings, everything is taken over as it is: no register is written,
    // so assigned devices' DMA goes on undisturbed. 0, or -errno with a reason in `why`.
    [[nodiscard]] int init(const ivrs::Unit &ivhd, unsigned index, const iommu::AdoptedUnit *adopted, char *why,
                           usize why_capacity);

    iommu::Kind kind() const override { return iommu::Kind::amd_vi; }
    const char *name() const override { return name_; }
    u16 segment() const override { return ivhd_->segment; }
    u64 register_base() const override { return ivhd_->register_base; }
    bool translating() const override;
    u64 root_table() const override { return table_.phys(); }
    u64 root_table_frames() const override { return amdvi::DEVICE_TABLE_PAGES; }
    unsigned table_levels() const override { return LEVELS; }
    u64 table_frames() const override { return amdvi::DEVICE_TABLE_PAGES + 2; }
    u32 fault_slots() const override { return amdvi::RING_ENTRIES; }
    bool covers(pci::Address device) const override;
    [[nodiscard]] int block(pci::Address device) override;
    u32 domain_ids() const override { return 1u << 16; }
    [[nodiscard]] int attach(pci::Address device, u64 table_root, unsigned levels, u16 domain_id) override;
    [[nodiscard]] int invalidate(u16 domain_id, u64 io_frame, u64 count) override;
    [[nodiscard]] bool context_of(pci::Address device, u16 &domain_id, u64 &table_root,
                                  unsigned &levels) const override;
    u32 drain_faults(iommu::FaultSink sink) override;
    [[nodiscard]] bool for_each_unit_frame(iommu::FrameVisit visit, void *context) const override;

private:
    // 4-level tables (48-bit IO addresses): what every AMD-Vi unit supports (HATS >= 4).
    static constexpr unsigned LEVELS = 4;

    u64 read64(u32 reg) const;
    void write64(u32 reg, u64 value);
    // Appends one command to the ring (waiting while it is full) and moves the tail.
    [[nodiscard]] int submit(const amdvi::Command &command);
    // COMPLETION_WAIT: returns once the unit has finished every command before it.
    [[nodiscard]] int wait_for_commands();
    // After `device`'s entry changed from `old_entry`: INVALIDATE_DEVTAB_ENTRY, then
    // INVALIDATE_IOMMU_PAGES for the old entry's domain and `new_domain` (0: none), and the
    // wait. QEMU 7.2 drops nothing on the first: its IOTLB is flushed by domain only.
    [[nodiscard]] int commit_entry(u16 device, const amdvi::DeviceEntry &old_entry, u16 new_domain);
    // Every cached device entry and translation, after new tables (cold boot).
    [[nodiscard]] int invalidate_everything();
    // Points the unit at this image's tables and rings and enables it with both rings.
    [[nodiscard]] int start(char *why, usize why_capacity);
    // The event log overflowed: restart it empty (the spec's recovery).
    void restart_event_log();

    const ivrs::Unit *ivhd_ = nullptr;
    u8 *registers_ = nullptr;
    u64 features_ = 0;
    amdvi::DeviceTable table_;
    u64 command_buffer_ = 0;
    u64 event_log_ = 0;
    u64 command_tail_ = 0; // byte offset of the next command
    u64 sequence_ = 0; // the last COMPLETION_WAIT's data
    alignas(8) volatile u64 completion_ = 0; // COMPLETION_WAIT stores here
    char name_[8] = {};
};
