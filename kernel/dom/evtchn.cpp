// SPDX-License-Identifier: MIT
// Event channels of one domain: ports, bindings and the pending/mask bits.
#include "dom/evtchn.hpp"
#include "abi/errno.h"

namespace {

constexpr u64 bit_of(u64 port) { return u64{1} << (port % 64); }

// Guests update the words concurrently on other vCPUs: every change is atomic.
void set_bit(u64 *words, u64 port) { __atomic_fetch_or(&words[port / 64], bit_of(port), __ATOMIC_SEQ_CST); }
void clear_bit(u64 *words, u64 port) { __atomic_fetch_and(&words[port / 64], ~bit_of(port), __ATOMIC_SEQ_CST); }
bool test_bit(const u64 *words, u64 port)
{
    return (__atomic_load_n(&words[port / 64], __ATOMIC_SEQ_CST) & bit_of(port)) != 0;
}

} // namespace

u64 *EventChannels::pending_words() { return shared_ ? shared_->evtchn_pending : local_pending_; }
u64 *EventChannels::mask_words() { return shared_ ? shared_->evtchn_mask : local_mask_; }
const u64 *EventChannels::pending_words() const { return shared_ ? shared_->evtchn_pending : local_pending_; }
const u64 *EventChannels::mask_words() const { return shared_ ? shared_->evtchn_mask : local_mask_; }

void EventChannels::attach_vcpu_info(u16 vcpu, baton_vcpu_info *info)
{
    if (vcpu < VCPU_INFO_SLOTS)
        vcpu_info_[vcpu] = info;
}

void EventChannels::attach_shared_info(baton_shared_info *shared)
{
    if (shared != nullptr && shared_ == nullptr) {
        for (usize i = 0; i < BATON_EVTCHN_WORDS; i++) {
            shared->evtchn_pending[i] |= local_pending_[i];
            shared->evtchn_mask[i] |= local_mask_[i];
        }
    }
    shared_ = shared;
}

int EventChannels::restore_port(u64 port, const EventPort &state, bool pending, bool masked)
{
    if (port == 0 || port >= BATON_EVTCHN_PORTS || ports_[port].state != PortState::free ||
        state.state == PortState::free)
        return -BATON_EINVAL;
    ports_[port] = state;
    pending ? set_bit(pending_words(), port) : clear_bit(pending_words(), port);
    masked ? set_bit(mask_words(), port) : clear_bit(mask_words(), port);
    return 0;
}

int EventChannels::set_upcall_vector(u64 vector)
{
    if (vector < 32 || vector > 255)
        return -BATON_EINVAL;
    upcall_vector_ = static_cast<u8>(vector);
    return 0;
}

int EventChannels::find_free_port() const
{
    // Port 0 is never handed out, so a zeroed variable in a guest is not a valid port.
    for (usize port = 1; port < BATON_EVTCHN_PORTS; port++) {
        if (ports_[port].state == PortState::free)
            return static_cast<int>(port);
    }
    return -BATON_ENOSPC;
}

int EventChannels::bind_timer(u64 period_ns, u64 now_ns)
{
    if (period_ns < BATON_TIMER_MIN_PERIOD_NS || period_ns > 3600 * u64{1000000000})
        return -BATON_EINVAL;
    int port = find_free_port();
    if (port < 0)
        return port;
    ports_[port] = EventPort{PortState::timer, 0, 0, period_ns, now_ns + period_ns};
    return port;
}

int EventChannels::alloc_unbound(u16 remote_domid)
{
    int port = find_free_port();
    if (port < 0)
        return port;
    ports_[port] = EventPort{PortState::unbound, remote_domid, 0, 0, 0};
    return port;
}

int EventChannels::bind_interdomain(u16 remote_domid, u16 remote_port)
{
    int port = find_free_port();
    if (port < 0)
        return port;
    connect(static_cast<u16>(port), remote_domid, remote_port);
    return port;
}

void EventChannels::connect(u16 port, u16 remote_domid, u16 remote_port)
{
    ports_[port] = EventPort{PortState::interdomain, remote_domid, remote_port, 0, 0};
}

int EventChannels::bind_vcpu(u64 port, u16 vcpu)
{
    EventPort *p = this->port(port);
    if (p == nullptr || vcpu >= 32)
        return -BATON_EINVAL;
    if (p->state == PortState::free)
        return -BATON_ENOENT;
    p->notify_vcpu = vcpu;
    return 0;
}

int EventChannels::close(u64 port)
{
    EventPort *p = this->port(port);
    if (p == nullptr)
        return -BATON_EINVAL;
    if (p->state == PortState::free)
        return -BATON_ENOENT;
    *p = EventPort{};
    clear_bit(pending_words(), port);
    return 0;
}

const EventPort *EventChannels::port(u64 port) const
{
    return port > 0 && port < BATON_EVTCHN_PORTS ? &ports_[port] : nullptr;
}
EventPort *EventChannels::port(u64 port) { return port > 0 && port < BATON_EVTCHN_PORTS ? &ports_[port] : nullptr; }

bool EventChannels::pending(u16 port) const { return port < BATON_EVTCHN_PORTS && test_bit(pending_words(), port); }
bool EventChannels::masked(u16 port) const { return port < BATON_EVTCHN_PORTS && test_bit(mask_words(), port); }

bool EventChannels::raise(u16 port)
{
    if (port == 0 || port >= BATON_EVTCHN_PORTS)
        return false;
    set_bit(pending_words(), port);
    if (masked(port) || upcall_vector_ == 0)
        return false;
    // The upcall flags of the vCPU the port notifies: its own page's once it has one.
    baton_vcpu_info *info = vcpu_info(ports_[port].notify_vcpu);
    volatile u8 *upcall_mask = info != nullptr      ? &info->upcall_mask
                               : shared_ != nullptr ? &shared_->upcall_mask
                                                    : nullptr;
    volatile u8 *upcall_pending = info != nullptr      ? &info->upcall_pending
                                  : shared_ != nullptr ? &shared_->upcall_pending
                                                       : nullptr;
    if (upcall_mask != nullptr) {
        if (*upcall_mask != 0)
            return false;
        *upcall_pending = 1;
    }
    return true;
}

bool EventChannels::unmask(u64 port)
{
    if (port == 0 || port >= BATON_EVTCHN_PORTS)
        return false;
    clear_bit(mask_words(), port);
    return pending(static_cast<u16>(port)) && raise(static_cast<u16>(port));
}

u32 EventChannels::fire_timers(u64 now_ns, u64 &next_deadline)
{
    u32 deliver = 0;
    for (usize i = 1; i < BATON_EVTCHN_PORTS; i++) {
        EventPort &p = ports_[i];
        if (p.state != PortState::timer)
            continue;
        if (now_ns >= p.next_fire_ns) {
            if (raise(static_cast<u16>(i)))
                deliver |= u32{1} << p.notify_vcpu;
            // Missed periods collapse into one event: the guest sees time via TIME.
            u64 missed = (now_ns - p.next_fire_ns) / p.period_ns + 1;
            p.next_fire_ns += missed * p.period_ns;
        }
        if (p.next_fire_ns < next_deadline)
            next_deadline = p.next_fire_ns;
    }
    return deliver;
}

bool EventChannels::has_deliverable() const
{
    const u64 *pending = pending_words();
    const u64 *mask = mask_words();
    for (usize i = 0; i < BATON_EVTCHN_WORDS; i++) {
        if (__atomic_load_n(&pending[i], __ATOMIC_SEQ_CST) & ~__atomic_load_n(&mask[i], __ATOMIC_SEQ_CST))
            return true;
    }
    return false;
}

bool EventChannels::has_deliverable_for(u16 vcpu) const
{
    const u64 *pending = pending_words();
    const u64 *mask = mask_words();
    for (usize i = 0; i < BATON_EVTCHN_WORDS; i++) {
        u64 ready = __atomic_load_n(&pending[i], __ATOMIC_SEQ_CST) & ~__atomic_load_n(&mask[i], __ATOMIC_SEQ_CST);
        for (; ready != 0; ready &= ready - 1) {
            const usize port = i * 64 + static_cast<usize>(__builtin_ctzll(ready));
            if (ports_[port].notify_vcpu == vcpu)
                return true;
        }
    }
    return false;
}
