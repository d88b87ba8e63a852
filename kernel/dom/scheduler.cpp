// SPDX-License-Identifier: MIT
// Round-robin choice of the next vCPU to run on this CPU.
#include "dom/scheduler.hpp"
#include "dom/domain.hpp"

namespace {
// Round robin over (domain slot, vCPU) pairs: every vCPU of every domain gets its turn,
// so a domain with 4 vCPUs gets 4 turns to a 1-vCPU domain's one. Only the bootstrap CPU
// runs vCPUs today; when others do, each needs its own position (and a vCPU must be
// taken by one CPU at a time).
constexpr u32 SLOTS = u32{MAX_DOMAINS} * MAX_VCPUS;
u32 last_position = SLOTS - 1;
} // namespace

bool vcpu_runnable(const Vcpu &vcpu)
{
    return vcpu.domain != nullptr && vcpu.domain->state == DomainState::running && vcpu.up && !vcpu.blocked &&
           vcpu.arch != nullptr;
}

Vcpu *scheduler_pick()
{
    for (u32 step = 1; step <= SLOTS; step++) {
        const u32 position = (last_position + step) % SLOTS;
        Domain *domain = domain_slot(static_cast<u16>(position / MAX_VCPUS));
        Vcpu *vcpu = domain != nullptr ? domain->vcpu(position % MAX_VCPUS) : nullptr;
        if (vcpu != nullptr && vcpu_runnable(*vcpu)) {
            last_position = position;
            return vcpu;
        }
    }
    return nullptr;
}
