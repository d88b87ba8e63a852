// SPDX-License-Identifier: MIT
// Domains: life cycle, vCPUs, console, shared-info page and event delivery.
#include "dom/domain.hpp"
#include "abi/errno.h"
#include "boot/version.hpp"
#include "dom/loader.hpp"
#include "dom/scheduler.hpp"
#include "dom/vcpu_info.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/new.hpp"
#include "lib/time.hpp"
#include "mm/phys.hpp"
#include "mm/slab.hpp"
#include <stdarg.h>

namespace {

Domain *domains[MAX_DOMAINS];
u64 live_update_generation; // 0 at first boot; the live-update path sets it

void copy_name(char (&to)[DOMAIN_NAME_SIZE], const char *from)
{
    usize i = 0;
    for (; from && from[i] && i + 1 < DOMAIN_NAME_SIZE; i++)
        to[i] = from[i];
    to[i] = '\0';
}

void fill_shared_info(Domain &domain)
{
    baton_shared_info *shared = domain.shared_info();
    shared->time_ns = time_now_ns();
    shared->hypervisor_generation = live_update_generation;
    usize i = 0;
    for (; baton_build_id[i] && i + 1 < sizeof(shared->hypervisor_build_id); i++)
        shared->hypervisor_build_id[i] = baton_build_id[i];
    shared->hypervisor_build_id[i] = '\0';
}

// Undoes domain_create step by step; safe on a partly built domain.
void release(Domain *domain)
{
    for (Vcpu &vcpu : domain->vcpus) {
        vcpu_info_release(vcpu);
        if (vcpu.arch != nullptr)
            arch_vcpu_destroy(vcpu);
    }
    arch_platform_destroy(*domain);
    // Only tidiness: destroy() below drops every mapping with the tables.
    if (domain->shared_info_gfn != NO_GFN && domain->p2m.unmap(domain->shared_info_gfn, 1) != 0)
        log_warn("dom: d%u: the shared-info page stays mapped until the p2m is destroyed", domain->id);
    if (domain->p2m.ready())
        domain->p2m.destroy();
    if (domain->shared_info_mfn != 0) {
        u64 phys = domain->shared_info_mfn << PAGE_SHIFT;
        // The frame was flagged when it was allocated for this domain: clearing cannot fail.
        (void)frame_allocator().set_extra_page(phys, false);
        frame_allocator().free_frames(phys, 0);
    }
    domains[domain->id - 1] = nullptr;
    domain->~Domain();
    heap_free(domain);
}

int fail(Domain *domain, int error, char *why, usize capacity, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int fail(Domain *domain, int error, char *why, usize capacity, const char *fmt, ...)
{
    if (fmt != nullptr) {
        va_list args;
        va_start(args, fmt);
        format_v(why, capacity, fmt, args);
        va_end(args);
    }
    if (domain != nullptr)
        release(domain);
    return error;
}

} // namespace

const char *domain_state_name(DomainState state)
{
    switch (state) {
    case DomainState::running: return "running";
    case DomainState::paused: return "paused";
    case DomainState::shut_down: return "shut-down";
    case DomainState::crashed: return "crashed";
    }
    return "unknown";
}

baton_shared_info *Domain::shared_info() const { return phys_to<baton_shared_info>(shared_info_mfn << PAGE_SHIFT); }

Domain *domain_install(u16 id)
{
    if (id < 1 || id > MAX_DOMAINS || domains[id - 1] != nullptr)
        return nullptr;
    void *memory = heap_zalloc(sizeof(Domain));
    if (memory == nullptr)
        return nullptr;
    Domain *domain = new (memory) Domain(id);
    domains[id - 1] = domain;
    return domain;
}

void domain_discard(Domain &domain) { release(&domain); }

void domains_forget_all()
{
    for (Domain *&domain : domains)
        domain = nullptr;
    live_update_generation = 0;
}

void domains_set_generation(u64 generation) { live_update_generation = generation; }
u64 domains_generation() { return live_update_generation; }
void domain_refresh_shared_info(Domain &domain) { fill_shared_info(domain); }

Domain *domain_slot(u16 index) { return index < MAX_DOMAINS ? domains[index] : nullptr; }
Domain *domain_find(u64 id) { return id >= 1 && id <= MAX_DOMAINS ? domains[id - 1] : nullptr; }

usize domain_count()
{
    usize count = 0;
    for_each_domain([&](Domain &) { count++; });
    return count;
}

const char *vcpu_state_name(const Vcpu &vcpu)
{
    if (!vcpu.up)
        return "down";
    return vcpu.blocked ? "blocked" : "running";
}

const char *guest_kind_name(GuestKind kind)
{
    switch (kind) {
    case GuestKind::baton: return "baton";
    case GuestKind::pc: return "pc";
    }
    return "unknown";
}

int domain_create(const DomainConfig &config, char *why, usize why_capacity)
{
    if (config.ram_bytes < DOMAIN_MIN_RAM || config.ram_bytes > DOMAIN_MAX_RAM ||
        !is_aligned(config.ram_bytes, PAGE_SIZE))
        return fail(nullptr, -BATON_EINVAL, why, why_capacity,
                    "RAM size 0x%lx must be a multiple of 4 KiB between 4 MiB and 4 GiB", config.ram_bytes);
    if (config.vcpus < 1 || config.vcpus > MAX_VCPUS)
        return fail(nullptr, -BATON_EINVAL, why, why_capacity, "vcpus=%u: a domain has 1 to %u vCPUs", config.vcpus,
                    MAX_VCPUS);
    // The emulated PC describes one processor (its MP table, one local APIC): more would
    // need an AP start-up through INIT/SIPI, which the platform does not model yet.
    if (config.kind == GuestKind::pc && config.vcpus != 1)
        return fail(nullptr, -BATON_EINVAL, why, why_capacity,
                    "vcpus=%u: a kind=pc guest has exactly one vCPU for now (docs/vcpus.md)", config.vcpus);
    u16 slot = 0;
    while (slot < MAX_DOMAINS && domains[slot] != nullptr)
        slot++;
    if (slot == MAX_DOMAINS)
        return fail(nullptr, -BATON_ENOSPC, why, why_capacity, "all %u domain slots are in use", MAX_DOMAINS);

    Domain *domain = domain_install(static_cast<u16>(slot + 1));
    if (domain == nullptr)
        return fail(nullptr, -BATON_ENOMEM, why, why_capacity, "out of heap memory for the domain");
    copy_name(domain->name, config.name);
    domain->ram_bytes = config.ram_bytes;
    domain->created_ns = time_now_ns();

    if (domain->p2m.create() != 0 || domain->p2m.populate_ram(0, config.ram_bytes >> PAGE_SHIFT, P2mAccess::rwx) != 0)
        return fail(domain, -BATON_ENOMEM, why, why_capacity, "not enough memory for %lu MiB of guest RAM",
                    config.ram_bytes / MiB);

    domain->kind = config.kind;
    u32 entry = 0, start_info = BATON_START_INFO_GPA;
    if (config.kind == GuestKind::pc) {
        if (int error = arch_platform_create(*domain, why, why_capacity))
            return fail(domain, error, why, why_capacity, "cannot build the emulated PC");
        const LinuxImages images{config.image,       config.image_size,   config.initrd,
                                 config.initrd_size, config.command_line, timer::tsc_khz()};
        if (int error = load_linux_pvh(*domain, images, entry, start_info, why, why_capacity))
            return fail(domain, error, why, why_capacity, nullptr);
    } else if (int error = load_guest_image(*domain, config.image, config.image_size, config.command_line, entry, why,
                                            why_capacity)) {
        return fail(domain, error, why, why_capacity, nullptr);
    }

    // The shared-info page: preserved (it lives across updates), flagged as an extra
    // page, never counted as guest RAM.
    u64 shared = frame_allocator().alloc_frames(0, MemClass::preserved, domain->id, FrameType::extra);
    if (shared == 0)
        return fail(domain, -BATON_ENOMEM, why, why_capacity, "no memory for the shared-info page");
    domain->shared_info_mfn = shared >> PAGE_SHIFT;
    // Just allocated as a preserved extra frame of this domain: flagging it cannot fail.
    (void)frame_allocator().set_extra_page(shared, true);
    u8 *bytes = phys_to<u8>(shared);
    for (u64 i = 0; i < PAGE_SIZE; i++)
        bytes[i] = 0;
    fill_shared_info(*domain);

    // Every vCPU gets its hardware state now, so that starting one later cannot run out
    // of memory; only vCPU 0 is up.
    domain->vcpu_count = config.vcpus;
    for (u16 i = 0; i < domain->vcpu_count; i++) {
        if (int error = arch_vcpu_create(domain->vcpus[i], domain->p2m.nested_root(), i == 0 ? entry : 0,
                                         i == 0 ? start_info : 0))
            return fail(domain, error, why, why_capacity, "cannot create vCPU %u", i);
    }
    domain->vcpus[0].up = true;
    (void)scheduler_place(domain->vcpus[0]);
    domain->state = DomainState::running;
    log_info("dom: d%u '%s' created: %s guest, %lu MiB RAM, %u vCPU%s, entry 0x%x", domain->id, domain->name,
             guest_kind_name(domain->kind), config.ram_bytes / MiB, domain->vcpu_count,
             domain->vcpu_count == 1 ? "" : "s", entry);
    return domain->id;
}

namespace {
// How long a CPU may take to leave a vCPU it was told to stop: one exit and its handling.
constexpr u64 VCPU_STOP_TIMEOUT_NS = 500 * NS_PER_MS;

// After the domain stopped being runnable: waits until no other CPU runs one of its vCPUs.
int wait_for_vcpus(Domain &domain)
{
    u32 late_cpu = NO_CPU;
    if (scheduler_wait_unclaimed(&domain, VCPU_STOP_TIMEOUT_NS, late_cpu))
        return 0;
    log_error("dom: d%u '%s': CPU %u did not leave its vCPU within %lu ms", domain.id, domain.name, late_cpu,
              VCPU_STOP_TIMEOUT_NS / NS_PER_MS);
    return -BATON_ETIMEDOUT;
}
} // namespace

int domain_pause(u16 id)
{
    Domain *domain = domain_find(id);
    if (domain == nullptr)
        return -BATON_ENOENT;
    if (domain->state != DomainState::running)
        return -BATON_EBUSY;
    domain->state = DomainState::paused;
    return wait_for_vcpus(*domain);
}

int domain_unpause(u16 id)
{
    Domain *domain = domain_find(id);
    if (domain == nullptr)
        return -BATON_ENOENT;
    if (domain->state != DomainState::paused)
        return -BATON_EBUSY;
    domain->state = DomainState::running;
    for (u16 i = 0; i < domain->vcpu_count; i++)
        scheduler_kick(domain->vcpus[i]);
    return 0;
}

int domain_destroy(u16 id)
{
    Domain *domain = domain_find(id);
    if (domain == nullptr)
        return -BATON_ENOENT;
    // No CPU may be inside one of its vCPUs when it goes: stop them first (a refusal leaves
    // the domain paused, whole).
    if (domain->state == DomainState::running)
        domain->state = DomainState::paused;
    if (int error = wait_for_vcpus(*domain))
        return error;
    // Peers bound to this domain's ports see them closed.
    for_each_domain([&](Domain &other) {
        for (u16 port = 1; port < BATON_EVTCHN_PORTS; port++) {
            EventPort *p = other.events.port(port);
            if (p && p->state == PortState::interdomain && p->remote_domid == id && &other != domain)
                (void)other.events.close(port); // an open interdomain port: closing it cannot fail
        }
    });
    log_info("dom: d%u '%s' destroyed", domain->id, domain->name);
    release(domain);
    return 0;
}

void domain_crash(Domain &domain, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    format_v(domain.stop_reason, sizeof(domain.stop_reason), fmt, args);
    va_end(args);
    domain.state = DomainState::crashed;
    log_error("dom: d%u '%s' crashed: %s", domain.id, domain.name, domain.stop_reason);
}

void domain_shutdown(Domain &domain, u64 reason)
{
    if (reason == BATON_SHUTDOWN_CRASH)
        return domain_crash(domain, "the guest reported a fatal error");
    format(domain.stop_reason, sizeof(domain.stop_reason), "the guest powered off");
    domain.state = DomainState::shut_down;
    log_info("dom: d%u '%s' shut down", domain.id, domain.name);
}

void domain_console_write(Domain &domain, const char *text, usize length)
{
    for (usize i = 0; i < length; i++) {
        char c = text[i];
        if (c == '\r')
            continue; // serial consoles end lines with CR LF
        bool line_full = domain.console_length + 1 >= sizeof(domain.console);
        if (c != '\n' && !line_full) {
            // Control characters from a guest must not drive the host terminal.
            domain.console[domain.console_length++] = (c >= 0x20 && c < 0x7f) || c == '\t' ? c : '?';
            continue;
        }
        if (c != '\n')
            domain.console[domain.console_length++] = c >= 0x20 && c < 0x7f ? c : '?';
        domain.console[domain.console_length] = '\0';
        log_info("[d%u %s] %s", domain.id, domain.name, domain.console);
        domain.console_length = 0;
    }
}

int domain_place_extra_page(Domain &domain, u64 mfn, u64 &mapped_gfn, u64 gfn)
{
    if (gfn >= (domain.ram_bytes >> PAGE_SHIFT))
        return -BATON_EINVAL;
    P2mEntry below = domain.p2m.lookup(gfn);
    if (gfn != mapped_gfn && !(below.owned && p2m_type_is_ram(below.type)))
        return -BATON_EINVAL; // only over the guest's own RAM (not another extra page)
    if (mapped_gfn == gfn)
        return 0;
    if (mapped_gfn != NO_GFN) {
        if (int error = domain.p2m.unmap(mapped_gfn, 1))
            return error; // still mapped where it was: nothing changed
        mapped_gfn = NO_GFN;
    }
    if (int error = domain.p2m.map(gfn, mfn, 1, P2mType::ram_rw, P2mAccess::rw))
        return error;
    mapped_gfn = gfn;
    for (u16 i = 0; i < domain.vcpu_count; i++)
        arch_vcpu_flush_guest_tlb(domain.vcpus[i], domain.p2m.views().root(domain.vcpus[i].view));
    return 0;
}

int domain_map_shared_info(Domain &domain, u64 gfn)
{
    if (int error = domain_place_extra_page(domain, domain.shared_info_mfn, domain.shared_info_gfn, gfn))
        return error;
    domain.events.attach_shared_info(domain.shared_info());
    return 0;
}

int vcpu_switch_view(Vcpu &vcpu, u16 view)
{
    P2mViews &views = vcpu.domain->p2m.views();
    if (view == vcpu.view)
        return 0;
    if (int error = views.enter(view))
        return error;
    views.leave(vcpu.view);
    vcpu.view = view;
    // Another root: the guest's TLB entries came from the old view's tables.
    arch_vcpu_flush_guest_tlb(vcpu, views.root(view));
    return 0;
}

int domain_switch_view(Domain &domain, u16 view)
{
    // Only a view that does not exist refuses, and then it refuses the first vCPU too.
    for (u16 i = 0; i < domain.vcpu_count; i++)
        if (int error = vcpu_switch_view(domain.vcpus[i], view))
            return error;
    return 0;
}

int domain_vcpu_up(Domain &domain, u64 index, u64 entry, u64 stack)
{
    Vcpu *vcpu = domain.vcpu(index);
    if (vcpu == nullptr)
        return -BATON_ENOENT;
    if (vcpu->up)
        return -BATON_EBUSY;
    if (domain.kind != GuestKind::baton)
        return -BATON_EPERM;
    // The vCPU starts in 32-bit protected mode without paging: entry and the top of its
    // stack are guest-physical addresses below 4 GiB, in the guest's own RAM.
    const u64 ram_end = domain.ram_bytes < 4 * GiB ? domain.ram_bytes : 4 * GiB;
    if (entry >= ram_end || stack == 0 || stack > ram_end)
        return -BATON_EFAULT;
    const P2mEntry code = domain.p2m.lookup(entry >> PAGE_SHIFT);
    const P2mEntry top = domain.p2m.lookup((stack - 1) >> PAGE_SHIFT);
    if (!(code.owned && p2m_type_is_ram(code.type)) || !(top.owned && p2m_type_is_ram(top.type)))
        return -BATON_EFAULT;
    arch_vcpu_start(*vcpu, static_cast<u32>(entry), static_cast<u32>(stack), BATON_START_INFO_GPA,
                    static_cast<u32>(index));
    vcpu->blocked = false;
    vcpu->wake_deadline_ns = 0;
    vcpu->up = true;
    const u32 home = scheduler_place(*vcpu);
    scheduler_kick(*vcpu);
    log_info("dom: d%u '%s' vCPU %lu up at 0x%lx, stack 0x%lx, on CPU %u", domain.id, domain.name, index, entry, stack,
             home);
    return 0;
}

namespace {
void deliver_to(Domain &domain, u32 vcpus)
{
    for (u16 i = 0; i < domain.vcpu_count; i++)
        if ((vcpus >> i) & 1)
            arch_vcpu_request_upcall(domain.vcpus[i], domain.events.upcall_vector());
}
} // namespace

void domain_raise_event(Domain &domain, u16 port)
{
    const EventPort *p = domain.events.port(port);
    if (p != nullptr && domain.events.raise(port))
        deliver_to(domain, u32{1} << p->notify_vcpu);
}

u64 domains_tick(u64 now_ns)
{
    u64 next = ~u64{0};
    for_each_domain([&](Domain &domain) {
        if (domain.state != DomainState::running)
            return;
        if (domain.shared_info_gfn != NO_GFN)
            domain.shared_info()->time_ns = now_ns;
        deliver_to(domain, domain.events.fire_timers(now_ns, next));
        // The emulated PC has one vCPU (and its devices interrupt vCPU 0).
        const bool device_interrupt = domain.platform != nullptr && arch_platform_tick(domain);
        for (u16 i = 0; i < domain.vcpu_count; i++) {
            Vcpu &vcpu = domain.vcpus[i];
            if (vcpu.blocked && ((i == 0 && device_interrupt) || domain.events.has_deliverable_for(i) ||
                                 (vcpu.wake_deadline_ns != 0 && now_ns >= vcpu.wake_deadline_ns))) {
                vcpu.blocked = false;
                scheduler_kick(vcpu);
            }
        }
    });
    return next;
}
