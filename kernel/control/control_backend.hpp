// SPDX-License-Identifier: MIT
// What the control channel asks of the hypervisor: the interface the kernel implements.
#pragma once
#include "abi/errno.h"
#include "control/protocol.hpp"
#include "control/reply.hpp"

// A short explanation a backend may give with a refusal ("domain 3 is already paused").
// Without one, the error line says what was asked and the errno's description.
class ControlReason final {
public:
    void set(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    void clear() { text_[0] = '\0'; }
    bool given() const { return text_[0] != '\0'; }
    const char *text() const { return text_; }

private:
    char text_[CONTROL_REASON_MAX + 1] = {};
};

// Lets the backend add data lines to a response (the memory report) and nothing else:
// the status line stays the channel's.
class ReportLines final {
public:
    explicit ReportLines(Reply &reply) : reply_(reply) {}
    void line(const char *fmt, ...) __attribute__((format(printf, 2, 3)));

private:
    Reply &reply_;
};

// One domain as `list` shows it. Strings need not outlive the visit call; characters
// that would split the word (blanks, '=', control bytes) are shown as '_'.
struct DomainInfo {
    u32 id = 0;
    const char *name = "";
    const char *state = ""; // e.g. "running", "paused", "dying"
    u64 ram_bytes = 0;
    u32 vcpus = 0;
    const char *vcpu_states = ""; // e.g. "running,blocked,down", one per vCPU; "": not shown
    const char *vcpu_cpus = ""; // e.g. "2,0,-": the physical CPU each last ran on ("-": down)
};

class DomainVisitor {
public:
    virtual void visit(const DomainInfo &domain) = 0;

protected:
    ~DomainVisitor() = default;
};

// A PCI function on segment 0, as `pci dma-probe BB:DD.F` names it.
struct DeviceAddress {
    u8 bus = 0;
    u8 device = 0; // 0-31
    u8 function = 0; // 0-7
};

// A checked `create` request: module and name are valid words, numbers are in range.
struct CreateRequest {
    const char *module = ""; // the boot module's string
    const char *name = nullptr; // nullptr: the backend chooses (e.g. the module name)
    u64 ram_bytes = 0; // 0: the backend's default; else a nonzero page multiple
    u32 vcpus = 0; // 0: the backend's default; else 1..CONTROL_MAX_VCPUS
    bool start = true; // false: create it paused
    bool assigns_device = false; // assign=BB:DD.F: a PCI device given to it before it runs
    DeviceAddress device;
};

enum class LogDirtyOp : u8 { enable, disable, peek, clean };

// Alternate p2m views (docs/p2m.md, "Alternate views"): one checked `view` request.
enum class ViewOp : u8 { list, create, destroy, switch_to, access, remap, reset };
struct ViewRequest {
    ViewOp op = ViewOp::list;
    u32 index = 0; // the view (create: 0 for the lowest free one)
    u64 gfn = 0; // access, remap, reset: the first guest frame
    u64 count = 0; // frames from gfn
    u64 target_gfn = 0; // remap: the frames shown
    u8 access = 0; // access, remap: P2mAccess bits (r 1, w 2, x 4)
};

struct VersionInfo {
    const char *version = "";
    const char *build_id = "";
};

// The hypervisor side of every command. Methods return 0 (or a domain id) on success,
// a negative abi/errno.h code on failure, and may explain a failure through `reason`
// (it arrives cleared). They run synchronously inside ControlChannel::feed().
class ControlBackend {
public:
    virtual VersionInfo version() = 0;
    // Calls visitor.visit() once per domain, in id order.
    virtual void list_domains(DomainVisitor &visitor) = 0;
    // Returns the new domain's id (0..CONTROL_MAX_DOMAIN_ID) or -errno.
    [[nodiscard]] virtual i64 create_domain(const CreateRequest &request, ControlReason &reason) = 0;
    [[nodiscard]] virtual int pause_domain(u32 id, ControlReason &reason) = 0;
    [[nodiscard]] virtual int unpause_domain(u32 id, ControlReason &reason) = 0;
    [[nodiscard]] virtual int destroy_domain(u32 id, ControlReason &reason) = 0;
    // Writes the memory report as data lines.
    [[nodiscard]] virtual int memory_report(ReportLines &lines, ControlReason &reason) = 0;
    // Log-dirty mode of a domain: enable, disable, or list the dirty frames as data
    // lines (peek leaves the bits, clean clears what it lists).
    [[nodiscard]] virtual int log_dirty(u32 /*id*/, LogDirtyOp /*op*/, ReportLines & /*lines*/, ControlReason &reason)
    {
        reason.set("this image has no log-dirty support");
        return -BATON_ENOSYS;
    }

    // Alternate p2m views of a domain. list writes data lines; create returns the index.
    [[nodiscard]] virtual i64 p2m_view(u32 /*id*/, const ViewRequest & /*request*/, ReportLines & /*lines*/,
                                       ControlReason &reason)
    {
        reason.set("this image has no alternate p2m views");
        return -BATON_ENOSYS;
    }

    // Devices and the IOMMU (docs/iommu.md), as data lines: `pci list` one line per PCI
    // function with its DMA state, `iommu status` the units and the latest faults.
    [[nodiscard]] virtual int pci_list(ReportLines & /*lines*/, ControlReason &reason)
    {
        reason.set("this image has no PCI support");
        return -BATON_ENOSYS;
    }
    [[nodiscard]] virtual int iommu_status(ReportLines & /*lines*/, ControlReason &reason)
    {
        reason.set("this image has no IOMMU support");
        return -BATON_ENOSYS;
    }
    // Diagnostic: the hypervisor makes the (edu) device do one DMA (`write`: device to
    // memory) and reports what happened; the IOMMU logs the fault if it blocked it.
    [[nodiscard]] virtual int pci_dma_probe(const DeviceAddress & /*device*/, bool /*write*/, ReportLines & /*lines*/,
                                            ControlReason &reason)
    {
        reason.set("this image has no DMA probe");
        return -BATON_ENOSYS;
    }

    // Gives `device` to domain `id` (assign) or takes it back and blocks it (deassign).
    [[nodiscard]] virtual int assign_device(u32 /*id*/, const DeviceAddress & /*device*/, bool /*assign*/,
                                            ControlReason &reason)
    {
        reason.set("this image cannot assign devices");
        return -BATON_ENOSYS;
    }

    // Hands the machine to the staged image once this request has been answered.
    [[nodiscard]] virtual int kexec(ControlReason &reason)
    {
        reason.set("this image cannot kexec");
        return -BATON_ENOSYS;
    }

    // Live update (docs/live-update.md): checks the next image (the uploaded one, or the
    // boot module named `module`), pauses every domain, serializes them into the record
    // and checks the invariants. On success it adds progress lines (phase timings of the
    // old image's part) and returns 0: the caller jumps once the answer is out. On any
    // refusal the guests run on exactly as before and `reason` says why.
    [[nodiscard]] virtual int live_update(const char * /*module*/, ReportLines & /*lines*/, ControlReason &reason)
    {
        reason.set("this image cannot live-update");
        return -BATON_ENOSYS;
    }
    // The update that started this image: versions, generation and phase timings as data
    // lines. -BATON_ENOENT after a cold boot.
    [[nodiscard]] virtual int last_update(ReportLines & /*lines*/, ControlReason &reason)
    {
        reason.set("this image has no live-update report");
        return -BATON_ENOSYS;
    }
    // Tests: arms a deliberate fault for the next live update so that its refusal path
    // runs (`fault` is e.g. "bootmem-violation"). -BATON_EINVAL for an unknown fault.
    [[nodiscard]] virtual int inject_update_fault(const char * /*fault*/, ControlReason &reason)
    {
        reason.set("this image has no fault injection");
        return -BATON_ENOSYS;
    }

    // Binary transfers (live update). The channel checks framing, order, lengths and
    // checksums; the backend only stores and supplies bytes. At most one transfer is
    // open at a time; the channel ends it (finish, abort or download_end) before
    // starting another. An image that does not support transfers keeps these.
    //
    // Upload: begin, then write() for consecutive chunks (offset = seq * chunk size),
    // then finish() once every byte arrived and the whole CRC matched; abort() if the
    // client gives up, a chunk write fails, or a new transfer starts first.
    [[nodiscard]] virtual int upload_begin(TransferKind kind, u64 /*size*/, ControlReason &reason)
    {
        return refuse_transfer(kind, reason);
    }
    [[nodiscard]] virtual int upload_write(TransferKind, u64 /*offset*/, const u8 * /*bytes*/, usize /*length*/,
                                           ControlReason &)
    {
        return -BATON_ENOSYS;
    }
    [[nodiscard]] virtual int upload_finish(TransferKind, u64 /*size*/, u32 /*crc*/, ControlReason &)
    {
        return -BATON_ENOSYS;
    }
    virtual void upload_abort(TransferKind) {}
    // Download: begin() gives the size; read() fills any chunk, as often as asked;
    // end() releases what begin() took.
    [[nodiscard]] virtual int download_begin(TransferKind kind, u64 & /*size*/, ControlReason &reason)
    {
        return refuse_transfer(kind, reason);
    }
    [[nodiscard]] virtual int download_read(TransferKind, u64 /*offset*/, u8 * /*bytes*/, usize /*length*/,
                                            ControlReason &)
    {
        return -BATON_ENOSYS;
    }
    virtual void download_end(TransferKind) {}

protected:
    ~ControlBackend() = default;

private:
    [[nodiscard]] static int refuse_transfer(TransferKind kind, ControlReason &reason)
    {
        reason.set("this image does not transfer %s data", transfer_kind_name(kind));
        return -BATON_ENOSYS;
    }
};
