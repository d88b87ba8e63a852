// SPDX-License-Identifier: MIT
// Live update in the running image: quiesce, serialize, check, hand over; and the
// resumption in the next image.
#include "update/live_update.hpp"
#include "abi/errno.h"
#include "arch/arch.hpp"
#include "boot/boot_state.hpp"
#include "boot/version.hpp"
#include "control/transfer_codec.hpp"
#include "dom/domain.hpp"
#include "dom/hv_lock.hpp"
#include "dom/scheduler.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/invariants.hpp"
#include "update/iommu_record.hpp"
#include "update/preserved_scan.hpp"
#include "update/record_enums.hpp"
#include "update/restore.hpp"
#include "update/self_image.hpp"
#include "update/serialize.hpp"

namespace {

UpdateHistory history;

unsigned order_for(u64 bytes) { return order_covering(align_up(bytes, PAGE_SIZE) >> PAGE_SHIFT); }

OutgoingRecord outgoing_record(UpdateTimeline &phases)
{
    OutgoingRecord outgoing;
    outgoing.build_id = baton_build_id;
    outgoing.version = baton_version;
    outgoing.tsc_khz = timer::tsc_khz();
    outgoing.lapic_timer_khz = timer::lapic_khz();
    outgoing.time_origin_tsc = timer::origin_tsc();
    outgoing.update_count = history.update_count + 1;
    outgoing.last_update = history.arrival.empty() ? nullptr : &history.arrival;
    outgoing.phases = &phases;
    outgoing.read_tsc = cpu::rdtsc;
    outgoing.rollback_count = history.rollback_count;
    outgoing.last_rollback = history.has_last_rollback ? &history.last_rollback : nullptr;
    return outgoing;
}

// The way back: this image entered again from its own copy, with the same record, told
// that it comes back (lu_rolled_back) and with nothing of the failed attempt.
KexecRequest way_back(const KexecRequest &next, u64 kit)
{
    KexecRequest self = next;
    self.image_phys = self_image().copy.address;
    self.image_size = self_image().copy.bytes;
    self.info = &self_image().info;
    self.options = boot_options();
    self.options.lu_record_given = true;
    self.options.lu_record_address = next.options.lu_record_address;
    self.options.lu_record_size = next.options.lu_record_size;
    self.options.lu_record_crc = next.options.lu_record_crc;
    self.options.lu_rollback_kit = 0;
    self.options.lu_rolled_back_kit = kit;
    self.options.lu_fault = InjectedFault::none;
    self.rollback_kit = 0;
    return self;
}

// How long the other CPUs have to leave their vCPUs: one exit and its handling each.
constexpr u64 QUIESCE_TIMEOUT_NS = 500 * NS_PER_MS;

// Stops every vCPU on every CPU at an exit boundary, then keeps interrupts out. The CPU
// serving the control channel runs no vCPU meanwhile; the others finish the exit they are
// in (their state is then in their VMCB and register images, their FPU image saved) and
// halt, finding nothing runnable. One that does not leave its vCPU in time fails the
// request, and everything resumes (resume()). Lazy p2m type changes need no resolving:
// they are lazy only in the nested page tables, a cache the next image rebuilds, while
// the ranges the record states are always current (docs/p2m.md).
int quiesce(char *why, usize why_capacity)
{
    scheduler_stop_all();
    u32 late_cpu = NO_CPU;
    if (!scheduler_wait_unclaimed(nullptr, QUIESCE_TIMEOUT_NS, late_cpu)) {
        scheduler_resume_all();
        return format_refusal(why, why_capacity, BATON_ETIMEDOUT,
                              "CPU %u did not leave its vCPU within %lu ms; every vCPU runs on", late_cpu,
                              QUIESCE_TIMEOUT_NS / NS_PER_MS);
    }
    cpu::disable_interrupts();
    return 0;
}

// The slow-cpu test fault: an application processor that leaves guest mode from now on
// keeps its vCPU three quiesce bounds long. Waits (1 s at most) until one has, so the
// quiesce that follows meets it.
void hold_up_a_cpu()
{
    scheduler_inject_exit_delay(3 * QUIESCE_TIMEOUT_NS);
    HvLockDropped dropped;
    for (const u64 start = time_now_ns(); scheduler_exit_delay_pending() && time_now_ns() - start < NS_PER_S;)
        cpu::pause();
}

// The end of a refused update or of a snapshot: interrupts and every vCPU run again.
void resume()
{
    cpu::enable_interrupts();
    scheduler_resume_all();
}

// The fault injection for tests: a frame of the bootmem zone turned into preserved guest
// RAM, as a bug that allocated guest memory there would leave it.
u64 plant_bootmem_violation()
{
    FrameAllocator &frames = frame_allocator();
    u64 phys = frames.alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    if (phys == 0 || !frames.in_bootmem_region(phys)) {
        if (phys != 0)
            frames.free_frames(phys, 0);
        return 0;
    }
    FrameEntry &entry = frames.table()[addr_to_frame(phys)];
    entry.flags |= FRAME_PRESERVED;
    entry.type = FrameType::guest_ram;
    return phys;
}

void remove_bootmem_violation(u64 phys)
{
    if (phys == 0)
        return;
    FrameEntry &entry = frame_allocator().table()[addr_to_frame(phys)];
    entry.flags = static_cast<u8>(entry.flags & ~FRAME_PRESERVED);
    entry.type = FrameType::heap;
    frame_allocator().free_frames(phys, 0);
}

} // namespace

const UpdateHistory &update_history() { return history; }

int live_update_prepare(KexecRequest next, const ImageCopy &next_copy, UpdateFault fault, InjectedFault next_fault,
                        UpdateTimeline &phases, LiveUpdateResult &result, char *why, usize why_capacity)
{
    FrameAllocator &frames = frame_allocator();
    if (self_image().copy.bytes == 0)
        return format_refusal(why, why_capacity, BATON_ENOENT,
                              "this image has no copy of itself to go back to if the update fails (see the boot log); "
                              "boot it with its ELF as a module named baton-self");
    constexpr unsigned KIT_ORDER = ROLLBACK_KIT_ORDER;
    // Below 4 GiB: the way back runs through it with paging off.
    u64 kit = frames.alloc_frames(KIT_ORDER, MemClass::preserved, OWNER_HYPERVISOR, FrameType::rollback_kit, 4 * GiB);
    if (kit == 0)
        return format_refusal(why, why_capacity, BATON_ENOMEM, "no preserved memory below 4 GiB for the rollback kit");
    // The next image goes where it will run while the guests still run: the jump then
    // copies nothing in the blackout.
    if (int error = kexec_load(next, why, why_capacity)) {
        frames.free_frames(kit, KIT_ORDER);
        return error;
    }
    if (fault == UpdateFault::slow_cpu)
        hold_up_a_cpu();
    const u64 quiesce_start = time_now_ns();
    if (int error = quiesce(why, why_capacity)) {
        frames.free_frames(kit, KIT_ORDER);
        kexec_unload();
        log_warn("update: aborted, guests continue: %s", why);
        return error;
    }
    phases.stamp(UpdatePhase::paused, cpu::rdtsc());
    result.quiesce_ns = time_now_ns() - quiesce_start;
    result.cpus = scheduler_online_count();

    u64 capacity = record_size_bound(frames);
    unsigned order = order_for(capacity);
    u64 record = frames.alloc_frames(order, MemClass::preserved, OWNER_HYPERVISOR, FrameType::record);
    u64 planted = fault == UpdateFault::bootmem_violation ? plant_bootmem_violation() : 0;
    auto abort = [&](int error) {
        remove_bootmem_violation(planted);
        if (record != 0)
            frames.free_frames(record, order);
        frames.free_frames(kit, KIT_ORDER);
        kexec_unload();
        resume();
        log_warn("update: aborted, guests continue: %s", why);
        return error;
    };
    if (record == 0)
        return abort(format_refusal(why, why_capacity, BATON_ENOMEM, "no %lu KiB of preserved memory for the record",
                                    (PAGE_SIZE << order) / KiB));

    OutgoingRecord outgoing = outgoing_record(phases);
    outgoing.writer_image = self_image().copy;
    outgoing.next_image = next_copy;
    outgoing.rollback_kit = PhysRange{kit, kit + (PAGE_SIZE << KIT_ORDER)};
    u64 size = write_update_record(outgoing, frames, phys_to_virt(record), PAGE_SIZE << order, why, why_capacity);
    if (size == 0)
        return abort(-BATON_EFAULT);

    // The barrier: rule 1 of the design, checked on the frame table itself.
    InvariantResult invariant = check_bootmem_invariant(frames.table(), frames.bootmem_region());
    if (!invariant.ok())
        return abort(format_refusal(why, why_capacity, BATON_EFAULT,
                                    "invariant broken: %lu preserved frames inside the bootmem region, first at 0x%lx",
                                    invariant.violations, invariant.first_offender));
    if constexpr (CHECK_PRESERVED_RUNS) {
        // Debug builds only: the record's list came from the preserved-block index; the
        // frame table (a walk over all RAM) must say the same.
        PreservedCheck check = check_preserved_runs_agree(frames);
        if (!check.agree) {
            char text[256];
            describe_preserved_check(check, text, sizeof(text));
            return abort(format_refusal(why, why_capacity, BATON_EFAULT, "invariant broken: %s", text));
        }
    }

    next.options.lu_record_given = true;
    next.options.lu_record_address = record;
    next.options.lu_record_size = size;
    next.options.lu_record_crc = crc32(phys_to<u8>(record), size);
    if (int error = rollback_kit_build(kit, way_back(next, kit), UPDATE_WATCHDOG_MS, why, why_capacity))
        return abort(error);
    next.options.lu_rollback_kit = kit;
    next.options.lu_rolled_back_kit = 0;
    next.options.lu_fault = next_fault;
    next.rollback_kit = kit;
    if (int error = kexec_prepare(next, why, why_capacity))
        return abort(error);

    result.record_phys = record;
    result.record_bytes = size;
    result.domains = domain_count();
    return 0;
}

u64 write_snapshot(u64 &size, unsigned &order, char *why, usize why_capacity)
{
    FrameAllocator &frames = frame_allocator();
    UpdateTimeline phases;
    phases.stamp(UpdatePhase::requested, cpu::rdtsc());
    size = 0;
    if (quiesce(why, why_capacity) != 0)
        return 0;
    phases.stamp(UpdatePhase::paused, cpu::rdtsc());
    order = order_for(record_size_bound(frames));
    u64 buffer = frames.alloc_frames(order, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    size = 0;
    if (buffer == 0)
        format(why, why_capacity, "no %lu KiB of memory for the snapshot", (PAGE_SIZE << order) / KiB);
    else
        size = write_update_record(outgoing_record(phases), frames, phys_to_virt(buffer), PAGE_SIZE << order, why,
                                   why_capacity);
    resume();
    if (size == 0 && buffer != 0) {
        frames.free_frames(buffer, order);
        buffer = 0;
    }
    return buffer;
}

namespace {

// The update's outcome as this image sees it: committed (this is the new image) or rolled
// back (this is the old one again, and the report says why).
void take_history(IncomingRecord &record, const KernelOptions &options, u64 entered_tsc, u64 parsed_tsc)
{
    auto root = record.root;
    history.happened = true;
    history.rolled_back = options.lu_rolled_back_kit != 0;
    // A rollback leaves this image's generation as it was; the record counted the attempt.
    history.update_count = root.update_count() - (history.rolled_back ? 1 : 0);
    history.tsc_khz = timer::tsc_khz();
    format(history.from_build_id, sizeof(history.from_build_id), "%s", root.writer_build_id().chars);
    format(history.from_version, sizeof(history.from_version), "%s", root.writer_version().chars);
    timeline_from_record(root, history.phases);
    history.phases.stamp(UpdatePhase::entered, entered_tsc);
    history.phases.stamp(UpdatePhase::record_parsed, parsed_tsc);
    history.rollback_count = root.rollback_count();
    auto last = root.last_rollback();
    if (last.failed_build_id().size != 0) {
        RollbackReport &report = history.last_rollback;
        format(report.failed_build_id, sizeof(report.failed_build_id), "%s", last.failed_build_id().chars);
        format(report.failed_version, sizeof(report.failed_version), "%s", last.failed_version().chars);
        format(report.reason, sizeof(report.reason), "%s", last.reason().chars);
        (void)record_enums::from_record(last.reached_phase(), report.reached_phase); // unknown: left as is
        report.failed_tsc = last.failed_tsc();
        history.has_last_rollback = true;
    }
    if (!history.rolled_back)
        return;
    history.rollback_count++;
    if (!rollback_take_report(options.lu_rolled_back_kit, history.last_rollback))
        format(history.last_rollback.reason, sizeof(history.last_rollback.reason), "%s",
               "the failed image left no report");
    history.has_last_rollback = true;
}

// What only the old image or a rollback needed, once the outcome is settled: the kit,
// and the copy of the image that is not running (the old one's after a commit, the
// failed one's after a rollback).
void free_transaction(IncomingRecord &record)
{
    FrameAllocator &frames = frame_allocator();
    auto root = record.root;
    auto gone = history.rolled_back ? root.next_image() : root.writer_image();
    handover::preserved_of(root).for_each([&](handover::schema::PreservedRange::Reader range, u64) {
        const PhysRange frames_of{frame_to_addr(range.first_frame()),
                                  frame_to_addr(range.first_frame() + range.frame_count())};
        bool kit = range.kind() == handover::schema::PreservedKind::rollback_kit;
        bool image = range.kind() == handover::schema::PreservedKind::hypervisor_image && gone.preserved() &&
                     gone.bytes() != 0 && frames_of.contains(gone.address());
        if (kit || image)
            frames.free_range(frames_of);
        return true;
    });
}

} // namespace

void resume_after_update(IncomingRecord &record, const KernelOptions &options, u64 entered_tsc, u64 parsed_tsc)
{
    auto root = record.root;
    take_history(record, options, entered_tsc, parsed_tsc);

    // The hang faults, once the timer runs: interrupts on means its ticks keep coming.
    if (injected_fault() == InjectedFault::hang_cli || injected_fault() == InjectedFault::hang_sti)
        injected_hang(injected_fault());
    const UpdateClock clock{root.time_origin_tsc(), root.tsc_khz()};
    history.domains_in_record = root.domains().size();
    RestoreFailure failure;
    history.domains_restored = restore_domains(root, clock, rollback_pending() ? &failure : nullptr,
                                               injected_fault() == InjectedFault::fail_domain);
    if (failure.error != 0)
        rollback_if_pending("domain %u cannot be rebuilt (error %d)", failure.domain_id, failure.error);
    if (injected_fault() == InjectedFault::exception_restore) {
        log_warn("update: injected fault exception_restore: an invalid opcode while restoring");
        asm volatile("ud2");
    }
    arch_iommu_adopt_devices(); // assigned devices' DMA never stopped; now they are bookkept again
    history.phases.stamp(UpdatePhase::restored, cpu::rdtsc());

    // The commit point: every domain is rebuilt and no guest instruction ran yet. From
    // here this image owns the guests; before it, nothing the old image needs was changed.
    rollback_commit();
    if (history.rolled_back) // the guests see this image's generation, which the attempt did not change
        domains_set_generation(history.update_count);
    refresh_restored_domains();
    free_transaction(record);
    self_image_note(record, history.rolled_back); // checked once the guests run (main.cpp)

    if (history.rolled_back) // read while the record is still there
        timeline_from_record(root, history.arrival, true);

    // Keep a copy for `batonctl record`, then give the record's frames back.
    FrameAllocator &frames = frame_allocator();
    history.record_bytes = record.bytes.size();
    history.record_copy_order = order_for(history.record_bytes);
    history.record_copy_phys =
        frames.alloc_frames(history.record_copy_order, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    if (history.record_copy_phys != 0)
        __builtin_memcpy(phys_to<u8>(history.record_copy_phys), phys_to<u8>(record.bytes.start), history.record_bytes);
    for_each_record_range(record, [&](PhysRange range) { frames.free_range(range); });
    record.usable = false; // its memory is gone
    history.phases.stamp(UpdatePhase::resumed, cpu::rdtsc());
    if (!history.rolled_back)
        history.arrival = history.phases;

    char line[256];
    usize length =
        history.rolled_back
            ? format(line, sizeof(line), "update: ROLLED BACK: build %s failed (%s); %zu of %zu domains back;",
                     history.last_rollback.failed_build_id, history.last_rollback.reason, history.domains_restored,
                     history.domains_in_record)
            : format(line, sizeof(line), "update: from %s (build %s), generation %lu, %zu of %zu domains;",
                     history.from_version, history.from_build_id, history.update_count, history.domains_restored,
                     history.domains_in_record);
    for (const UpdateSpan &span : UPDATE_SPANS) {
        u64 micros = history.phases.micros(span.from, span.to, history.tsc_khz);
        if (micros != ~u64{0} && length < sizeof(line))
            length += format(line + length, sizeof(line) - length, " %s=%luus", span.name, micros);
    }
    if (history.rolled_back)
        log_error("%s", line);
    else
        log_info("%s", line);
}
