// SPDX-License-Identifier: MIT
// Measuring the guest's TSC rate against BATON_HC_TIME (see gaps.hpp).
#include "lib/gaps.hpp"
#include "lib/hypercalls.hpp"

namespace guest {

namespace {

constexpr uint64_t SETTLE_NS = 1000 * 1000 * 1000; // measure over the first second, then keep the rate
constexpr uint64_t BRACKET_SHARE = 1000; // a reading is used only if its bracket is <= 1/1000 of the span

} // namespace

uint64_t Tsc_clock::time_ns()
{
    uint64_t before = read_tsc();
    uint64_t now = guest::time_ns();
    uint64_t after = read_tsc();
    // The hypervisor read its clock somewhere between the two TSC reads: take the middle.
    uint64_t tsc = before + (after - before) / 2;
    if (first_tsc_ == 0) {
        first_tsc_ = tsc;
        first_ns_ = now;
        return now;
    }
    if (settled_ || now <= first_ns_ || tsc <= first_tsc_)
        return now;
    uint64_t span_ticks = tsc - first_tsc_;
    uint64_t span_us = (now - first_ns_) / 1000;
    // A reading held up in between (the vCPU descheduled, an update) would skew the rate;
    // skip it unless there is no rate at all yet.
    bool clean = (after - before) * BRACKET_SHARE <= span_ticks;
    if (span_us == 0 || (!clean && khz_ != 0))
        return now;
    khz_ = span_ticks * 1000 / span_us;
    settled_ = clean && now - first_ns_ >= SETTLE_NS;
    return now;
}

} // namespace guest
