// SPDX-License-Identifier: MIT
// Event channels of one domain: ports, their binding, and pending/mask bits in the
// shared-info page (abi/hypercall.h).
#pragma once
#include "abi/hypercall.h"
#include "lib/types.hpp"

enum class PortState : u8 { free, unbound, interdomain, timer };

struct EventPort {
    PortState state = PortState::free;
    u16 remote_domid = 0; // unbound: who may bind; interdomain: the peer
    u16 remote_port = 0;
    u64 period_ns = 0; // timer
    u64 next_fire_ns = 0; // timer
    u16 notify_vcpu = 0; // the vCPU its upcall goes to (BATON_EVTCHN_BIND_VCPU)
};

class EventChannels final {
public:
    // Where pending and mask bits live. Before the guest maps its shared-info page they
    // are kept here and copied over when it is attached.
    void attach_shared_info(baton_shared_info *shared);
    baton_shared_info *shared_info() const { return shared_; }
    // vCPU `vcpu`'s info page (BATON_HC_VCPU_INFO_MAP): from now on its upcall flags are
    // the ones there. `vcpu` < VCPU_INFO_SLOTS; nullptr goes back to the shared-info page.
    static constexpr u16 VCPU_INFO_SLOTS = 8;
    void attach_vcpu_info(u16 vcpu, baton_vcpu_info *info);
    baton_vcpu_info *vcpu_info(u16 vcpu) const { return vcpu < VCPU_INFO_SLOTS ? vcpu_info_[vcpu] : nullptr; }

    [[nodiscard]] int set_upcall_vector(u64 vector);
    u8 upcall_vector() const { return upcall_vector_; }

    // Each returns the new port or a negative errno.
    [[nodiscard]] int bind_timer(u64 period_ns, u64 now_ns);
    [[nodiscard]] int alloc_unbound(u16 remote_domid);
    // Binds local port to (remote_domid, remote_port); the caller has checked that the
    // remote port is unbound and offered to this domain, and binds the peer side too.
    [[nodiscard]] int bind_interdomain(u16 remote_domid, u16 remote_port);
    void connect(u16 port, u16 remote_domid, u16 remote_port);
    // -BATON_EINVAL for a port number out of range, -BATON_ENOENT for a free port.
    [[nodiscard]] int close(u64 port);
    // Sends `port`'s upcalls to vCPU `vcpu` (the caller checked that the vCPU exists).
    // -BATON_EINVAL for a port number out of range, -BATON_ENOENT for a free port.
    [[nodiscard]] int bind_vcpu(u64 port, u16 vcpu);
    // Live update: puts a saved port back as it was, bits included. -BATON_EINVAL for port
    // 0, a port out of range or already in use, or a free state.
    [[nodiscard]] int restore_port(u64 port, const EventPort &state, bool pending, bool masked);
    const EventPort *port(u64 port) const;
    EventPort *port(u64 port);

    // Makes `port` pending. Returns true when an upcall should be delivered now (the port
    // is not masked, upcalls are not masked for the vCPU it notifies, a vector is set).
    [[nodiscard]] bool raise(u16 port);
    // Clears the mask bit; returns true if the event is pending and should be delivered.
    [[nodiscard]] bool unmask(u64 port);
    // Raises every timer port whose deadline has passed; returns the vCPUs (bit n: vCPU
    // n) an upcall should be delivered to, 0 for none. `next_deadline` is lowered to the
    // earliest future deadline.
    [[nodiscard]] u32 fire_timers(u64 now_ns, u64 &next_deadline);
    // True when something unmasked is pending on any port.
    bool has_deliverable() const;
    // True when something unmasked is pending on a port that notifies `vcpu` (what its
    // BATON_HC_BLOCK waits for).
    bool has_deliverable_for(u16 vcpu) const;

    // Bits, in the shared-info page once attached, else in the local copies.
    bool pending(u16 port) const;
    bool masked(u16 port) const;

private:
    [[nodiscard]] int find_free_port() const;
    u64 *pending_words();
    u64 *mask_words();
    const u64 *pending_words() const;
    const u64 *mask_words() const;

    EventPort ports_[BATON_EVTCHN_PORTS];
    baton_shared_info *shared_ = nullptr;
    baton_vcpu_info *vcpu_info_[VCPU_INFO_SLOTS] = {};
    u64 local_pending_[BATON_EVTCHN_WORDS] = {};
    u64 local_mask_[BATON_EVTCHN_WORDS] = {};
    u8 upcall_vector_ = 0;
};
