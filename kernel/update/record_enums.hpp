// SPDX-License-Identifier: MIT
// The kernel's enums in the record's terms and back, for those the kernel defines from
// the schema's lists (handover_enums.hpp): equal values by construction, so a cast is
// exact; test_record_enums.cpp checks them against libcapnp's compiled schema.
#pragma once
#include "dom/domain.hpp"
#include "dom/p2m_types.hpp"
#include "handover_enums.hpp"
#include "update/timeline.hpp"

namespace record_enums {

namespace schema = handover::schema;

constexpr schema::P2mType to_record(P2mType type) { return static_cast<schema::P2mType>(type); }
constexpr schema::P2mAccess to_record(P2mAccess access) { return static_cast<schema::P2mAccess>(access); }
constexpr schema::Phase to_record(UpdatePhase phase) { return static_cast<schema::Phase>(phase); }
constexpr schema::GuestKind to_record(GuestKind kind) { return static_cast<schema::GuestKind>(kind); }

// From the record: false for a value of a newer writer (the validator refuses those
// before anything is restored; this keeps the conversion total on its own). Only the
// pairs above exist: to_record(out) must name the record's enum.
template <typename Kernel>
[[nodiscard]] constexpr bool from_record(decltype(to_record(Kernel{})) value, Kernel &out)
{
    if (!schema::is_known(value))
        return false;
    out = static_cast<Kernel>(value);
    return true;
}

} // namespace record_enums
