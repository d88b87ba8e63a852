// The control channel's backend: domain operations and reports for the host's batonctl.
#pragma once
#include "control/control_backend.hpp"

class HypervisorControl final : public ControlBackend {
public:
    VersionInfo version() override;
    void list_domains(DomainVisitor &visitor) override;
    i64 create_domain(const CreateRequest &request, ControlReason &reason) override;
    int pause_domain(u32 id, ControlReason &reason) override;
    int unpause_domain(u32 id, ControlReason &reason) override;
    int destroy_domain(u32 id, ControlReason &reason) override;
    int memory_report(ReportLines &lines, ControlReason &reason) override;
    int log_dirty(u32 id, LogDirtyOp op, ReportLines &lines, ControlReason &reason) override;
};
