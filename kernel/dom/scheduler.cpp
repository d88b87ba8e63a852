// SPDX-License-Identifier: MIT
// Round-robin choice of the next vCPU to run on this CPU.
#include "dom/scheduler.hpp"
#include "dom/domain.hpp"

namespace {
u16 last_slot = MAX_DOMAINS - 1;
} // namespace

bool vcpu_runnable(const Vcpu &vcpu)
{
    return vcpu.domain != nullptr && vcpu.domain->state == DomainState::running && !vcpu.blocked &&
           vcpu.arch != nullptr;
}

Vcpu *scheduler_pick()
{
    for (u16 step = 1; step <= MAX_DOMAINS; step++) {
        u16 slot = static_cast<u16>((last_slot + step) % MAX_DOMAINS);
        Domain *domain = domain_slot(slot);
        if (domain != nullptr && vcpu_runnable(domain->vcpu)) {
            last_slot = slot;
            return &domain->vcpu;
        }
    }
    return nullptr;
}
