// SPDX-License-Identifier: MIT
// Concurrency test support: threads standing in for CPUs, a reusable barrier, and a run-together helper.
#pragma once
#include "host_platform.hpp"
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace concurrency_test {

// How many threads play CPUs: enough to interleave, few enough for a 2-core machine under
// ThreadSanitizer.
inline constexpr unsigned CPUS = 6;

// Every thread waits until all have arrived; reusable round after round.
class Barrier final {
public:
    explicit Barrier(unsigned count) : count_(count) {}
    void arrive_and_wait()
    {
        const unsigned round = round_.load(std::memory_order_acquire);
        if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
            arrived_.store(0, std::memory_order_relaxed);
            round_.fetch_add(1, std::memory_order_release);
            return;
        }
        while (round_.load(std::memory_order_acquire) == round)
            std::this_thread::yield();
    }

private:
    const unsigned count_;
    std::atomic<unsigned> arrived_{0};
    std::atomic<unsigned> round_{0};
};

// Runs body(cpu) on `count` threads at once, thread i as CPU index first_cpu + i (its
// this_cpu_index()), and joins them all.
inline void run_cpus(unsigned count, const std::function<void(u32 cpu)> &body, u32 first_cpu = 1)
{
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < count; i++) {
        threads.emplace_back([&body, cpu = first_cpu + i] {
            host_set_cpu_index(cpu);
            body(cpu);
        });
    }
    for (std::thread &thread : threads)
        thread.join();
}

} // namespace concurrency_test
