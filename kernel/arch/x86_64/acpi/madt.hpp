// SPDX-License-Identifier: MIT
// The ACPI MADT ("APIC"): the processors' local APIC ids and the local APIC address.
#pragma once
#include "lib/types.hpp"

// Pure logic over a table already found and checksummed (acpi::find_table): compiles for
// host tests, which feed it hand-built tables. Layout: ACPI 6.5, section 5.2.12.
namespace madt {

// More processors than this are counted, not kept (smp::MAX_CPUS is the same bound).
inline constexpr usize MAX_PROCESSORS = 64;
// An xAPIC destination is 8 bits and 0xff is the broadcast: higher ids need x2APIC mode.
inline constexpr u32 MAX_XAPIC_ID = 0xfe;

// Interrupt controller structure types (the byte at the start of each entry).
enum class EntryType : u8 {
    local_apic = 0,
    io_apic = 1,
    interrupt_override = 2,
    nmi_source = 3,
    local_apic_nmi = 4,
    local_apic_address_override = 5,
    local_x2apic = 9,
};

// Processor flags (local APIC and local x2APIC entries).
inline constexpr u32 PROCESSOR_ENABLED = 1u << 0;
inline constexpr u32 PROCESSOR_ONLINE_CAPABLE = 1u << 1;
// MADT flags: the legacy 8259 PICs are present (byte 40).
inline constexpr u32 FLAG_PCAT_COMPAT = 1u << 0;

struct Info {
    u64 local_apic_address = 0; // the 32-bit field, or the 64-bit override when present
    u32 flags = 0;
    u32 apic_ids[MAX_PROCESSORS] = {}; // enabled or online-capable processors, table order
    usize processor_count = 0;
    usize processors_dropped = 0; // beyond MAX_PROCESSORS
    usize processors_disabled = 0; // neither enabled nor online-capable
    usize processors_unreachable = 0; // an x2APIC id an xAPIC cannot address
    usize duplicates = 0; // an APIC id listed twice (local APIC and x2APIC entries): kept once

    constexpr bool has(u32 apic_id) const
    {
        for (usize i = 0; i < processor_count; i++)
            if (apic_ids[i] == apic_id)
                return true;
        return false;
    }
};

// Parses the MADT `table` of `length` bytes (header included). Checks every entry's
// length against its type and the table and the local APIC address (nonzero, page
// aligned). Returns 0 or -BATON_EINVAL with a one-line
// reason in `why`.
[[nodiscard]] int parse(const u8 *table, usize length, Info &out, char *why, usize why_capacity);

} // namespace madt
