// SPDX-License-Identifier: MIT
// A guest's other vCPUs: starting them with BATON_HC_VCPU_UP, and waiting for each other.
#pragma once
#include <stdint.h>

namespace guest {

constexpr unsigned MAX_VCPUS = 8; // the hypervisor's limit (docs/vcpus.md)

using Vcpu_main = void (*)(unsigned vcpu);

// The domain's vCPUs (BATON_HC_DOMAIN_INFO): the module's or `create`'s vcpus=, 1..8.
unsigned vcpu_count();

// Starts vCPUs 1..count-1, each on a stack of its own, in main(index); main should not
// return (if it does, the vCPU parks). Returns how many vCPUs run, this one included:
// fewer than count if the hypervisor refused one (which is reported).
unsigned start_vcpus(unsigned count, Vcpu_main main);

// Waits until *word >= target, letting the other vCPUs run meanwhile (they share the
// physical CPU with this one, so spinning without yielding would only waste its slice).
void wait_at_least(const volatile uint64_t *word, uint64_t target);

} // namespace guest
