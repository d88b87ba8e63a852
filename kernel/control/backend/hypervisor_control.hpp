// SPDX-License-Identifier: MIT
// The control channel's backend: domain operations and reports for the host's batonctl.
#pragma once
#include "control/control_backend.hpp"
#include "handover/image_check.hpp"
#include "update/live_update.hpp"

class HypervisorControl final : public ControlBackend {
public:
    VersionInfo version() override;
    void list_domains(DomainVisitor &visitor) override;
    [[nodiscard]] i64 create_domain(const CreateRequest &request, ControlReason &reason) override;
    [[nodiscard]] int pause_domain(u32 id, ControlReason &reason) override;
    [[nodiscard]] int unpause_domain(u32 id, ControlReason &reason) override;
    [[nodiscard]] int destroy_domain(u32 id, ControlReason &reason) override;
    [[nodiscard]] int memory_report(ReportLines &lines, ControlReason &reason) override;
    [[nodiscard]] int log_dirty(u32 id, LogDirtyOp op, ReportLines &lines, ControlReason &reason) override;
    // Devices and the IOMMU: kernel/arch/x86_64/device_control.cpp.
    [[nodiscard]] int pci_list(ReportLines &lines, ControlReason &reason) override;
    [[nodiscard]] int iommu_status(ReportLines &lines, ControlReason &reason) override;
    [[nodiscard]] int pci_dma_probe(const DeviceAddress &device, bool write, ReportLines &lines,
                                    ControlReason &reason) override;
    [[nodiscard]] int assign_device(u32 id, const DeviceAddress &device, bool assign, ControlReason &reason) override;
    [[nodiscard]] i64 p2m_view(u32 id, const ViewRequest &request, ReportLines &lines, ControlReason &reason) override;

    // The next image arrives by upload (kind image), is checked when complete, and waits
    // in ephemeral memory until `kexec` (or a new upload) replaces it.
    [[nodiscard]] int upload_begin(TransferKind kind, u64 size, ControlReason &reason) override;
    [[nodiscard]] int upload_write(TransferKind kind, u64 offset, const u8 *bytes, usize length,
                                   ControlReason &reason) override;
    [[nodiscard]] int upload_finish(TransferKind kind, u64 size, u32 crc, ControlReason &reason) override;
    void upload_abort(TransferKind kind) override;
    [[nodiscard]] int kexec(ControlReason &reason) override;
    [[nodiscard]] int live_update(const char *module, ReportLines &lines, ControlReason &reason) override;
    [[nodiscard]] int last_update(ReportLines &lines, ControlReason &reason) override;
    [[nodiscard]] int inject_update_fault(const char *fault, ControlReason &reason) override;
    // Downloads: `record` is the record this image was started from, `snapshot` one
    // written on request.
    [[nodiscard]] int download_begin(TransferKind kind, u64 &size, ControlReason &reason) override;
    [[nodiscard]] int download_read(TransferKind kind, u64 offset, u8 *bytes, usize length,
                                    ControlReason &reason) override;
    void download_end(TransferKind kind) override;

    // True once `kexec` was accepted: the caller jumps after the answer went out.
    bool kexec_armed() const { return kexec_armed_; }

private:
    void drop_staged();
    void drop_snapshot();

    u64 staged_phys_ = 0;
    unsigned staged_order_ = 0;
    u64 staged_size_ = 0;
    bool staged_checked_ = false;
    ImageInfo staged_info_;
    bool kexec_armed_ = false;
    UpdateFault update_fault_ = UpdateFault::none; // armed for the next live update only
    InjectedFault next_image_fault_ = InjectedFault::none; // likewise, for the next image to inject
    u64 snapshot_phys_ = 0;
    unsigned snapshot_order_ = 0;
    u64 snapshot_size_ = 0;
    u64 download_phys_ = 0; // what the open download reads
    u64 download_size_ = 0;
};
