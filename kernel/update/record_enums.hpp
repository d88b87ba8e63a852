// SPDX-License-Identifier: MIT
// The kernel's enums in the record's terms and back, for those the kernel defines from
// the schema's lists (handover_enums.hpp): equal values by construction.
#pragma once
#include "dom/p2m_types.hpp"
#include "handover_enums.hpp"
#include "update/timeline.hpp"

namespace record_enums {

namespace schema = handover::schema;

// Every value the schema has is one of the kernel's, and no more: the kernel enums are
// generated, these catch a kernel enum made by hand again.
static_assert(P2M_TYPE_COUNT == schema::P2M_TYPE_COUNT);
static_assert(UPDATE_PHASE_COUNT == schema::PHASE_COUNT);

constexpr schema::P2mType to_record(P2mType type) { return static_cast<schema::P2mType>(type); }
constexpr schema::P2mAccess to_record(P2mAccess access) { return static_cast<schema::P2mAccess>(access); }
constexpr schema::Phase to_record(UpdatePhase phase) { return static_cast<schema::Phase>(phase); }

// From the record: false for a value of a newer writer (the validator refuses those
// before anything is restored; this keeps the conversion total on its own).
[[nodiscard]] constexpr bool from_record(schema::P2mType value, P2mType &out)
{
    if (!schema::is_known(value))
        return false;
    out = static_cast<P2mType>(value);
    return true;
}
[[nodiscard]] constexpr bool from_record(schema::P2mAccess value, P2mAccess &out)
{
    if (!schema::is_known(value))
        return false;
    out = static_cast<P2mAccess>(value);
    return true;
}
[[nodiscard]] constexpr bool from_record(schema::Phase value, UpdatePhase &out)
{
    if (!schema::is_known(value))
        return false;
    out = static_cast<UpdatePhase>(value);
    return true;
}

} // namespace record_enums
