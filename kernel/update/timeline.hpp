// SPDX-License-Identifier: MIT
// The phases of a live update and when each was reached (TSC), across both images.
#pragma once
#include "handover_enums.hpp"
#include "lib/time.hpp"

// Defined from abi/handover.capnp's Phase (what each means is said there): requested,
// image_verified, paused (the blackout starts), serialized, entered, record_parsed,
// restored, resumed (the blackout ends).
enum class UpdatePhase : u8 { HANDOVER_ENUM_PHASE(BATON_ENUMERATOR) count };
inline constexpr unsigned UPDATE_PHASE_COUNT = static_cast<unsigned>(UpdatePhase::count);

// The schema's name of a phase ("record_parsed"), for reports.
constexpr const char *update_phase_name(UpdatePhase phase)
{
#define BATON_PHASE_NAME(name, value)                                                                                  \
    case UpdatePhase::name: return #name;
    switch (phase) {
        HANDOVER_ENUM_PHASE(BATON_PHASE_NAME)
    case UpdatePhase::count: break;
    }
#undef BATON_PHASE_NAME
    return "unknown";
}

class UpdateTimeline final {
public:
    void stamp(UpdatePhase phase, u64 tsc)
    {
        tsc_[index(phase)] = tsc;
        stamped_ |= 1u << index(phase);
    }
    bool has(UpdatePhase phase) const { return (stamped_ >> index(phase) & 1) != 0; }
    u64 tsc(UpdatePhase phase) const { return tsc_[index(phase)]; }
    bool empty() const { return stamped_ == 0; }
    usize count() const
    {
        usize stamped = 0;
        for (unsigned phase = 0; phase < UPDATE_PHASE_COUNT; phase++)
            stamped += stamped_ >> phase & 1;
        return stamped;
    }
    // Microseconds from `from` to `to`, or ~0 when either is missing or time ran backwards.
    u64 micros(UpdatePhase from, UpdatePhase to, u64 tsc_khz) const
    {
        if (!has(from) || !has(to) || tsc(to) < tsc(from) || tsc_khz == 0)
            return ~u64{0};
        return (tsc(to) - tsc(from)) * 1000 / tsc_khz;
    }

private:
    static unsigned index(UpdatePhase phase) { return static_cast<unsigned>(phase); }
    u64 tsc_[UPDATE_PHASE_COUNT] = {};
    u32 stamped_ = 0;
};

// The spans an operator looks at, each from one phase to the next: "pause" is requested
// to paused, ..., "resume" restored to resumed; the blackout is paused to resumed.
struct UpdateSpan {
    const char *name;
    UpdatePhase from, to;
};
inline constexpr UpdateSpan UPDATE_SPANS[] = {
    {"check", UpdatePhase::requested, UpdatePhase::image_verified},
    {"pause", UpdatePhase::image_verified, UpdatePhase::paused},
    {"serialize", UpdatePhase::paused, UpdatePhase::serialized},
    {"jump", UpdatePhase::serialized, UpdatePhase::entered},
    {"boot", UpdatePhase::entered, UpdatePhase::record_parsed},
    {"restore", UpdatePhase::record_parsed, UpdatePhase::restored},
    {"resume", UpdatePhase::restored, UpdatePhase::resumed},
    {"blackout", UpdatePhase::paused, UpdatePhase::resumed},
};

// Hypervisor time (time_now_ns()) and TSC ticks, given the clock's origin.
struct UpdateClock {
    u64 origin_tsc = 0;
    u64 tsc_khz = 1;
    u64 to_tsc(u64 ns) const { return origin_tsc + ns / NS_PER_MS * tsc_khz + ns % NS_PER_MS * tsc_khz / NS_PER_MS; }
    u64 to_ns(u64 tsc) const
    {
        if (tsc <= origin_tsc)
            return 0;
        u64 ticks = tsc - origin_tsc;
        return ticks / tsc_khz * NS_PER_MS + ticks % tsc_khz * NS_PER_MS / tsc_khz;
    }
};
