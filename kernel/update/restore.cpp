// SPDX-License-Identifier: MIT
// Rebuilding the domains of a checked handover record in the new image.
#include "update/restore.hpp"
#include "abi/errno.h"
#include "dom/domain.hpp"
#include "dom/vcpu_info.hpp"
#include "dom/vcpu_state.hpp"
#include "handover/record_reader.hpp"
#include "lib/log.hpp"
#include "mm/slab.hpp"
#include "update/iommu_record.hpp"
#include "update/platform_record.hpp"
#include "update/record_enums.hpp"

namespace schema = handover::schema;

namespace {

DomainState state_of(schema::DomainState state)
{
    switch (state) {
    case schema::DomainState::created:
    case schema::DomainState::running: return DomainState::running;
    case schema::DomainState::paused: return DomainState::paused;
    case schema::DomainState::shutdown: return DomainState::shut_down;
    case schema::DomainState::crashed: break;
    }
    return DomainState::crashed;
}

void copy_text(char *to, usize capacity, handover::wire::TextReader text)
{
    usize i = 0;
    for (; i < text.size && i + 1 < capacity; i++)
        to[i] = text.chars[i];
    to[i] = '\0';
}

// The record's p2m is the base layer (extra pages are not in it): every RAM range in it
// is the domain's own populated RAM.
int restore_p2m(Domain &domain, schema::Domain::Reader in)
{
    handover::P2mReader p2m = handover::p2m_of(in);
    u64 count = p2m.total();
    auto *ranges = static_cast<P2mRange *>(heap_alloc(count * sizeof(P2mRange) + 1));
    if (ranges == nullptr)
        return -BATON_ENOMEM;
    bool known = true;
    p2m.for_each([&](schema::P2mRange::Reader range, u64 index) {
        P2mRange &out = ranges[index];
        out = P2mRange{};
        out.gfn = range.guest_frame();
        out.mfn = range.machine_frame();
        out.count = range.frame_count();
        known =
            record_enums::from_record(range.type(), out.type) && record_enums::from_record(range.access(), out.access);
        out.flags = p2m_type_is_ram(out.type) ? P2M_RANGE_OWNED : 0;
        return known;
    });
    if (!known) { // the validator refuses these first; never restore what is not understood
        heap_free(ranges);
        return -BATON_EINVAL;
    }
    auto bitmap = in.log_dirty().bitmap();
    LogDirtyState dirty;
    dirty.enabled = in.log_dirty().mode() == schema::LogDirtyMode::enabled;
    if (dirty.enabled) {
        dirty.bitmap_phys = frame_to_addr(bitmap.first_frame());
        dirty.bitmap_frames = bitmap.frame_count();
        dirty.guest_frames = in.log_dirty().guest_frames();
    }
    int error = domain.p2m.restore(ranges, count, dirty);
    heap_free(ranges);
    return error;
}

int restore_extra_pages(Domain &domain, schema::Domain::Reader in)
{
    auto extra = in.extra_pages();
    for (u32 i = 0; i < extra.size(); i++) {
        const u64 gfn = extra[i].guest_frame() != schema::NO_GUEST_FRAME ? extra[i].guest_frame() : NO_GFN;
        if (extra[i].role() == schema::ExtraPageRole::vcpu_info) {
            if (extra[i].vcpu() >= domain.vcpu_count)
                return -BATON_EINVAL;
            if (int error = vcpu_info_adopt(domain, static_cast<u16>(extra[i].vcpu()), extra[i].machine_frame(), gfn))
                return error;
            continue;
        }
        if (extra[i].role() != schema::ExtraPageRole::shared_info)
            return -BATON_EINVAL; // this image makes no other extra pages
        domain.shared_info_mfn = extra[i].machine_frame();
        if (extra[i].guest_frame() != schema::NO_GUEST_FRAME)
            if (int error = domain_map_shared_info(domain, extra[i].guest_frame()))
                return error;
    }
    return domain.shared_info_mfn != 0 ? 0 : -BATON_EINVAL;
}

int restore_event_channels(Domain &domain, schema::Domain::Reader in, const UpdateClock &clock)
{
    if (in.upcall_vector() != 0)
        if (int error = domain.events.set_upcall_vector(in.upcall_vector()))
            return error;
    auto channels = in.event_channels();
    for (u32 i = 0; i < channels.size(); i++) {
        auto channel = channels[i];
        EventPort port;
        switch (channel.state()) {
        case schema::EventChannelState::unbound: port.state = PortState::unbound; break;
        case schema::EventChannelState::interdomain:
            port.state = PortState::interdomain;
            port.remote_port = static_cast<u16>(channel.remote_port());
            break;
        case schema::EventChannelState::timer:
            port.state = PortState::timer;
            port.period_ns = channel.timer_period_ns();
            port.next_fire_ns = clock.to_ns(channel.timer_deadline_tsc());
            break;
        default: return -BATON_EINVAL; // virq and ipi ports are not made by this image
        }
        if (port.state != PortState::timer)
            port.remote_domid = static_cast<u16>(channel.remote_domain());
        if (channel.notify_vcpu() >= domain.vcpu_count)
            return -BATON_EINVAL; // the validator refuses these first
        port.notify_vcpu = static_cast<u16>(channel.notify_vcpu());
        if (int error = domain.events.restore_port(channel.port(), port, channel.pending(), channel.masked()))
            return error;
    }
    return 0;
}

// Every view with its overrides, through the calls that made them: all or nothing.
int restore_views(Domain &domain, schema::Domain::Reader in)
{
    P2m &p2m = domain.p2m;
    auto views = in.altp2m_views();
    int error = 0;
    u16 index = 0;
    for (u32 i = 0; error == 0 && i < views.size(); i++) {
        index = views[i].index();
        error = p2m.views().create(index);
        if (error > 0)
            error = 0;
        auto entries = views[i].entries();
        for (u32 e = 0; error == 0 && e < entries.size(); e++) {
            auto entry = entries[e];
            P2mAccess access = P2mAccess::n;
            if (!record_enums::from_record(entry.access(), access)) {
                error = -BATON_EINVAL; // the validator refuses these first
                break;
            }
            error = entry.target_guest_frame() == entry.guest_frame()
                        ? p2m.views().set_access(index, entry.guest_frame(), entry.frame_count(), access)
                        : p2m.views().remap(index, entry.guest_frame(), entry.target_guest_frame(), entry.frame_count(),
                                            access);
        }
    }
    if (error != 0) {
        log_error("update: d%u: view %u cannot be rebuilt (error %d)", domain.id, index, error);
        for (u16 made = 1; made <= P2M_MAX_VIEWS; made++)
            (void)p2m.views().destroy(made); // undo the views made so far: ENOENT for the others, no vCPU runs yet
    }
    return error;
}

// Every vCPU as it was: running ones where they stopped, blocked ones blocked with their
// deadlines, down ones down with a fresh start state, so the guest can still start them.
int restore_vcpus(Domain &domain, schema::Domain::Reader in, const UpdateClock &clock)
{
    auto vcpus = in.vcpus();
    for (u16 i = 0; i < domain.vcpu_count; i++) {
        auto state = vcpus[i];
        Vcpu &vcpu = domain.vcpus[i];
        if (state.id() != i)
            return -BATON_EINVAL; // the validator refuses these first
        const bool down = state.run_state() == schema::VcpuRunState::down;
        if (down && i == 0)
            return -BATON_EINVAL; // vCPU 0 starts with the domain; the validator refuses this too
        int error = down ? arch_vcpu_create(vcpu, domain.p2m.nested_root(), 0, 0)
                         : arch_vcpu_restore(vcpu, domain.p2m.nested_root(), state);
        if (error != 0)
            return error;
        vcpu.up = !down;
        vcpu.blocked = state.run_state() == schema::VcpuRunState::blocked;
        vcpu.wake_deadline_ns =
            !down && state.timer().deadline_tsc() != 0 ? clock.to_ns(state.timer().deadline_tsc()) : 0;
        vcpu.last_cpu = state.last_cpu();
        // Back on the CPU it ran on; until that CPU is up, any CPU may run it.
        vcpu.home_cpu = vcpu.last_cpu;
        if (int view_error = vcpu_switch_view(vcpu, state.altp2m_view()))
            return view_error;
    }
    return 0;
}

int restore_domain(schema::Domain::Reader in, const UpdateClock &clock, Domain *&made)
{
    made = nullptr;
    if (in.id() < 1 || in.id() > MAX_DOMAINS)
        return -BATON_EINVAL;
    Domain *domain = domain_install(static_cast<u16>(in.id()));
    if (domain == nullptr)
        return -BATON_EEXIST;
    made = domain;
    copy_text(domain->name, sizeof(domain->name), in.name());
    copy_text(domain->stop_reason, sizeof(domain->stop_reason), in.stop_reason());
    copy_text(domain->console, sizeof(domain->console), in.console_line());
    domain->console_length = __builtin_strlen(domain->console);
    domain->ram_bytes = in.max_frames() << PAGE_SHIFT;
    domain->created_ns = clock.to_ns(in.created_tsc());
    domain->state = state_of(in.state());
    // Known before the event channels, which name the vCPUs they notify.
    if (in.vcpus().size() < 1 || in.vcpus().size() > MAX_VCPUS)
        return -BATON_EINVAL;
    domain->vcpu_count = static_cast<u16>(in.vcpus().size());
    if (int error = restore_p2m(*domain, in))
        return error;
    if (int error = restore_extra_pages(*domain, in))
        return error;
    if (int error = restore_views(*domain, in))
        return error;
    if (int error = restore_event_channels(*domain, in, clock))
        return error;
    if (int error = restore_vcpus(*domain, in, clock))
        return error;
    if (!record_enums::from_record(in.guest_kind(), domain->kind))
        return -BATON_EINVAL;
    if (domain->kind == GuestKind::pc) {
        char why[DOMAIN_MESSAGE_SIZE];
        if (int error = arch_platform_restore(*domain, in.pc_platform(), why, sizeof(why))) {
            log_error("update: %s", why);
            return error;
        }
    }
    return 0;
}

} // namespace

usize restore_domains(schema::Handover::Reader record, const UpdateClock &clock, RestoreFailure *first_failure,
                      bool fail_last_domain)
{
    domains_set_generation(record.update_count());
    auto domains = record.domains();
    usize restored = 0;
    for (u32 i = 0; i < domains.size(); i++) {
        Domain *domain = nullptr;
        int error =
            fail_last_domain && i + 1 == domains.size() ? -BATON_EINVAL : restore_domain(domains[i], clock, domain);
        if (error != 0 && first_failure != nullptr) {
            *first_failure = RestoreFailure{domains[i].id(), error};
            return restored;
        }
        if (error == 0) {
            restored++;
            log_info("update: d%u '%s' restored (%s, %lu p2m ranges)", domain->id, domain->name,
                     domain_state_name(domain->state), domain->p2m.range_count());
            continue;
        }
        log_error("update: domain %u cannot be rebuilt (error %d); it is left out", domains[i].id(), error);
        // Its devices stop before its memory goes: what it adopted is freed with it (frames
        // it never adopted stay marked in use).
        arch_iommu_domain_not_restored(domains[i].id());
        if (domain != nullptr)
            domain_discard(*domain);
    }
    return restored;
}

void refresh_restored_domains()
{
    for_each_domain([](Domain &domain) { domain_refresh_shared_info(domain); });
}

void timeline_from_record(schema::Handover::Reader record, UpdateTimeline &timeline, bool last_update)
{
    auto phases = last_update ? record.last_update() : record.phases();
    for (u32 i = 0; i < phases.size(); i++) {
        UpdatePhase phase = UpdatePhase::count;
        if (record_enums::from_record(phases[i].phase(), phase)) // a newer writer's phases are skipped
            timeline.stamp(phase, phases[i].tsc());
    }
}
