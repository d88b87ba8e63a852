// SPDX-License-Identifier: MIT
// The update watchdog: one NMI a fixed time after the jump, from an HPET comparator
// routed through the IO-APIC, so a next image that hangs is caught with interrupts on or off.
#pragma once
#include "boot/boot_info.hpp"

// Where the watchdog's hardware is, found by the old image and kept in the rollback kit,
// so the new image can stop it without looking anything up.
struct WatchdogSite {
    u64 hpet_phys = 0; // 0: no watchdog
    u64 ioapic_phys = 0;
    u64 hpet_femtoseconds = 0; // per HPET tick
    u32 timer = 0; // the HPET comparator used
    u32 pin = 0; // the IO-APIC input it drives
    u32 apic_id = 0; // the CPU the NMI goes to (the one that jumps)
};

// Finds the HPET (ACPI "HPET") and the IO-APIC serving GSI 0 (ACPI "APIC"), and picks a
// comparator and an IO-APIC pin the comparator can drive. Needs the direct map; changes
// no hardware. Returns false with the reason when the machine has no usable pair.
[[nodiscard]] bool watchdog_locate(const BootInfo &boot, WatchdogSite &site, char *why, usize why_capacity);

// Programs the IO-APIC pin for NMI delivery to site.apic_id and the comparator for one
// edge `milliseconds` from now (the main counter is started if it was stopped). Reaches
// both through the direct map, which covers them in the boot page tables too.
void watchdog_arm(const WatchdogSite &site, u64 milliseconds);
// Masks the pin and stops the comparator; harmless when not armed.
void watchdog_disarm(const WatchdogSite &site);
