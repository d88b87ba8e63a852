// SPDX-License-Identifier: MIT
// The ACPI MADT parser: processor entries and the local APIC address, all checked.
#include "arch/x86_64/acpi/madt.hpp"
#include "abi/errno.h"
#include "arch/x86_64/acpi/acpi.hpp"
#include "lib/format.hpp"

namespace madt {

namespace {

constexpr usize MADT_LOCAL_APIC = 36, MADT_FLAGS = 40, MADT_ENTRIES = 44;
constexpr usize ENTRY_HEADER = 2;
// The smallest length each entry type this parser reads may have.
constexpr usize LOCAL_APIC_SIZE = 8, ADDRESS_OVERRIDE_SIZE = 12, LOCAL_X2APIC_SIZE = 16;

using acpi::read32;
using acpi::read64;

void add_processor(Info &out, u32 apic_id, u32 flags)
{
    if ((flags & (PROCESSOR_ENABLED | PROCESSOR_ONLINE_CAPABLE)) == 0) {
        out.processors_disabled++;
        return;
    }
    if (apic_id > MAX_XAPIC_ID) {
        out.processors_unreachable++;
        return;
    }
    if (out.has(apic_id)) {
        out.duplicates++;
        return;
    }
    if (out.processor_count == MAX_PROCESSORS) {
        out.processors_dropped++;
        return;
    }
    out.apic_ids[out.processor_count++] = apic_id;
}

} // namespace

int parse(const u8 *table, usize length, Info &out, char *why, usize why_capacity)
{
    out = {};
    if (table == nullptr || length < MADT_ENTRIES)
        return format_refusal(why, why_capacity, BATON_EINVAL, "madt: table of %zu bytes (at least %zu)", length,
                              MADT_ENTRIES);
    out.local_apic_address = read32(table + MADT_LOCAL_APIC);
    out.flags = read32(table + MADT_FLAGS);
    usize offset = MADT_ENTRIES;
    while (offset < length) {
        const usize left = length - offset;
        const u8 *at = table + offset;
        const usize entry_length = left >= ENTRY_HEADER ? at[1] : 0;
        if (entry_length < ENTRY_HEADER || entry_length > left)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "madt: entry at offset %zu has a bad length %zu (%zu bytes left)", offset,
                                  entry_length, left);
        const auto type = static_cast<EntryType>(at[0]);
        const usize needed = type == EntryType::local_apic                    ? LOCAL_APIC_SIZE
                             : type == EntryType::local_apic_address_override ? ADDRESS_OVERRIDE_SIZE
                             : type == EntryType::local_x2apic                ? LOCAL_X2APIC_SIZE
                                                                              : ENTRY_HEADER;
        if (entry_length < needed)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "madt: type %u entry at offset %zu has %zu bytes (at least %zu)", at[0], offset,
                                  entry_length, needed);
        switch (type) {
        case EntryType::local_apic: add_processor(out, at[3], read32(at + 4)); break;
        case EntryType::local_x2apic: add_processor(out, read32(at + 4), read32(at + 8)); break;
        case EntryType::local_apic_address_override: out.local_apic_address = read64(at + 4); break;
        default: break; // IO-APICs, overrides, NMI sources: not this parser's business
        }
        offset += entry_length;
    }
    if (out.local_apic_address == 0 || !is_aligned(out.local_apic_address, PAGE_SIZE))
        return format_refusal(why, why_capacity, BATON_EINVAL, "madt: local APIC address 0x%lx is not a page",
                              out.local_apic_address);
    return 0;
}

} // namespace madt
