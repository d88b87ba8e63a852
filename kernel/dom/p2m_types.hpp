// SPDX-License-Identifier: MIT
// p2m vocabulary: entry types, access rights, ranges and what a nested fault asks for.
#pragma once
#include "handover_enums.hpp"
#include "lib/types.hpp"

// Entry types, defined from abi/handover.capnp's P2mType (one list, so the kernel and the
// record cannot drift): invalid, a hole where every access faults; ram_rw and ram_ro, guest
// RAM writable or not; log_dirty, RAM write-protected until written once; mmio, device
// memory passed through uncached; mmio_emulated, no machine frame, every access emulated.
enum class P2mType : u8 { HANDOVER_ENUM_P2M_TYPE(BATON_ENUMERATOR) };
inline constexpr unsigned P2M_TYPE_COUNT = handover::schema::P2M_TYPE_COUNT;
const char *p2m_type_name(P2mType type);

// Types that map machine frames (the rest have mfn 0).
constexpr bool p2m_type_has_frames(P2mType type)
{
    return type == P2mType::ram_rw || type == P2mType::ram_ro || type == P2mType::log_dirty || type == P2mType::mmio;
}
// Types backed by RAM (populated guest memory or extra pages); log-dirty tracks these.
constexpr bool p2m_type_is_ram(P2mType type)
{
    return type == P2mType::ram_rw || type == P2mType::ram_ro || type == P2mType::log_dirty;
}

// Access rights on top of the type, as bits (r 1, w 2, x 4), from the record's P2mAccess.
enum class P2mAccess : u8 { HANDOVER_ENUM_P2M_ACCESS(BATON_ENUMERATOR) };
static_assert(static_cast<u8>(P2mAccess::rwx) == 7 && handover::schema::P2M_ACCESS_COUNT == 8);
constexpr bool access_reads(P2mAccess access) { return (static_cast<u8>(access) & 1) != 0; }
constexpr bool access_writes(P2mAccess access) { return (static_cast<u8>(access) & 2) != 0; }
constexpr bool access_executes(P2mAccess access) { return (static_cast<u8>(access) & 4) != 0; }
// x86 tables cannot express write or execute without read (a present entry is readable), so
// the rights a p2m accepts are n, r, rw, rx and rwx.
constexpr bool p2m_access_valid(P2mAccess access)
{
    const u8 bits = static_cast<u8>(access);
    return bits <= 7 && (bits == 0 || (bits & 1) != 0);
}
const char *p2m_access_name(P2mAccess access);

// Range flags.
inline constexpr u8 P2M_RANGE_OWNED = 1u << 0; // frames came from populate_ram; the p2m frees them
inline constexpr u8 P2M_RANGE_COVERED = 1u << 1; // RAM hidden under an overlay mapping (kept, not visible)
inline constexpr u8 P2M_RANGE_FLAGS = P2M_RANGE_OWNED | P2M_RANGE_COVERED;

// [gfn, gfn + count) maps to [mfn, mfn + count) with one type and one set of rights.
struct P2mRange {
    u64 gfn = 0;
    u64 mfn = 0; // 0 for types without frames
    u64 count = 0;
    P2mType type = P2mType::invalid;
    P2mAccess access = P2mAccess::n;
    u8 flags = 0;

    constexpr u64 end() const { return gfn + count; }
    constexpr bool contains(u64 frame) const { return frame >= gfn && frame < gfn + count; }
    constexpr u64 mfn_at(u64 frame) const { return p2m_type_has_frames(type) ? mfn + (frame - gfn) : 0; }
    constexpr bool owned() const { return (flags & P2M_RANGE_OWNED) != 0; }
    constexpr bool covered() const { return (flags & P2M_RANGE_COVERED) != 0; }
    constexpr bool operator==(const P2mRange &) const = default;
};

// One guest frame as lookup() reports it. A log_dirty frame written since the last clean
// reads as ram_rw: that is what the guest can do with it.
struct P2mEntry {
    u64 mfn = 0;
    P2mType type = P2mType::invalid;
    P2mAccess access = P2mAccess::n;
    bool owned = false;
    constexpr bool operator==(const P2mEntry &) const = default;
};

// What the vCPU loop does after a nested page fault.
enum class NpfAction : u8 {
    retry, // the p2m fixed the entry (or asked for a TLB flush): re-enter the guest
    emulate_mmio, // an emulated device frame: decode and emulate the access
    crash_not_mapped, // nothing is mapped at that guest frame
    crash_access_denied, // the type or rights forbid the access (e.g. a write to ram_ro)
    crash_internal, // the p2m found itself inconsistent (a hypervisor bug; logged)
};
const char *npf_action_name(NpfAction action);
constexpr bool npf_action_crashes(NpfAction action)
{
    return action != NpfAction::retry && action != NpfAction::emulate_mmio;
}
