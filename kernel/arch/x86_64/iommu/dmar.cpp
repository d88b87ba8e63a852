// SPDX-License-Identifier: MIT
// The ACPI DMAR table parser: remapping structures and their device scopes, all checked.
#include "arch/x86_64/iommu/dmar.hpp"
#include "abi/errno.h"
#include "arch/x86_64/acpi/acpi.hpp"
#include "lib/format.hpp"

namespace dmar {

namespace {

constexpr usize DMAR_WIDTH = 36, DMAR_FLAGS = 37, DMAR_STRUCTURES = 48;
constexpr usize STRUCTURE_HEADER = 4;
constexpr usize DRHD_FIXED = 16, RMRR_FIXED = 24;
constexpr usize SCOPE_FIXED = 6;

using acpi::read16;
using acpi::read64;

// Parses the device scopes in [at, end); keeps up to `capacity` in `scopes` (may be
// nullptr: count only). Returns the number of scopes, or -BATON_EINVAL.
long parse_scopes(const u8 *at, const u8 *end, DeviceScope *scopes, usize capacity, usize *dropped, char *why,
                  usize why_capacity)
{
    long count = 0;
    while (at < end) {
        const usize left = static_cast<usize>(end - at);
        if (left < SCOPE_FIXED || at[1] < SCOPE_FIXED || at[1] > left || (at[1] - SCOPE_FIXED) % 2 != 0)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "dmar: device scope %ld has a bad length %u (%zu bytes left)", count, at[1], left);
        const usize steps = (at[1] - SCOPE_FIXED) / 2;
        if (scopes != nullptr && static_cast<usize>(count) < capacity && steps <= MAX_PATH) {
            DeviceScope &scope = scopes[count];
            scope.type = static_cast<ScopeType>(at[0]);
            scope.enumeration_id = at[4];
            scope.start_bus = at[5];
            scope.path_length = static_cast<u8>(steps);
            for (usize i = 0; i < steps; i++)
                scope.path[i] = {at[SCOPE_FIXED + 2 * i], at[SCOPE_FIXED + 2 * i + 1]};
            count++;
        } else {
            if (dropped != nullptr)
                (*dropped)++;
            if (scopes == nullptr)
                count++;
        }
        at += at[1];
    }
    return count;
}

int parse_drhd(const u8 *at, usize length, Info &out, char *why, usize why_capacity)
{
    if (length < DRHD_FIXED)
        return format_refusal(why, why_capacity, BATON_EINVAL, "dmar: DRHD of %zu bytes (at least %zu)", length,
                              DRHD_FIXED);
    if (out.unit_count == MAX_UNITS)
        return format_refusal(why, why_capacity, BATON_E2BIG, "dmar: more than %zu remapping units", MAX_UNITS);
    RemappingUnit &unit = out.units[out.unit_count];
    unit = {};
    unit.flags = at[4];
    unit.size_field = at[5];
    unit.segment = read16(at + 6);
    unit.register_base = read64(at + 8);
    if (unit.register_base == 0 || !is_aligned(unit.register_base, PAGE_SIZE))
        return format_refusal(why, why_capacity, BATON_EINVAL, "dmar: unit %zu has register base 0x%lx", out.unit_count,
                              unit.register_base);
    for (usize i = 0; i < out.unit_count; i++) {
        const RemappingUnit &earlier = out.units[i];
        if (earlier.segment == unit.segment && earlier.include_pci_all())
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "dmar: unit %zu follows the INCLUDE_PCI_ALL unit of segment %u", out.unit_count,
                                  unit.segment);
    }
    long scopes =
        parse_scopes(at + DRHD_FIXED, at + length, unit.scopes, MAX_SCOPES, &unit.scopes_dropped, why, why_capacity);
    if (scopes < 0)
        return static_cast<int>(scopes);
    unit.scope_count = static_cast<usize>(scopes);
    out.unit_count++;
    return 0;
}

int parse_rmrr(const u8 *at, usize length, Info &out, char *why, usize why_capacity)
{
    if (length < RMRR_FIXED)
        return format_refusal(why, why_capacity, BATON_EINVAL, "dmar: RMRR of %zu bytes (at least %zu)", length,
                              RMRR_FIXED);
    if (out.reserved_count == MAX_RESERVED)
        return format_refusal(why, why_capacity, BATON_E2BIG, "dmar: more than %zu reserved memory regions",
                              MAX_RESERVED);
    ReservedRegion region;
    region.segment = read16(at + 6);
    region.base = read64(at + 8);
    region.limit = read64(at + 16);
    if (region.limit < region.base || !is_aligned(region.base, PAGE_SIZE) || !is_aligned(region.limit + 1, PAGE_SIZE))
        return format_refusal(why, why_capacity, BATON_EINVAL, "dmar: RMRR 0x%lx-0x%lx is not a page range",
                              region.base, region.limit);
    long scopes = parse_scopes(at + RMRR_FIXED, at + length, nullptr, 0, nullptr, why, why_capacity);
    if (scopes < 0)
        return static_cast<int>(scopes);
    region.scope_count = static_cast<usize>(scopes);
    out.reserved[out.reserved_count++] = region;
    return 0;
}

} // namespace

const char *scope_type_name(ScopeType type)
{
    switch (type) {
    case ScopeType::pci_endpoint: return "pci-endpoint";
    case ScopeType::pci_bridge: return "pci-bridge";
    case ScopeType::ioapic: return "ioapic";
    case ScopeType::hpet: return "hpet";
    case ScopeType::acpi_namespace: return "acpi-namespace";
    }
    return "unknown";
}

int parse(const u8 *table, usize length, Info &out, char *why, usize why_capacity)
{
    out = {};
    if (table == nullptr || length < DMAR_STRUCTURES)
        return format_refusal(why, why_capacity, BATON_EINVAL, "dmar: table of %zu bytes (at least %zu)", length,
                              DMAR_STRUCTURES);
    out.host_address_width = static_cast<u8>(table[DMAR_WIDTH] + 1);
    out.flags = table[DMAR_FLAGS];
    usize offset = DMAR_STRUCTURES;
    while (offset < length) {
        const usize left = length - offset;
        const u8 *at = table + offset;
        const usize structure_length = left >= STRUCTURE_HEADER ? read16(at + 2) : 0;
        if (structure_length < STRUCTURE_HEADER || structure_length > left)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "dmar: structure at offset %zu has a bad length %zu (%zu bytes left)", offset,
                                  structure_length, left);
        int error = 0;
        switch (static_cast<StructureType>(read16(at))) {
        case StructureType::drhd: error = parse_drhd(at, structure_length, out, why, why_capacity); break;
        case StructureType::rmrr: error = parse_rmrr(at, structure_length, out, why, why_capacity); break;
        default: out.other_structures++; break;
        }
        if (error != 0)
            return error;
        offset += structure_length;
    }
    return 0;
}

const RemappingUnit *unit_for(const Info &info, u16 segment, u8 bus, u8 device, u8 function)
{
    const RemappingUnit *catch_all = nullptr;
    for (usize i = 0; i < info.unit_count; i++) {
        const RemappingUnit &unit = info.units[i];
        if (unit.segment != segment)
            continue;
        if (unit.include_pci_all()) {
            catch_all = &unit;
            continue;
        }
        for (usize j = 0; j < unit.scope_count; j++) {
            const DeviceScope &scope = unit.scopes[j];
            if ((scope.type == ScopeType::pci_endpoint || scope.type == ScopeType::pci_bridge) &&
                scope.names(bus, device, function))
                return &unit;
        }
    }
    return catch_all;
}

} // namespace dmar
