// SPDX-License-Identifier: MIT
// Domains: a guest's memory, vCPUs, events, shared-info page and console, and the table
// of all domains with their life cycle (create, pause, unpause, destroy, crash).
#pragma once
#include "dom/evtchn.hpp"
#include "dom/p2m.hpp"
#include "dom/vcpu.hpp"

inline constexpr u16 MAX_DOMAINS = 32; // domain ids 1..MAX_DOMAINS
inline constexpr usize DOMAIN_NAME_SIZE = 32;
inline constexpr u64 DOMAIN_MIN_RAM = 4 * MiB;
inline constexpr u64 DOMAIN_MAX_RAM = 4 * GiB;
inline constexpr u64 NO_GFN = ~u64{0};

enum class DomainState : u8 {
    running, // its vCPUs that are up are scheduled (each may be blocked waiting for an event)
    paused, // stopped by the control channel; unpause resumes it exactly where it was
    shut_down, // the guest asked to power off
    crashed, // a fault the guest cannot recover from; kept for inspection until destroyed
};
const char *domain_state_name(DomainState state);

// What a domain's guest expects of the machine: Baton's own test guests use hypercalls
// and the start info of abi/hypercall.h; a PC guest (an unmodified Linux) gets the
// emulated PC of docs/guest-platform.md and is entered through PVH. The schema's
// GuestKind is the one list of them.
enum class GuestKind : u8 { HANDOVER_ENUM_GUEST_KIND(BATON_ENUMERATOR) };
const char *guest_kind_name(GuestKind kind);

class Domain final {
public:
    explicit Domain(u16 domain_id) : id(domain_id), p2m(domain_id)
    {
        for (u16 i = 0; i < MAX_VCPUS; i++) {
            vcpus[i].domain = this;
            vcpus[i].id = i;
        }
    }

    const u16 id;
    char name[DOMAIN_NAME_SIZE] = {};
    DomainState state = DomainState::paused;
    u64 ram_bytes = 0;
    GuestKind kind = GuestKind::baton;
    P2m p2m;
    EventChannels events;
    Vcpu vcpus[MAX_VCPUS]; // [0, vcpu_count) exist
    u16 vcpu_count = 1;
    PcPlatform *platform = nullptr; // the emulated PC of a GuestKind::pc domain (arch)
    u64 shared_info_mfn = 0; // the extra page (preserved, flagged extra)
    u64 shared_info_gfn = NO_GFN; // where the guest mapped it, if it did
    char console[160] = {}; // the guest's current console line
    usize console_length = 0;
    char stop_reason[128] = {}; // why it crashed or shut down
    u64 created_ns = 0;

    baton_shared_info *shared_info() const;
    // vCPU `index`, or nullptr when the domain has no such vCPU.
    Vcpu *vcpu(u64 index) { return index < vcpu_count ? &vcpus[index] : nullptr; }
};

struct DomainConfig {
    const char *name = nullptr; // defaults to the module name
    u64 ram_bytes = 16 * MiB;
    GuestKind kind = GuestKind::baton;
    u16 vcpus = 1; // 1..MAX_VCPUS; a PC guest has exactly one for now
    const void *image = nullptr; // ELF64 guest image (for a PC guest: the vmlinux)
    u64 image_size = 0;
    const void *initrd = nullptr; // a PC guest's initramfs, optional
    u64 initrd_size = 0;
    const char *command_line = ""; // handed to the guest after its start info / the kernel's
};

inline constexpr usize DOMAIN_MESSAGE_SIZE = 160;

// Builds a domain and leaves it running. On failure nothing is left allocated and `why`
// says what was wrong; returns the new id or a negative errno.
[[nodiscard]] int domain_create(const DomainConfig &config, char *why, usize why_capacity);
// Each returns 0 or -BATON_ENOENT (no such domain) / -BATON_EBUSY (wrong state). Pausing
// returns once no CPU runs one of its vCPUs (-BATON_ETIMEDOUT, the domain left paused, if a
// CPU did not leave its vCPU in time); the caller holds the hypervisor lock and no other.
[[nodiscard]] int domain_pause(u16 id);
[[nodiscard]] int domain_unpause(u16 id);
// Returns every frame the domain held; the free-frame count is back where it was. Waits
// for its vCPUs to leave every CPU as pausing does (-BATON_ETIMEDOUT: nothing destroyed).
[[nodiscard]] int domain_destroy(u16 id);
// Stops the domain for good and reports why; other domains keep running.
void domain_crash(Domain &domain, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void domain_shutdown(Domain &domain, u64 reason);

// Live update: an empty domain in slot `id` (named, paused, no memory yet) for the
// restore path to fill; nullptr if the id is out of range or taken, or no heap is left.
Domain *domain_install(u16 id);
// Frees whatever a partly restored domain holds and empties its slot.
void domain_discard(Domain &domain);
// Empties the table without freeing anything: host tests use it to stand in for the
// next image, which starts with an empty table over memory the old one described.
void domains_forget_all();
// The live-update generation shown to guests in the shared-info page (0 at first boot),
// and refreshing that page after an update (generation and build id).
void domains_set_generation(u64 generation);
u64 domains_generation();
void domain_refresh_shared_info(Domain &domain);

Domain *domain_find(u64 id);
// Calls visit(Domain&) for every existing domain in id order.
template <typename Visit>
void for_each_domain(Visit &&visit);
usize domain_count();

// Appends guest console output; complete lines are printed as "[dN name] text".
void domain_console_write(Domain &domain, const char *text, usize length);
// Maps the shared-info page at `gfn` (a RAM frame of the guest); moves it if mapped.
[[nodiscard]] int domain_map_shared_info(Domain &domain, u64 gfn);
// Maps the extra page `mfn` at `gfn` over the guest's own RAM, moving it from
// `mapped_gfn` (NO_GFN: not mapped), which is updated; every vCPU's guest TLB is flushed.
// -BATON_EINVAL for a gfn beyond RAM or not the guest's RAM; on an error nothing changed.
[[nodiscard]] int domain_place_extra_page(Domain &domain, u64 mfn, u64 &mapped_gfn, u64 gfn);
// Moves `vcpu` into p2m view `view` (0: the host p2m): it runs on that view's nested
// tables from its next entry. -BATON_ENOENT if the view does not exist.
[[nodiscard]] int vcpu_switch_view(Vcpu &vcpu, u16 view);
// The same for every vCPU of the domain (what the control channel's `view switch` does):
// all of them or, on failure, none.
[[nodiscard]] int domain_switch_view(Domain &domain, u16 view);
// BATON_HC_VCPU_UP: starts down vCPU `index` of the caller's domain at `entry` with
// ESP = `stack` (guest-physical, in its RAM). -BATON_ENOENT: no such vCPU; -BATON_EBUSY:
// it is already up; -BATON_EFAULT: entry or stack outside the guest's RAM; -BATON_EPERM:
// not a Baton guest. Nothing changes on failure.
[[nodiscard]] int domain_vcpu_up(Domain &domain, u64 index, u64 entry, u64 stack);
// Makes `port` of `domain` pending and asks for an upcall on the vCPU the port notifies
// if it can be delivered (and wakes that vCPU).
void domain_raise_event(Domain &domain, u16 port);
// Fires due timer events of every domain and wakes vCPUs with something to deliver or
// whose deadline passed. Returns the earliest future timer deadline (or ~0).
u64 domains_tick(u64 now_ns);

// ---- implementation of the iteration template ------------------------------------------
Domain *domain_slot(u16 index);
template <typename Visit>
void for_each_domain(Visit &&visit)
{
    for (u16 i = 0; i < MAX_DOMAINS; i++) {
        if (Domain *d = domain_slot(i))
            visit(*d);
    }
}
