// SPDX-License-Identifier: MIT
// Hypercall dispatch: console, yield, block, shared info, event channels, domain info,
// time, shutdown, vCPU start-up. Nothing a guest passes is trusted.
#include "dom/hypercall.hpp"
#include "abi/errno.h"
#include "abi/hypercall.h"
#include "boot/version.hpp"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "dom/vcpu_info.hpp"
#include "lib/time.hpp"

namespace {

HypercallResult value(i64 v) { return HypercallResult{v, HypercallAction::resume}; }

HypercallResult console_write(Domain &domain, u64 gpa, u64 length)
{
    if (length > BATON_CONSOLE_MAX)
        return value(-BATON_E2BIG);
    char text[BATON_CONSOLE_MAX];
    if (int error = copy_from_guest(domain.p2m, text, gpa, length))
        return value(error);
    domain_console_write(domain, text, length);
    return value(static_cast<i64>(length));
}

HypercallResult block(Vcpu &vcpu, u64 deadline_ns)
{
    // Nothing to wait for: an event for this vCPU is already deliverable or the deadline
    // has passed.
    if (vcpu.domain->events.has_deliverable_for(vcpu.id) || (deadline_ns != 0 && deadline_ns <= time_now_ns()))
        return value(0);
    vcpu.blocked = true;
    vcpu.wake_deadline_ns = deadline_ns;
    return HypercallResult{0, HypercallAction::block};
}

i64 bind_interdomain(Domain &domain, u64 remote_domid, u64 remote_port)
{
    Domain *remote = domain_find(remote_domid);
    if (remote == nullptr || remote == &domain)
        return -BATON_ENOENT;
    EventPort *offered = remote->events.port(remote_port);
    if (offered == nullptr || offered->state != PortState::unbound || offered->remote_domid != domain.id)
        return -BATON_EINVAL;
    int port = domain.events.bind_interdomain(remote->id, static_cast<u16>(remote_port));
    if (port < 0)
        return port;
    remote->events.connect(static_cast<u16>(remote_port), domain.id, static_cast<u16>(port));
    return port;
}

i64 send(Domain &domain, u64 port)
{
    const EventPort *p = domain.events.port(port);
    if (p == nullptr)
        return -BATON_EINVAL;
    if (p->state == PortState::free)
        return -BATON_ENOENT;
    if (p->state != PortState::interdomain)
        return -BATON_EINVAL;
    Domain *remote = domain_find(p->remote_domid);
    if (remote == nullptr)
        return -BATON_ENOENT;
    if (remote->state == DomainState::running || remote->state == DomainState::paused)
        domain_raise_event(*remote, p->remote_port);
    return 0;
}

HypercallResult event_channel(Domain &domain, u64 op, u64 arg0, u64 arg1)
{
    EventChannels &events = domain.events;
    switch (op) {
    case BATON_EVTCHN_SET_UPCALL_VECTOR: return value(events.set_upcall_vector(arg0));
    case BATON_EVTCHN_BIND_TIMER: return value(events.bind_timer(arg0, time_now_ns()));
    case BATON_EVTCHN_ALLOC_UNBOUND:
        return value(domain_find(arg0) == nullptr || arg0 == domain.id ? -BATON_ENOENT
                                                                       : events.alloc_unbound(static_cast<u16>(arg0)));
    case BATON_EVTCHN_BIND_INTERDOMAIN: return value(bind_interdomain(domain, arg0, arg1));
    case BATON_EVTCHN_SEND: return value(send(domain, arg0));
    case BATON_EVTCHN_CLOSE: return value(events.close(arg0));
    case BATON_EVTCHN_BIND_VCPU:
        if (domain.vcpu(arg1) == nullptr)
            return value(events.port(arg0) == nullptr ? -BATON_EINVAL : -BATON_ENOENT);
        return value(events.bind_vcpu(arg0, static_cast<u16>(arg1)));
    case BATON_EVTCHN_UNMASK: {
        const EventPort *p = events.port(arg0);
        if (p == nullptr)
            return value(-BATON_EINVAL);
        if (p->state == PortState::free)
            return value(-BATON_ENOENT);
        if (events.unmask(arg0))
            domain_raise_event(domain, static_cast<u16>(arg0));
        return value(0);
    }
    default: return value(-BATON_ENOSYS);
    }
}

HypercallResult domain_info(const Vcpu &vcpu, u64 gpa, u64 size)
{
    Domain &domain = *vcpu.domain;
    // A guest built against an older, shorter struct gets the prefix it knows.
    baton_domain_info info{};
    u64 length = size < sizeof(info) ? size : sizeof(info);
    info.domid = domain.id;
    info.vcpus = domain.vcpu_count;
    info.vcpu_id = vcpu.id;
    info.ram_bytes = domain.ram_bytes;
    for (usize i = 0; i + 1 < sizeof(info.name) && domain.name[i]; i++)
        info.name[i] = domain.name[i];
    info.hypervisor_generation = domain.shared_info()->hypervisor_generation;
    for (usize i = 0; i + 1 < sizeof(info.hypervisor_build_id) && baton_build_id[i]; i++)
        info.hypervisor_build_id[i] = baton_build_id[i];
    if (int error = copy_to_guest(domain.p2m, gpa, &info, length))
        return value(error);
    return value(static_cast<i64>(length));
}

} // namespace

HypercallResult handle_hypercall(Vcpu &vcpu, const HypercallArgs &args)
{
    Domain &domain = *vcpu.domain;
    vcpu.hypercalls++;
    if (args.privilege_level != 0)
        return value(-BATON_EPERM); // only the guest kernel may call
    const u64 *a = args.arg;
    switch (args.number) {
    case BATON_HC_CONSOLE_WRITE: return console_write(domain, a[0], a[1]);
    case BATON_HC_YIELD: return HypercallResult{0, HypercallAction::yield};
    case BATON_HC_BLOCK: return block(vcpu, a[0]);
    case BATON_HC_SHARED_INFO_MAP: return value(domain_map_shared_info(domain, a[0]));
    case BATON_HC_EVTCHN: return event_channel(domain, a[0], a[1], a[2]);
    case BATON_HC_DOMAIN_INFO: return domain_info(vcpu, a[0], a[1]);
    case BATON_HC_TIME: return value(static_cast<i64>(time_now_ns()));
    case BATON_HC_SHUTDOWN:
        if (a[0] != BATON_SHUTDOWN_POWEROFF && a[0] != BATON_SHUTDOWN_CRASH)
            return value(-BATON_EINVAL);
        domain_shutdown(domain, a[0]);
        return HypercallResult{0, HypercallAction::stop};
    case BATON_HC_VCPU_UP: return value(domain_vcpu_up(domain, a[0], a[1], a[2]));
    case BATON_HC_VCPU_INFO_MAP: return value(domain_map_vcpu_info(domain, a[0], a[1]));
    default: return value(-BATON_ENOSYS);
    }
}
