// SPDX-License-Identifier: MIT
// The host's own local APIC (xAPIC, MMIO): ids, enabling, EOI and sending IPIs.
#pragma once
#include "lib/types.hpp"

// Not the guests' emulated LAPIC (arch/x86_64/platform/lapic.*). Every CPU sees its own
// local APIC at the same physical address, so one driver object serves them all.
namespace local_apic {

// Register offsets (Intel SDM vol. 3A, table 11-1; AMD APM vol. 2, 16.3).
enum Register : u32 {
    ID = 0x020, // bits 31:24 in xAPIC mode
    VERSION = 0x030,
    TASK_PRIORITY = 0x080,
    EOI = 0x0b0,
    SPURIOUS = 0x0f0, // bit 8: software enable
    ERROR_STATUS = 0x280,
    ICR_LOW = 0x300,
    ICR_HIGH = 0x310, // bits 31:24: destination
    LVT_TIMER = 0x320,
    LVT_LINT0 = 0x350,
    LVT_LINT1 = 0x360,
    LVT_ERROR = 0x370,
};

// Interrupt command register, low word.
enum IcrDelivery : u32 {
    DELIVERY_FIXED = 0u << 8,
    DELIVERY_NMI = 4u << 8,
    DELIVERY_INIT = 5u << 8,
    DELIVERY_STARTUP = 6u << 8,
};
inline constexpr u32 ICR_PENDING = 1u << 12; // delivery status: the IPI is not yet accepted
inline constexpr u32 ICR_ASSERT = 1u << 14;
inline constexpr u32 ICR_LEVEL_TRIGGER = 1u << 15;
inline constexpr u32 ICR_ALL_EXCLUDING_SELF = 3u << 18;
inline constexpr u32 SPURIOUS_ENABLE = 1u << 8;
inline constexpr u32 LVT_MASKED = 1u << 16;
inline constexpr unsigned XAPIC_ID_SHIFT = 24;
inline constexpr u64 APIC_BASE_X2APIC = 1ul << 10; // IA32_APIC_BASE.EXTD: MMIO is off

// A start-up IPI's vector is the page number of the real-mode entry point, below 1 MiB.
constexpr bool startup_page_ok(u64 phys) { return phys % PAGE_SIZE == 0 && phys < 0x100000; }
constexpr u32 startup_vector(u64 phys) { return static_cast<u32>(phys / PAGE_SIZE); }

// Reads IA32_APIC_BASE and uses that address (the MADT's must agree, the caller checks);
// sets the global enable bit. Returns the physical address.
u64 init();
// Whether the firmware left this CPU's local APIC in x2APIC mode, where the xAPIC
// registers this driver uses do not answer.
bool in_x2apic_mode();
bool ready();
u64 base_phys();
// This CPU's APIC id.
u32 id();
// Software-enables this CPU's local APIC with `spurious_vector`, masks LINT0/LINT1, the
// error and timer LVTs, and accepts every priority.
void enable_this_cpu(u8 spurious_vector);
void eoi();
// Sends `command` (ICR low word: delivery mode, vector, level, shorthand) to `apic_id`
// and waits up to `timeout_ns` for the local APIC to accept it. False on a timeout.
[[nodiscard]] bool send_ipi(u32 apic_id, u32 command, u64 timeout_ns);

} // namespace local_apic
