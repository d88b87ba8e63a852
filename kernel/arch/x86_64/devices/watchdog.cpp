// SPDX-License-Identifier: MIT
// The update watchdog: an HPET comparator routed to the IO-APIC as an NMI.
#include "arch/x86_64/devices/watchdog.hpp"
#include "abi/errno.h"
#include "arch/x86_64/acpi/acpi.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "lib/format.hpp"
#include "mm/phys.hpp"

namespace {

// HPET registers (IA-PC HPET specification 1.0a, section 2.3).
enum HpetRegister : u64 {
    HPET_CAPABILITIES = 0x000, // bits 63:32 tick period in fs, 12:8 last timer index
    HPET_CONFIG = 0x010, // bit 0 counting, bit 1 legacy routing
    HPET_COUNTER = 0x0f0,
    HPET_TIMER_CONFIG = 0x100, // + 0x20 * n: bits 63:32 routing capability, 13:9 route
    HPET_TIMER_COMPARATOR = 0x108, // + 0x20 * n
};
constexpr u64 HPET_ENABLE = 1u << 0;
constexpr u64 TIMER_LEVEL = 1u << 1, TIMER_ENABLE = 1u << 2, TIMER_PERIODIC = 1u << 3, TIMER_32BIT = 1u << 8,
              TIMER_FSB = 1u << 14;
constexpr unsigned TIMER_ROUTE_SHIFT = 9;

// IO-APIC: an index register and a data window; redirection entry n at 0x10 + 2n.
constexpr u64 IOAPIC_SELECT = 0x00, IOAPIC_WINDOW = 0x10;
constexpr u32 IOAPIC_VERSION = 0x01, IOAPIC_REDIRECTION = 0x10;
constexpr u32 REDIRECT_NMI = 4u << 8, REDIRECT_MASKED = 1u << 16;

constexpr u64 FEMTOSECONDS_PER_MS = 1000000000000ull;

u64 hpet_read(const WatchdogSite &site, u64 reg)
{
    return *reinterpret_cast<volatile u64 *>(site.hpet_phys + direct_map_offset + reg);
}

void hpet_write(const WatchdogSite &site, u64 reg, u64 value)
{
    *reinterpret_cast<volatile u64 *>(site.hpet_phys + direct_map_offset + reg) = value;
}

u32 ioapic_read(u64 base, u32 reg)
{
    *reinterpret_cast<volatile u32 *>(base + IOAPIC_SELECT) = reg;
    return *reinterpret_cast<volatile u32 *>(base + IOAPIC_WINDOW);
}

void ioapic_write(u64 base, u32 reg, u32 value)
{
    *reinterpret_cast<volatile u32 *>(base + IOAPIC_SELECT) = reg;
    *reinterpret_cast<volatile u32 *>(base + IOAPIC_WINDOW) = value;
}

const u8 *rsdp_of(const BootInfo &boot, usize &size)
{
    size = boot.has_acpi_rsdp_v2 ? ACPI_RSDP_V2_SIZE : boot.has_acpi_rsdp_v1 ? ACPI_RSDP_V1_SIZE : 0;
    return boot.has_acpi_rsdp_v2 ? boot.acpi_rsdp_v2 : boot.has_acpi_rsdp_v1 ? boot.acpi_rsdp_v1 : nullptr;
}

// The IO-APIC whose inputs start at GSI 0, from the MADT's type-1 entries.
bool find_ioapic(const acpi::Table &madt, u64 &phys)
{
    constexpr usize FIRST_ENTRY = 44;
    constexpr u8 IOAPIC_ENTRY = 1;
    for (usize at = FIRST_ENTRY; at + 2 <= madt.length;) {
        const u8 type = madt.bytes[at], length = madt.bytes[at + 1];
        if (length < 2 || at + length > madt.length)
            return false;
        if (type == IOAPIC_ENTRY && length >= 12 && acpi::read32(madt.bytes + at + 8) == 0) {
            phys = acpi::read32(madt.bytes + at + 4);
            return true;
        }
        at += length;
    }
    return false;
}

} // namespace

bool watchdog_locate(const BootInfo &boot, WatchdogSite &site, char *why, usize why_capacity)
{
    site = WatchdogSite{};
    usize rsdp_size = 0;
    const u8 *rsdp = rsdp_of(boot, rsdp_size);
    if (rsdp == nullptr)
        return format(why, why_capacity, "the loader passed no ACPI RSDP"), false;
    acpi::Table hpet_table, madt;
    if (acpi::find_table(rsdp, rsdp_size, "HPET", paging::direct_map_end(), hpet_table, nullptr, why, why_capacity) !=
            0 ||
        acpi::find_table(rsdp, rsdp_size, "APIC", paging::direct_map_end(), madt, nullptr, why, why_capacity) != 0)
        return false;
    // After the header and the event timer block id, a generic address structure whose
    // 64-bit address starts 4 bytes in.
    constexpr usize HPET_ADDRESS_AT = acpi::HEADER_SIZE + 4 + 4;
    if (hpet_table.length < HPET_ADDRESS_AT + 8)
        return format(why, why_capacity, "the ACPI HPET table is too short"), false;
    const u64 hpet_phys = acpi::read64(hpet_table.bytes + HPET_ADDRESS_AT);
    u64 ioapic_phys = 0;
    if (!find_ioapic(madt, ioapic_phys))
        return format(why, why_capacity, "the MADT names no IO-APIC for GSI 0"), false;
    if (hpet_phys == 0 || hpet_phys % PAGE_SIZE != 0 || hpet_phys >= 4 * GiB || ioapic_phys >= 4 * GiB)
        return format(why, why_capacity, "HPET at 0x%lx or IO-APIC at 0x%lx is not usable", hpet_phys, ioapic_phys),
               false;

    site.hpet_phys = hpet_phys;
    site.ioapic_phys = ioapic_phys;
    const u64 offset = direct_map_offset;
    const u64 capabilities = hpet_read(site, HPET_CAPABILITIES);
    site.hpet_femtoseconds = capabilities >> 32;
    const u32 last_timer = (capabilities >> 8) & 0x1f;
    const u32 last_pin = (ioapic_read(ioapic_phys + offset, IOAPIC_VERSION) >> 16) & 0xff;
    if (site.hpet_femtoseconds == 0 || site.hpet_femtoseconds > 100000000) // the specification's bound: 100 ns
        return format(why, why_capacity, "the HPET reports a tick of %lu fs", site.hpet_femtoseconds), false;
    // The last comparator (timers 0 and 1 are the legacy ones), on the highest pin it can
    // drive: pins 16 and up are PCI's, which this hypervisor leaves to nobody.
    site.timer = last_timer;
    const u32 routes = static_cast<u32>(hpet_read(site, HPET_TIMER_CONFIG + 0x20 * site.timer) >> 32);
    for (u32 pin = last_pin + 1; pin-- > 0;) {
        if (pin < 32 && (routes & (1u << pin)) != 0) {
            site.pin = pin;
            const u64 apic_id_register = (cpu::rdmsr(cpu::MSR_APIC_BASE) & ~0xffful) + offset + 0x20;
            site.apic_id = *reinterpret_cast<volatile u32 *>(apic_id_register) >> 24;
            return true;
        }
    }
    site.hpet_phys = 0;
    return format(why, why_capacity, "HPET timer %u can drive none of the IO-APIC's %u pins", site.timer, last_pin + 1),
           false;
}

void watchdog_arm(const WatchdogSite &site, u64 milliseconds)
{
    if (site.hpet_phys == 0)
        return;
    const u64 timer = HPET_TIMER_CONFIG + 0x20 * site.timer, comparator = HPET_TIMER_COMPARATOR + 0x20 * site.timer;
    u64 config = hpet_read(site, timer) & ~(TIMER_ENABLE | TIMER_PERIODIC | TIMER_LEVEL | TIMER_32BIT | TIMER_FSB);
    config &= ~(u64{0x1f} << TIMER_ROUTE_SHIFT);
    hpet_write(site, timer, config);
    const u64 base = site.ioapic_phys + direct_map_offset, entry = IOAPIC_REDIRECTION + 2 * site.pin;
    ioapic_write(base, static_cast<u32>(entry) + 1, site.apic_id << 24);
    ioapic_write(base, static_cast<u32>(entry), REDIRECT_NMI); // edge, active high, physical destination
    hpet_write(site, HPET_CONFIG, hpet_read(site, HPET_CONFIG) | HPET_ENABLE);
    const u64 ticks = milliseconds * (FEMTOSECONDS_PER_MS / site.hpet_femtoseconds);
    hpet_write(site, comparator, hpet_read(site, HPET_COUNTER) + ticks);
    hpet_write(site, timer, config | u64{site.pin} << TIMER_ROUTE_SHIFT | TIMER_ENABLE);
}

void watchdog_disarm(const WatchdogSite &site)
{
    if (site.hpet_phys == 0)
        return;
    const u64 timer = HPET_TIMER_CONFIG + 0x20 * site.timer;
    hpet_write(site, timer, hpet_read(site, timer) & ~TIMER_ENABLE);
    ioapic_write(site.ioapic_phys + direct_map_offset, IOAPIC_REDIRECTION + 2 * site.pin, REDIRECT_MASKED);
}
