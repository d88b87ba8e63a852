// SPDX-License-Identifier: MIT
// A guest's other vCPUs: their stacks, their start through BATON_HC_VCPU_UP, their entry.
#include "lib/smp.hpp"
#include "lib/interrupts.hpp"
#include "lib/runtime.hpp"

extern "C" char guest_vcpu_entry[]; // lib/start.S

namespace guest {
namespace {

constexpr uint64_t VCPU_STACK_SIZE = 0x4000;
alignas(16) char vcpu_stacks[MAX_VCPUS][VCPU_STACK_SIZE]; // [0] unused: vCPU 0 has the main stack
Vcpu_main vcpu_main;

} // namespace

unsigned vcpu_count()
{
    baton_domain_info info{};
    if (domain_info(&info, sizeof(info)) < static_cast<long>(sizeof(info.domid) + sizeof(info.vcpus)))
        return 1;
    return info.vcpus >= 1 && info.vcpus <= MAX_VCPUS ? info.vcpus : 1;
}

unsigned start_vcpus(unsigned count, Vcpu_main main)
{
    vcpu_main = main;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); // main is in memory before anyone reads it
    unsigned running = 1;
    for (unsigned index = 1; index < count && index < MAX_VCPUS; ++index) {
        const uint64_t stack = gpa_of(vcpu_stacks[index] + VCPU_STACK_SIZE);
        long result = hypercall(BATON_HC_VCPU_UP, index, gpa_of(guest_vcpu_entry), stack);
        if (result != 0) {
            report("ERROR vcpu_up %u refused: %ld", index, result);
            continue;
        }
        ++running;
    }
    return running;
}

void wait_at_least(const volatile uint64_t *word, uint64_t target)
{
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < target)
        yield();
}

} // namespace guest

extern "C" [[noreturn]] void runtime_vcpu_start(unsigned index)
{
    guest::interrupts_init_secondary();
    guest::report("vcpu %u up", index);
    guest::vcpu_main(index);
    guest::report("vcpu %u: main returned; parking it", index);
    for (;;)
        guest::block(0); // no event is ever bound to it: it sleeps for good
}
