// SPDX-License-Identifier: MIT
// Call-function IPIs and their first user, the check that every CPU's TSC is in step.
#include "arch/x86_64/smp/call_function.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/local_apic.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/smp/smp.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"
#include "lib/time.hpp"

namespace smp {

namespace {
constexpr u64 IPI_ACCEPT_NS = 1 * NS_PER_MS;
Spinlock calls; // one request at a time: each CPU has one slot
} // namespace

int call_on_cpu(u32 index, CallFunction function, void *argument, u64 timeout_ns)
{
    PerCpu *target = cpu_if_up(index);
    if (target == nullptr || index == this_cpu().index || function == nullptr)
        return -BATON_EINVAL;
    calls.lock();
    __atomic_store_n(&target->call_done, 0u, __ATOMIC_RELAXED);
    __atomic_store_n(&target->call_argument, argument, __ATOMIC_RELAXED);
    __atomic_store_n(&target->call_function, function, __ATOMIC_RELEASE);
    int result = 0;
    if (!local_apic::send_ipi(
            target->apic_id, local_apic::DELIVERY_FIXED | local_apic::ICR_ASSERT | CALL_FUNCTION_VECTOR, IPI_ACCEPT_NS))
        result = -BATON_ETIMEDOUT;
    const u64 start = time_now_ns();
    while (result == 0 && __atomic_load_n(&target->call_done, __ATOMIC_ACQUIRE) == 0) {
        if (time_now_ns() - start >= timeout_ns) {
            result = -BATON_ETIMEDOUT;
            break;
        }
        cpu::pause();
    }
    if (result != 0) {
        // Withdraw it; if the handler took it meanwhile, it is running: wait for it, since
        // `argument` may live on this stack.
        CallFunction expected = function;
        if (!__atomic_compare_exchange_n(&target->call_function, &expected, nullptr, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            while (__atomic_load_n(&target->call_done, __ATOMIC_ACQUIRE) == 0)
                cpu::pause();
            result = 0;
        }
    }
    calls.unlock();
    return result;
}

void handle_call_function()
{
    PerCpu &cpu = this_cpu();
    if (CallFunction function = __atomic_exchange_n(&cpu.call_function, nullptr, __ATOMIC_ACQ_REL)) {
        function(__atomic_load_n(&cpu.call_argument, __ATOMIC_RELAXED));
        __atomic_store_n(&cpu.call_done, 1u, __ATOMIC_RELEASE);
    }
    local_apic::eoi();
}

namespace {
void read_tsc(void *out) { *static_cast<u64 *>(out) = cpu::rdtsc(); }
} // namespace

void check_tsc_in_step()
{
    constexpr u64 CALL_TIMEOUT_NS = 100 * NS_PER_MS;
    const u64 khz = timer::tsc_khz() != 0 ? timer::tsc_khz() : 1;
    usize checked = 0;
    u64 longest_round_trip = 0;
    for (u32 index = 1; index < MAX_CPUS; index++) {
        if (cpu_if_up(index) == nullptr)
            continue;
        u64 theirs = 0;
        const u64 before = cpu::rdtsc();
        const int error = call_on_cpu(index, read_tsc, &theirs, CALL_TIMEOUT_NS);
        const u64 after = cpu::rdtsc();
        if (error != 0) {
            log_warn("smp: CPU %u did not answer a call-function request within %lu ms", index,
                     CALL_TIMEOUT_NS / NS_PER_MS);
            continue;
        }
        checked++;
        if (after - before > longest_round_trip)
            longest_round_trip = after - before;
        // Its read lies between ours in real time; outside that window the clocks differ.
        if (theirs < before)
            log_warn("smp: CPU %u's TSC is at least %lu us behind the bootstrap CPU's", index,
                     (before - theirs) * 1000 / khz);
        else if (theirs > after)
            log_warn("smp: CPU %u's TSC is at least %lu us ahead of the bootstrap CPU's", index,
                     (theirs - after) * 1000 / khz);
    }
    if (checked != 0)
        log_info("smp: TSCs in step on %zu APs (each read inside a call-function round trip of at most %lu us)",
                 checked, longest_round_trip * 1000 / khz);
}

} // namespace smp
