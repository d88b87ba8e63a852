// SPDX-License-Identifier: MIT
// Writing the outgoing handover record: every domain, the preserved frames, the phases.
#include "update/serialize.hpp"
#include "dom/domain.hpp"
#include "dom/vcpu_state.hpp"
#include "handover/record_writer.hpp"
#include "lib/format.hpp"
#include "update/iommu_record.hpp"
#include "update/platform_record.hpp"
#include "update/preserved_scan.hpp"
#include "update/record_enums.hpp"

namespace schema = handover::schema;

namespace {

schema::DomainState state_of(DomainState state)
{
    switch (state) {
    case DomainState::running: return schema::DomainState::running;
    case DomainState::paused: return schema::DomainState::paused;
    case DomainState::shut_down: return schema::DomainState::shutdown;
    case DomainState::crashed: return schema::DomainState::crashed;
    }
    return schema::DomainState::crashed;
}

// The record's p2m is the base layer: what populate_ram() and map() made, without the
// extra-page overlays (those are the domain's extraPages) and with the RAM they cover
// shown in place. Sorted by gfn and disjoint, as the record requires.
bool in_base_layer(const P2mRange &range) { return range.owned() || !p2m_type_is_ram(range.type); }

u64 base_layer_count(const P2m &p2m)
{
    u64 count = 0;
    p2m.for_each_range([&](const P2mRange &range) { count += in_base_layer(range) ? 1u : 0u; });
    return count;
}

void write_p2m(const P2m &p2m, schema::Domain::Builder out)
{
    handover::P2mWriter writer = handover::init_p2m(out, base_layer_count(p2m));
    p2m.for_each_range([&](const P2mRange &range) {
        if (in_base_layer(range))
            writer.add({range.gfn, range.mfn, range.count, record_enums::to_record(range.type),
                        record_enums::to_record(range.access)});
    });
}

schema::EventChannelState port_state_of(PortState state)
{
    switch (state) {
    case PortState::unbound: return schema::EventChannelState::unbound;
    case PortState::interdomain: return schema::EventChannelState::interdomain;
    case PortState::timer: return schema::EventChannelState::timer;
    case PortState::free: break;
    }
    return schema::EventChannelState::free;
}

void write_event_channels(const Domain &domain, const UpdateClock &clock, schema::Domain::Builder out)
{
    u32 count = 0;
    for (u16 port = 1; port < BATON_EVTCHN_PORTS; port++)
        count += domain.events.port(port)->state != PortState::free ? 1u : 0u;
    auto list = out.init_event_channels(count);
    u32 index = 0;
    for (u16 port = 1; port < BATON_EVTCHN_PORTS; port++) {
        const EventPort &p = *domain.events.port(port);
        if (p.state == PortState::free)
            continue;
        auto channel = list[index++];
        channel.set_port(port);
        channel.set_state(port_state_of(p.state));
        channel.set_notify_vcpu(p.notify_vcpu);
        if (p.state != PortState::timer)
            channel.set_remote_domain(p.remote_domid);
        if (p.state == PortState::interdomain)
            channel.set_remote_port(p.remote_port);
        channel.set_pending(domain.events.pending(port));
        channel.set_masked(domain.events.masked(port));
        if (p.state == PortState::timer) {
            channel.set_timer_period_ns(p.period_ns);
            channel.set_timer_deadline_tsc(clock.to_tsc(p.next_fire_ns));
        }
    }
}

static_assert(P2M_MAX_VIEWS == schema::ALTP2M_MAX_VIEWS, "the record numbers views as the p2m does");

u32 view_entry_count(const P2m &p2m, u16 index)
{
    u32 entries = 0;
    p2m.views().for_each_entry(index, [&](const P2mViewEntry &) { entries++; });
    return entries;
}

// Every alternate view with its overrides; none of them owns a frame, so nothing about
// them is preserved beyond this description: the next image rebuilds their tables.
void write_views(const P2m &p2m, schema::Domain::Builder out)
{
    auto views = out.init_altp2m_views(p2m.views().count());
    u32 view_index = 0;
    for (u16 index = 1; index <= P2M_MAX_VIEWS; index++) {
        if (!p2m.views().exists(index))
            continue;
        auto view = views[view_index++];
        view.set_index(index);
        auto entries = view.init_entries(view_entry_count(p2m, index));
        u32 entry_index = 0;
        p2m.views().for_each_entry(index, [&](const P2mViewEntry &entry) {
            auto out_entry = entries[entry_index++];
            out_entry.set_guest_frame(entry.gfn);
            out_entry.set_frame_count(entry.count);
            out_entry.set_target_guest_frame(entry.target_gfn);
            out_entry.set_access(record_enums::to_record(entry.access));
        });
    }
}

// Every vCPU in id order. One that is down has never run: only its id, state, view and
// CPU are recorded, and the next image gives it a fresh start state, as this one did.
void write_vcpus(const Domain &domain, const UpdateClock &clock, schema::Domain::Builder out)
{
    auto vcpus = out.init_vcpus(domain.vcpu_count);
    for (u16 i = 0; i < domain.vcpu_count; i++) {
        const Vcpu &vcpu = domain.vcpus[i];
        auto state = vcpus[i];
        if (vcpu.up)
            arch_vcpu_save(vcpu, state);
        state.set_id(i);
        state.set_run_state(!vcpu.up       ? schema::VcpuRunState::down
                            : vcpu.blocked ? schema::VcpuRunState::blocked
                                           : schema::VcpuRunState::runnable);
        if (vcpu.up && vcpu.wake_deadline_ns != 0)
            state.init_timer().set_deadline_tsc(clock.to_tsc(vcpu.wake_deadline_ns));
        state.set_altp2m_view(vcpu.view);
        state.set_last_cpu(vcpu.last_cpu);
    }
}

void write_domain(const Domain &domain, const UpdateClock &clock, schema::Domain::Builder out)
{
    out.set_id(domain.id);
    out.set_name(domain.name);
    out.set_flags(0);
    out.set_state(state_of(domain.state));
    out.set_max_frames(domain.ram_bytes >> PAGE_SHIFT);
    out.set_stop_reason(domain.stop_reason);
    out.set_console_line(domain.console, static_cast<u32>(domain.console_length));
    out.set_created_tsc(clock.to_tsc(domain.created_ns));
    write_p2m(domain.p2m, out);
    out.set_guest_kind(record_enums::to_record(domain.kind));
    if (domain.kind == GuestKind::pc)
        arch_platform_write_record(domain, out.init_pc_platform());

    u32 info_pages = 0;
    for (u16 i = 0; i < domain.vcpu_count; i++)
        info_pages += domain.vcpus[i].info_mfn != 0 ? 1 : 0;
    auto extra = out.init_extra_pages(1 + info_pages);
    extra[0].set_role(schema::ExtraPageRole::shared_info);
    extra[0].set_guest_frame(domain.shared_info_gfn == NO_GFN ? schema::NO_GUEST_FRAME : domain.shared_info_gfn);
    extra[0].set_machine_frame(domain.shared_info_mfn);
    u32 next = 1;
    for (u16 i = 0; i < domain.vcpu_count; i++) {
        const Vcpu &vcpu = domain.vcpus[i];
        if (vcpu.info_mfn == 0)
            continue;
        extra[next].set_role(schema::ExtraPageRole::vcpu_info);
        extra[next].set_vcpu(vcpu.id);
        extra[next].set_guest_frame(vcpu.info_gfn == NO_GFN ? schema::NO_GUEST_FRAME : vcpu.info_gfn);
        extra[next++].set_machine_frame(vcpu.info_mfn);
    }

    write_vcpus(domain, clock, out);
    write_views(domain.p2m, out);

    write_event_channels(domain, clock, out);
    out.set_upcall_vector(domain.events.upcall_vector());

    LogDirtyState dirty = domain.p2m.log_dirty_state();
    auto log_dirty = out.init_log_dirty();
    if (dirty.enabled) {
        log_dirty.set_mode(schema::LogDirtyMode::enabled);
        auto bitmap = log_dirty.init_bitmap();
        bitmap.set_first_frame(addr_to_frame(dirty.bitmap_phys));
        bitmap.set_frame_count(dirty.bitmap_frames);
        log_dirty.set_guest_frames(dirty.guest_frames);
        log_dirty.set_dirty_count(domain.p2m.dirty_count());
    }
}

void write_phases(const UpdateTimeline &timeline, handover::wire::StructListBuilder<schema::PhaseStamp> list)
{
    u32 index = 0;
    for (unsigned phase = 0; phase < UPDATE_PHASE_COUNT; phase++) {
        const auto stamp = static_cast<UpdatePhase>(phase);
        if (!timeline.has(stamp))
            continue;
        list[index].set_phase(record_enums::to_record(stamp));
        list[index++].set_tsc(timeline.tsc(stamp));
    }
}

} // namespace

bool preserved_kind_of(FrameType type, schema::PreservedKind &kind)
{
    switch (type) {
    case FrameType::guest_ram: return kind = schema::PreservedKind::guest_ram, true;
    case FrameType::extra: return kind = schema::PreservedKind::extra_page, true;
    case FrameType::page_table:
        // Nested page tables are ephemeral (rebuilt from the p2m), so preserved page tables
        // are the IOMMU's: the hypervisor's root and context tables, a domain's IO tables.
        return kind = schema::PreservedKind::iommu_table, true;
    case FrameType::log_dirty_bitmap: return kind = schema::PreservedKind::log_dirty_bitmap, true;
    case FrameType::record: return kind = schema::PreservedKind::handover_record, true;
    case FrameType::hypervisor_image: return kind = schema::PreservedKind::hypervisor_image, true;
    case FrameType::rollback_kit: return kind = schema::PreservedKind::rollback_kit, true;
    default: return false;
    }
}

bool frame_type_of(schema::PreservedKind kind, FrameType &type, u8 &flags)
{
    flags = 0;
    switch (kind) {
    case schema::PreservedKind::guest_ram: return type = FrameType::guest_ram, true;
    case schema::PreservedKind::extra_page: flags = FRAME_EXTRA_PAGE; return type = FrameType::extra, true;
    case schema::PreservedKind::nested_page_table:
    case schema::PreservedKind::iommu_table: return type = FrameType::page_table, true;
    case schema::PreservedKind::log_dirty_bitmap: return type = FrameType::log_dirty_bitmap, true;
    case schema::PreservedKind::handover_record: return type = FrameType::record, true;
    case schema::PreservedKind::hypervisor_image: return type = FrameType::hypervisor_image, true;
    case schema::PreservedKind::rollback_kit: return type = FrameType::rollback_kit, true;
    }
    return false;
}

namespace {

void write_image_copy(const ImageCopy &copy, schema::ImageCopy::Builder out)
{
    if (copy.bytes == 0)
        return;
    out.set_address(copy.address);
    out.set_bytes(copy.bytes);
    out.set_build_id(copy.build_id);
    out.set_preserved(copy.preserved);
}

void write_transaction(const OutgoingRecord &outgoing, schema::Handover::Builder record)
{
    write_image_copy(outgoing.writer_image, record.init_writer_image());
    write_image_copy(outgoing.next_image, record.init_next_image());
    if (!outgoing.rollback_kit.empty()) {
        auto kit = record.init_rollback_kit();
        kit.set_first_frame(outgoing.rollback_kit.first_frame());
        kit.set_frame_count(outgoing.rollback_kit.end_frame() - outgoing.rollback_kit.first_frame());
    }
    record.set_rollback_count(outgoing.rollback_count);
    const RollbackReport *last = outgoing.last_rollback;
    if (last == nullptr)
        return;
    auto rollback = record.init_last_rollback();
    rollback.set_failed_build_id(last->failed_build_id);
    rollback.set_failed_version(last->failed_version);
    rollback.set_reached_phase(record_enums::to_record(last->reached_phase));
    rollback.set_reason(last->reason);
    rollback.set_failed_tsc(last->failed_tsc);
}

} // namespace

u64 record_size_bound(const FrameAllocator &frames)
{
    // Words per element, rounded up, with room for list tags and chunk pointers.
    u64 bytes = 4096; // header, texts, bootmem, phases
    bytes += 24ul * (frames.usable_ram().count() + 1);
    for_each_domain([&](Domain &domain) {
        bytes += 1024 + 2048; // the domain, its vCPU (about 90 words) and texts
        bytes += 48ul * (domain.p2m.range_count() + 1); // 5 words per range, chunk overhead
        bytes += 64ul * BATON_EVTCHN_PORTS; // at most every port
        bytes += domain.kind == GuestKind::pc ? arch_platform_record_bound() : 0;
        for (u16 index = 1; index <= P2M_MAX_VIEWS; index++)
            bytes += domain.p2m.views().exists(index) ? 32 + 40 * u64{view_entry_count(domain.p2m, index)} : 0;
    });
    // From the preserved-block index: in proportion to the blocks, not to RAM.
    u64 runs = 0;
    for_each_preserved_run(frames, PreservedSource::index, [&](const PreservedRun &) { runs++; });
    bytes += 40 * (runs + 2); // the record's own frames add one run
    bytes += arch_iommu_record_bound();
    return align_up(bytes * 2, PAGE_SIZE);
}

u64 write_update_record(const OutgoingRecord &outgoing, const FrameAllocator &frames, void *buffer, u64 capacity,
                        char *why, usize why_capacity)
{
    const UpdateClock clock{outgoing.time_origin_tsc, outgoing.tsc_khz};
    handover::wire::MessageBuilder message(buffer, capacity);
    handover::WriterIdentity identity{
        outgoing.build_id, outgoing.version, outgoing.read_tsc(), outgoing.tsc_khz, 0, outgoing.lapic_timer_khz};
    schema::Handover::Builder record = handover::begin_record(message, identity);
    record.set_time_origin_tsc(outgoing.time_origin_tsc);
    record.set_update_count(outgoing.update_count);

    const PhysRange region = frames.bootmem_region();
    auto bootmem = record.init_bootmem();
    bootmem.set_first_frame(region.first_frame());
    bootmem.set_frame_count(region.end_frame() - region.first_frame());
    auto ram = record.init_ram(static_cast<u32>(frames.usable_ram().count()));
    u32 ram_index = 0;
    for (const PhysRange &range : frames.usable_ram()) {
        ram[ram_index].set_first_frame(range.first_frame());
        ram[ram_index++].set_frame_count(range.end_frame() - range.first_frame());
    }

    auto domains = record.init_domains(static_cast<u32>(domain_count()));
    u32 domain_index = 0;
    bool has_views = false, has_pc_guest = false, has_smp = false, has_vcpu_info = false;
    for_each_domain([&](Domain &domain) {
        write_domain(domain, clock, domains[domain_index++]);
        has_views |= domain.p2m.views().count() != 0;
        has_pc_guest |= domain.kind == GuestKind::pc;
        has_smp |= domain.vcpu_count > 1;
        for (u16 i = 0; i < domain.vcpu_count; i++)
            has_vcpu_info |= domain.vcpus[i].info_mfn != 0;
    });
    // A v2 reader would drop the views and run their vCPUs on the host p2m, a v3 one a PC
    // guest's devices, a v5 one the vCPUs beyond the first: they must refuse.
    const bool has_rollback = !outgoing.rollback_kit.empty();
    record.set_min_reader_version(
        handover::min_reader_version_for(has_views, has_pc_guest, has_rollback, has_smp, has_vcpu_info));
    write_transaction(outgoing, record);

    if (!arch_iommu_write_record(record, why, why_capacity))
        return 0;

    // The preserved list from the preserved-block index (what the owners of preserved
    // memory allocated or inherited), never from a walk over the frame table.
    u64 runs = 0;
    bool describable = true;
    for_each_preserved_run(frames, PreservedSource::index, [&](const PreservedRun &run) {
        schema::PreservedKind kind;
        if (!preserved_kind_of(run.type, kind)) {
            if (describable)
                format(why, why_capacity, "preserved frames 0x%lx-0x%lx are of type %s, which no record describes",
                       run.range.start, run.range.end, frame_type_name(run.type));
            describable = false;
        }
        runs++;
    });
    if (!describable)
        return 0;
    handover::PreservedWriter preserved = handover::init_preserved(record, runs);
    for_each_preserved_run(frames, PreservedSource::index, [&](const PreservedRun &run) {
        schema::PreservedKind kind = schema::PreservedKind::guest_ram;
        (void)preserved_kind_of(run.type, kind); // every run was found describable above
        u32 owner = run.owner < OWNER_HYPERVISOR ? run.owner : schema::NO_DOMAIN;
        preserved.add({run.range.first_frame(), run.range.end_frame() - run.range.first_frame(), kind, owner});
    });

    if (outgoing.last_update != nullptr && !outgoing.last_update->empty())
        write_phases(*outgoing.last_update, record.init_last_update(static_cast<u32>(outgoing.last_update->count())));
    outgoing.phases->stamp(UpdatePhase::serialized, outgoing.read_tsc());
    write_phases(*outgoing.phases, record.init_phases(static_cast<u32>(outgoing.phases->count())));

    u64 size = message.finish();
    if (size == 0)
        format(why, why_capacity, "the record does not fit its %lu KiB buffer: %s", capacity / KiB,
               handover::wire::error_text(message.error()));
    return size;
}
