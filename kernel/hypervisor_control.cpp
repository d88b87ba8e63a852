// The control channel's backend: domain operations and reports for the host's batonctl.
#include "hypervisor_control.hpp"
#include "dom/domain.hpp"
#include "dom/guest_modules.hpp"
#include "mm/memory_report.hpp"
#include "version.hpp"

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

} // namespace

VersionInfo HypervisorControl::version() { return VersionInfo{baton_version, baton_build_id}; }

void HypervisorControl::list_domains(DomainVisitor &visitor)
{
    for_each_domain([&](Domain &domain) {
        visitor.visit(DomainInfo{domain.id, domain.name, domain_state_name(domain.state), domain.ram_bytes, 1});
    });
}

i64 HypervisorControl::create_domain(const CreateRequest &request, ControlReason &reason)
{
    const GuestModule *module = find_guest_module(request.module);
    if (module == nullptr) {
        reason.set("no guest module named '%s' was loaded at boot", request.module);
        return -BATON_ENOENT;
    }
    if (request.vcpus > 1) {
        reason.set("domains have one vCPU for now");
        return -BATON_EINVAL;
    }
    char why[DOMAIN_MESSAGE_SIZE];
    int id = create_domain_from_module(*module, request.name, request.ram_bytes, why, sizeof(why));
    if (id < 0) {
        reason.set("%s", why);
        return id;
    }
    if (!request.start)
        domain_pause(static_cast<u16>(id));
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
    write_memory_report(::memory_report(frame_allocator()),
                        [](void *context, const char *line) { static_cast<ReportLines *>(context)->line("%s", line); },
                        &lines);
    return 0;
}
