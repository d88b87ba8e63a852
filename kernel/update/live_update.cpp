// SPDX-License-Identifier: MIT
// Live update in the running image: quiesce, serialize, check, hand over; and the
// resumption in the next image.
#include "update/live_update.hpp"
#include "abi/errno.h"
#include "arch/arch.hpp"
#include "boot/version.hpp"
#include "control/transfer_codec.hpp"
#include "dom/domain.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/invariants.hpp"
#include "update/iommu_record.hpp"
#include "update/restore.hpp"
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
    outgoing.time_origin_tsc = timer::origin_tsc();
    outgoing.update_count = history.update_count + 1;
    outgoing.last_update = history.happened ? &history.phases : nullptr;
    outgoing.phases = &phases;
    outgoing.read_tsc = cpu::rdtsc;
    return outgoing;
}

// No vCPU runs while the control channel is served; what is left is to keep interrupts
// out. Lazy p2m type changes need no resolving: they are lazy only in the nested page
// tables, a cache the next image rebuilds, while the ranges the record states are
// always current (docs/p2m.md).
void quiesce() { cpu::disable_interrupts(); }

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

int live_update_prepare(KexecRequest next, UpdateFault fault, UpdateTimeline &phases, LiveUpdateResult &result,
                        char *why, usize why_capacity)
{
    FrameAllocator &frames = frame_allocator();
    quiesce();
    phases.stamp(UpdatePhase::paused, cpu::rdtsc());

    u64 capacity = record_size_bound(frames);
    unsigned order = order_for(capacity);
    u64 record = frames.alloc_frames(order, MemClass::preserved, OWNER_HYPERVISOR, FrameType::record);
    u64 planted = fault == UpdateFault::bootmem_violation ? plant_bootmem_violation() : 0;
    auto abort = [&](int error) {
        remove_bootmem_violation(planted);
        if (record != 0)
            frames.free_frames(record, order);
        cpu::enable_interrupts();
        log_warn("update: aborted, guests continue: %s", why);
        return error;
    };
    if (record == 0)
        return abort(format_refusal(why, why_capacity, BATON_ENOMEM, "no %lu KiB of preserved memory for the record",
                                    (PAGE_SIZE << order) / KiB));

    OutgoingRecord outgoing = outgoing_record(phases);
    u64 size = write_update_record(outgoing, frames, phys_to_virt(record), PAGE_SIZE << order, why, why_capacity);
    if (size == 0)
        return abort(-BATON_EFAULT);

    // The barrier: rule 1 of the design, checked on the frame table itself.
    InvariantResult invariant = check_bootmem_invariant(frames.table(), frames.bootmem_region());
    if (!invariant.ok())
        return abort(format_refusal(why, why_capacity, BATON_EFAULT,
                                    "invariant broken: %lu preserved frames inside the bootmem region, first at 0x%lx",
                                    invariant.violations, invariant.first_offender));

    next.options.lu_record_given = true;
    next.options.lu_record_address = record;
    next.options.lu_record_size = size;
    next.options.lu_record_crc = crc32(phys_to<u8>(record), size);
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
    quiesce();
    phases.stamp(UpdatePhase::paused, cpu::rdtsc());
    order = order_for(record_size_bound(frames));
    u64 buffer = frames.alloc_frames(order, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    size = 0;
    if (buffer == 0)
        format(why, why_capacity, "no %lu KiB of memory for the snapshot", (PAGE_SIZE << order) / KiB);
    else
        size = write_update_record(outgoing_record(phases), frames, phys_to_virt(buffer), PAGE_SIZE << order, why,
                                   why_capacity);
    cpu::enable_interrupts();
    if (size == 0 && buffer != 0) {
        frames.free_frames(buffer, order);
        buffer = 0;
    }
    return buffer;
}

void resume_after_update(IncomingRecord &record, u64 entered_tsc, u64 parsed_tsc)
{
    auto root = record.root;
    history.happened = true;
    history.update_count = root.update_count();
    history.tsc_khz = timer::tsc_khz();
    format(history.from_build_id, sizeof(history.from_build_id), "%s", root.writer_build_id().chars);
    format(history.from_version, sizeof(history.from_version), "%s", root.writer_version().chars);
    timeline_from_record(root, history.phases);
    history.phases.stamp(UpdatePhase::entered, entered_tsc);
    history.phases.stamp(UpdatePhase::record_parsed, parsed_tsc);

    const UpdateClock clock{root.time_origin_tsc(), root.tsc_khz()};
    history.domains_in_record = root.domains().size();
    history.domains_restored = restore_domains(root, clock);
    arch_iommu_adopt_devices(); // assigned devices' DMA never stopped; now they are bookkept again
    history.phases.stamp(UpdatePhase::restored, cpu::rdtsc());

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

    char line[256];
    usize length = format(line, sizeof(line), "update: from %s (build %s), generation %lu, %zu of %zu domains;",
                          history.from_version, history.from_build_id, history.update_count, history.domains_restored,
                          history.domains_in_record);
    for (const UpdateSpan &span : UPDATE_SPANS) {
        u64 micros = history.phases.micros(span.from, span.to, history.tsc_khz);
        if (micros != ~u64{0} && length < sizeof(line))
            length += format(line + length, sizeof(line) - length, " %s=%luus", span.name, micros);
    }
    log_info("%s", line);
}
