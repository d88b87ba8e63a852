// SPDX-License-Identifier: MIT
// The control channel's backend: domain operations and reports for the host's batonctl.
#include "control/backend/hypervisor_control.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/kexec/kexec.hpp"
#include "boot/boot_state.hpp"
#include "boot/version.hpp"
#include "control/words.hpp"
#include "dom/domain.hpp"
#include "dom/guest_modules.hpp"
#include "handover_layout.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/memory_report.hpp"
#include "trusted_keys.hpp"
#include "update/live_update.hpp"

namespace {

int explain(int error, u32 id, ControlReason &reason)
{
    if (error == -BATON_ENOENT)
        reason.set("no domain %u", id);
    else if (error == -BATON_EBUSY) {
        Domain *domain = domain_find(id);
        reason.set("domain %u is %s", id, domain ? domain_state_name(domain->state) : "gone");
    }
    return error;
}

// A jump into the image at [phys, phys + size) as this image was booted: the same memory
// map, modules and options, the bootmem region fixed where it is, no record (yet).
KexecRequest next_image(u64 phys, u64 size, const ImageInfo &info)
{
    KexecRequest request;
    request.image_phys = phys;
    request.image_size = size;
    request.info = &info;
    request.boot_info = &boot_information();
    request.options = boot_options();
    request.options.lu_record_given = false;
    request.bootmem = frame_allocator().bootmem_region();
    return request;
}

// The keys this build trusts (build/gen/trusted_keys.hpp, from the Makefile's signing key
// and TRUSTED_KEYS) and the boot's lu_require_signature.
ImagePolicy image_policy() { return ImagePolicy{TRUSTED_KEYS, TRUSTED_KEY_COUNT, boot_options().lu_require_signature}; }

// An image accepted without a trusted signature (lu_require_signature=no) is said so
// loudly, with what was wrong: `why` holds the refusal the policy waived.
void warn_if_not_trusted(const char *what, const ImageInfo &info, const char *why)
{
    if (info.signature_state != SignatureState::trusted)
        log_warn("%s: ACCEPTED although its signature state is '%s' (lu_require_signature=no): %s", what,
                 signature_state_name(info.signature_state), why);
}

} // namespace

VersionInfo HypervisorControl::version() { return VersionInfo{baton_version, baton_build_id}; }

void HypervisorControl::list_domains(DomainVisitor &visitor)
{
    for_each_domain([&](Domain &domain) {
        // "running,blocked,down" and "2,0,-": each vCPU's state and last CPU in id order.
        char states[MAX_VCPUS * 8 + 16] = {}, cpus[MAX_VCPUS * 4 + 16] = {};
        usize length = 0, cpus_length = 0;
        for (u16 i = 0; i < domain.vcpu_count; i++) {
            const Vcpu &vcpu = domain.vcpus[i];
            const char *comma = i == 0 ? "" : ",";
            length += format(states + length, sizeof(states) - length, "%s%s", comma, vcpu_state_name(vcpu));
            cpus_length += !vcpu.up
                               ? format(cpus + cpus_length, sizeof(cpus) - cpus_length, "%s-", comma)
                               : format(cpus + cpus_length, sizeof(cpus) - cpus_length, "%s%u", comma, vcpu.last_cpu);
        }
        visitor.visit(DomainInfo{domain.id, domain.name, domain_state_name(domain.state), domain.ram_bytes,
                                 domain.vcpu_count, states, cpus});
    });
}

i64 HypervisorControl::create_domain(const CreateRequest &request, ControlReason &reason)
{
    const GuestModule *module = find_guest_module(request.module);
    if (module == nullptr) {
        reason.set("no guest module named '%s' was loaded at boot", request.module);
        return -BATON_ENOENT;
    }
    if (request.vcpus > MAX_VCPUS) {
        reason.set("vcpus=%u: a domain has 1 to %u vCPUs", request.vcpus, MAX_VCPUS);
        return -BATON_EINVAL;
    }
    char why[DOMAIN_MESSAGE_SIZE];
    const pci::Address device{request.device.bus, request.device.device, request.device.function};
    int id = create_domain_from_module(*module, request.name, request.ram_bytes, why, sizeof(why),
                                       request.assigns_device ? &device : nullptr, static_cast<u16>(request.vcpus));
    if (id < 0) {
        reason.set("%s", why);
        return id;
    }
    // A domain just created runs (the scheduler has not picked it yet): pausing it cannot
    // find it paused or gone, so an error here is a bug, not a refusal to report.
    if (!request.start) {
        if (int error = domain_pause(static_cast<u16>(id)))
            panic("control: pausing the new domain %d failed (%d)", id, error);
    }
    return id;
}

int HypervisorControl::pause_domain(u32 id, ControlReason &reason)
{
    return explain(domain_pause(static_cast<u16>(id)), id, reason);
}

int HypervisorControl::unpause_domain(u32 id, ControlReason &reason)
{
    return explain(domain_unpause(static_cast<u16>(id)), id, reason);
}

int HypervisorControl::destroy_domain(u32 id, ControlReason &reason)
{
    return explain(domain_destroy(static_cast<u16>(id)), id, reason);
}

int HypervisorControl::memory_report(ReportLines &lines, ControlReason &)
{
    write_memory_report(
        ::memory_report(frame_allocator()),
        [](void *context, const char *line) { static_cast<ReportLines *>(context)->line("%s", line); }, &lines);
    return 0;
}

int HypervisorControl::log_dirty(u32 id, LogDirtyOp op, ReportLines &lines, ControlReason &reason)
{
    Domain *domain = domain_find(id);
    if (domain == nullptr)
        return explain(-BATON_ENOENT, id, reason);
    P2m &p2m = domain->p2m;
    switch (op) {
    case LogDirtyOp::enable:
        if (p2m.log_dirty_enabled())
            return reason.set("domain %u already has log-dirty mode on", id), -BATON_EBUSY;
        return p2m.enable_log_dirty();
    case LogDirtyOp::disable:
        if (!p2m.log_dirty_enabled())
            return reason.set("domain %u has log-dirty mode off", id), -BATON_EINVAL;
        return p2m.disable_log_dirty();
    case LogDirtyOp::peek:
    case LogDirtyOp::clean: break;
    }
    if (!p2m.log_dirty_enabled())
        return reason.set("domain %u has log-dirty mode off", id), -BATON_EINVAL;

    // The bitmap is read in bounded pieces into a bounce buffer that comes back with none
    // of the p2m's locks held, so the report is written outside them; dirty frames are
    // listed as ranges.
    constexpr u64 FRAMES = DIRTY_READ_MAX_FRAMES;
    constexpr usize MAX_RANGES_SHOWN = 32;
    static DirtyBits bits;
    u64 frames = domain->ram_bytes >> PAGE_SHIFT, dirty = 0, range_start = 0, shown = 0, hidden = 0;
    bool in_range = false;
    auto close_range = [&](u64 end) {
        if (shown < MAX_RANGES_SHOWN)
            lines.line("range 0x%lx-0x%lx", range_start, end), shown++;
        else
            hidden++;
        in_range = false;
    };
    for (u64 first = 0; first < frames; first += FRAMES) {
        u64 count = frames - first < FRAMES ? frames - first : FRAMES;
        i64 found = p2m.read_dirty(first, count, bits, op == LogDirtyOp::clean);
        if (found < 0)
            return static_cast<int>(found);
        dirty += static_cast<u64>(found);
        for (u64 i = 0; i < count; i++) {
            bool bit = bits.dirty(first + i);
            if (bit && !in_range)
                range_start = first + i, in_range = true;
            else if (!bit && in_range)
                close_range(first + i);
        }
    }
    if (in_range)
        close_range(frames);
    if (hidden != 0)
        lines.line("ranges-not-shown %lu", hidden);
    lines.line("dirty frames=%lu of=%lu", dirty, frames);
    return 0;
}

namespace {

void list_views(const Domain &domain, ReportLines &lines)
{
    const P2m &p2m = domain.p2m;
    for (u16 index = 1; index <= P2M_MAX_VIEWS; index++) {
        if (!p2m.views().exists(index))
            continue;
        // The entries are gathered under the p2m's locks and printed outside them.
        constexpr usize MAX_SHOWN = 64;
        P2mViewEntry shown[MAX_SHOWN];
        usize entries = 0;
        p2m.views().for_each_entry(index, [&](const P2mViewEntry &entry) {
            if (entries < MAX_SHOWN)
                shown[entries] = entry;
            entries++;
        });
        lines.line("view index=%u users=%u entries=%zu", index, p2m.views().users(index), entries);
        for (usize i = 0; i < entries && i < MAX_SHOWN; i++)
            lines.line("entry view=%u gfn=0x%lx count=%lu target=0x%lx rights=%s", index, shown[i].gfn, shown[i].count,
                       shown[i].target_gfn, p2m_access_name(shown[i].access));
        if (entries > MAX_SHOWN)
            lines.line("entries-not-shown view=%u %zu", index, entries - MAX_SHOWN);
    }
    for (u16 i = 0; i < domain.vcpu_count; i++)
        lines.line("vcpu %u view=%u", i, domain.vcpus[i].view);
}

} // namespace

i64 HypervisorControl::p2m_view(u32 id, const ViewRequest &request, ReportLines &lines, ControlReason &reason)
{
    Domain *domain = domain_find(id);
    if (domain == nullptr)
        return explain(-BATON_ENOENT, id, reason);
    P2m &p2m = domain->p2m;
    // 0 means no view for list, the lowest free one for create and the host p2m for switch.
    const bool zero_allowed =
        request.op == ViewOp::list || request.op == ViewOp::create || request.op == ViewOp::switch_to;
    if (request.index > P2M_MAX_VIEWS || (request.index == P2M_HOST_VIEW && !zero_allowed))
        return reason.set("views are numbered 1 to %u (0 is the host p2m)", P2M_MAX_VIEWS), -BATON_EINVAL;
    const u16 index = static_cast<u16>(request.index);
    const P2mAccess access = static_cast<P2mAccess>(request.access);
    if ((request.op == ViewOp::access || request.op == ViewOp::remap) && !p2m_access_valid(access))
        return reason.set("rights '%s' cannot be expressed: x86 nested paging has n, r, rw, rx and rwx",
                          p2m_access_name(access)),
               -BATON_EINVAL;
    int error = 0;
    switch (request.op) {
    case ViewOp::list: list_views(*domain, lines); return 0;
    case ViewOp::create:
        error = p2m.views().create(index);
        if (error == -BATON_ENOSPC)
            reason.set("domain %u already has all %u views", id, P2M_MAX_VIEWS);
        else if (error == -BATON_EEXIST)
            reason.set("domain %u already has view %u", id, index);
        return error;
    case ViewOp::destroy:
        error = p2m.views().destroy(index);
        if (error == -BATON_EBUSY)
            reason.set("view %u of domain %u is in use: switch its vCPU to another view first", index, id);
        break;
    case ViewOp::switch_to: error = domain_switch_view(*domain, index); break;
    case ViewOp::access: error = p2m.views().set_access(index, request.gfn, request.count, access); break;
    case ViewOp::remap:
        error = p2m.views().remap(index, request.gfn, request.target_gfn, request.count, access);
        if (error == -BATON_EPERM)
            reason.set("frames 0x%lx+%lu are not all RAM domain %u populated", request.target_gfn, request.count, id);
        break;
    case ViewOp::reset: error = p2m.views().reset(index, request.gfn, request.count); break;
    }
    if (error == -BATON_ENOENT && !reason.given())
        reason.set("domain %u has no view %u", id, request.index);
    return error;
}

void HypervisorControl::drop_staged()
{
    if (staged_phys_ != 0)
        frame_allocator().free_frames(staged_phys_, staged_order_);
    staged_phys_ = 0;
    staged_size_ = 0;
    staged_checked_ = false;
}

int HypervisorControl::upload_begin(TransferKind kind, u64 size, ControlReason &reason)
{
    if (kind != TransferKind::image)
        return reason.set("only images can be uploaded"), -BATON_EINVAL;
    drop_staged();
    if (size == 0 || size > IMAGE_MAX_SIZE)
        return reason.set("an image must be 1 byte to %lu MiB", IMAGE_MAX_SIZE / MiB), -BATON_E2BIG;
    const unsigned order = order_covering(align_up(size, PAGE_SIZE) >> PAGE_SHIFT);
    // Preserved: a live update hands the file on, and the next image keeps it as its own
    // copy for its rollbacks (update/self_image.hpp). Below 4 GiB: the kexec trampoline
    // copies it with paging off.
    u64 phys = frame_allocator().alloc_frames(order, MemClass::preserved, OWNER_HYPERVISOR, FrameType::hypervisor_image,
                                              4 * GiB);
    if (phys == 0)
        return reason.set("no %lu KiB block free below 4 GiB to stage the image", (PAGE_SIZE << order) / KiB),
               -BATON_ENOMEM;
    staged_phys_ = phys;
    staged_order_ = order;
    staged_size_ = size;
    return 0;
}

int HypervisorControl::upload_write(TransferKind, u64 offset, const u8 *bytes, usize length, ControlReason &reason)
{
    u64 end;
    if (staged_phys_ == 0 || add_overflows(offset, length, &end) || end > staged_size_)
        return reason.set("chunk outside the announced size"), -BATON_EINVAL;
    __builtin_memcpy(phys_to<u8>(staged_phys_ + offset), bytes, length);
    return 0;
}

int HypervisorControl::upload_finish(TransferKind, u64 size, u32, ControlReason &reason)
{
    char why[IMAGE_CHECK_MESSAGE_SIZE];
    int error = check_next_image(phys_to<u8>(staged_phys_), size, handover::schema::HANDOVER_ABI_VERSION,
                                 image_policy(), staged_info_, why, sizeof(why));
    if (error != 0) {
        log_warn("upload: image refused: %s", why);
        drop_staged();
        return reason.set("%s", why), error;
    }
    warn_if_not_trusted("upload: image", staged_info_, why);
    staged_checked_ = true;
    log_info("upload: staged image %s (build %s), %lu bytes", staged_info_.note.version, staged_info_.note.build_id,
             size);
    return 0;
}

void HypervisorControl::upload_abort(TransferKind) { drop_staged(); }

int HypervisorControl::kexec(ControlReason &reason)
{
    if (!staged_checked_)
        return reason.set("no image is staged; upload one first"), -BATON_ENOENT;
    if (usize count = domain_count())
        return reason.set("%zu domains exist; kexec does not carry guests over (live update will)", count),
               -BATON_EBUSY;
    char why[160];
    const KexecRequest request = next_image(staged_phys_, staged_size_, staged_info_);
    if (int error = kexec_load(request, why, sizeof(why)))
        return reason.set("%s", why), error;
    if (int error = kexec_prepare(request, why, sizeof(why))) // frees the slot on refusal
        return reason.set("%s", why), error;
    kexec_armed_ = true;
    return 0;
}

namespace {

// The boot module whose string starts with the word `name`, or nullptr.
const BootModule *find_module(const char *name)
{
    const BootInfo &boot = boot_information();
    for (usize m = 0; m < boot.module_count; m++) {
        const char *string = boot.modules[m].string;
        usize i = 0;
        while (name[i] != '\0' && string[i] == name[i])
            i++;
        if (name[i] == '\0' && (string[i] == '\0' || string[i] == ' '))
            return &boot.modules[m];
    }
    return nullptr;
}

void report_spans(ReportLines &lines, const UpdateTimeline &phases, u64 tsc_khz)
{
    for (const UpdateSpan &span : UPDATE_SPANS) {
        u64 micros = phases.micros(span.from, span.to, tsc_khz);
        if (micros != ~u64{0})
            lines.line("phase %s us=%lu", span.name, micros);
    }
}

} // namespace

int HypervisorControl::live_update(const char *module, ReportLines &lines, ControlReason &reason)
{
    UpdateTimeline phases;
    phases.stamp(UpdatePhase::requested, cpu::rdtsc());
    ImageInfo module_info;
    KexecRequest next;
    ImageCopy next_copy;
    if (module != nullptr) {
        const BootModule *image = find_module(module);
        if (image == nullptr)
            return reason.set("no boot module named '%s'", module), -BATON_ENOENT;
        char why[IMAGE_CHECK_MESSAGE_SIZE];
        int error =
            check_next_image(phys_to<u8>(image->range.start), image->range.size(),
                             handover::schema::HANDOVER_ABI_VERSION, image_policy(), module_info, why, sizeof(why));
        if (error != 0)
            return log_warn("update: module '%s' refused: %s", module, why), reason.set("%s", why), error;
        warn_if_not_trusted("update: module", module_info, why);
        next = next_image(image->range.start, image->range.size(), module_info);
        next_copy = ImageCopy{image->range.start, image->range.size(), module_info.note.build_id, false};
    } else {
        if (!staged_checked_)
            return reason.set("no image is staged; upload one or name a boot module"), -BATON_ENOENT;
        next = next_image(staged_phys_, staged_size_, staged_info_);
        next_copy = ImageCopy{staged_phys_, staged_size_, staged_info_.note.build_id, true};
    }
    phases.stamp(UpdatePhase::image_verified, cpu::rdtsc());
    const UpdateFault fault = update_fault_;
    const InjectedFault next_fault = next_image_fault_;
    update_fault_ = UpdateFault::none; // one shot
    next_image_fault_ = InjectedFault::none;

    LiveUpdateResult result;
    char failure[192];
    if (int error = live_update_prepare(next, next_copy, fault, next_fault, phases, result, failure, sizeof(failure)))
        return reason.set("%s", failure), error;
    lines.line("next %s build=%s", next.info->note.version, next.info->note.build_id);
    lines.line("record bytes=%lu at=0x%lx domains=%zu", result.record_bytes, result.record_phys, result.domains);
    lines.line("quiesce us=%lu cpus=%u", result.quiesce_ns / 1000, result.cpus);
    report_spans(lines, phases, timer::tsc_khz());
    kexec_armed_ = true;
    return 0;
}

int HypervisorControl::last_update(ReportLines &lines, ControlReason &reason)
{
    const UpdateHistory &history = update_history();
    if (!history.happened)
        return reason.set("this image was not started by a live update"), -BATON_ENOENT;
    lines.line("outcome %s", history.rolled_back ? "rolled-back" : "committed");
    if (history.has_last_rollback) {
        const RollbackReport &last = history.last_rollback;
        lines.line("%s build=%s version=%s phase=%s", history.rolled_back ? "failed" : "previous-failure",
                   last.failed_build_id, last.failed_version, update_phase_name(last.reached_phase));
        lines.line("reason %s", last.reason);
    }
    lines.line("rollbacks %lu", history.rollback_count);
    lines.line("from %s build=%s", history.from_version, history.from_build_id);
    lines.line("to %s build=%s", baton_version, baton_build_id);
    lines.line("generation %lu", history.update_count);
    lines.line("domains restored=%zu of=%zu", history.domains_restored, history.domains_in_record);
    lines.line("record bytes=%lu", history.record_bytes);
    report_spans(lines, history.phases, history.tsc_khz);
    return 0;
}

int HypervisorControl::inject_update_fault(const char *fault, ControlReason &reason)
{
    if (word_is(fault, "bootmem-violation")) {
        update_fault_ = UpdateFault::bootmem_violation;
        log_warn("update: the next live update will plant a preserved frame in the bootmem region (test fault)");
        return 0;
    }
    if (word_is(fault, "slow-cpu")) {
        update_fault_ = UpdateFault::slow_cpu;
        log_warn("update: in the next live update an application processor will keep its vCPU too long (test fault)");
        return 0;
    }
    InjectedFault injected = InjectedFault::none;
    if (!injected_fault_from_name(fault, __builtin_strlen(fault), injected) || injected == InjectedFault::none)
        return reason.set("unknown fault '%s' (known: bootmem-violation, slow-cpu, panic-early, exception-restore, "
                          "refuse-record, fail-domain, hang-cli, hang-sti)",
                          fault),
               -BATON_EINVAL;
    next_image_fault_ = injected;
    log_warn("update: the next image will inject %s and must roll back (test fault)", injected_fault_name(injected));
    return 0;
}

void HypervisorControl::drop_snapshot()
{
    if (snapshot_phys_ != 0)
        frame_allocator().free_frames(snapshot_phys_, snapshot_order_);
    snapshot_phys_ = 0;
    snapshot_size_ = 0;
}

int HypervisorControl::download_begin(TransferKind kind, u64 &size, ControlReason &reason)
{
    if (kind == TransferKind::record) {
        const UpdateHistory &history = update_history();
        if (!history.happened || history.record_copy_phys == 0)
            return reason.set("this image was not started from a record"), -BATON_ENOENT;
        download_phys_ = history.record_copy_phys;
        download_size_ = history.record_bytes;
    } else if (kind == TransferKind::snapshot) {
        drop_snapshot();
        char why[160];
        snapshot_phys_ = write_snapshot(snapshot_size_, snapshot_order_, why, sizeof(why));
        if (snapshot_phys_ == 0)
            return reason.set("%s", why), -BATON_ENOMEM;
        download_phys_ = snapshot_phys_;
        download_size_ = snapshot_size_;
    } else {
        return reason.set("images are uploaded, not downloaded"), -BATON_EINVAL;
    }
    size = download_size_;
    return 0;
}

int HypervisorControl::download_read(TransferKind, u64 offset, u8 *bytes, usize length, ControlReason &reason)
{
    u64 end;
    if (download_phys_ == 0 || add_overflows(offset, length, &end) || end > download_size_)
        return reason.set("chunk outside the download"), -BATON_EINVAL;
    __builtin_memcpy(bytes, phys_to<u8>(download_phys_ + offset), length);
    return 0;
}

void HypervisorControl::download_end(TransferKind kind)
{
    if (kind == TransferKind::snapshot)
        drop_snapshot();
    download_phys_ = 0;
    download_size_ = 0;
}
