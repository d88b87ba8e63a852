// SPDX-License-Identifier: MIT
// The Intel MultiProcessor table that tells a guest kernel its CPUs, IO-APIC and IRQ wiring.
#pragma once
#include "lib/types.hpp"

// Baton's PC platform describes itself with an MP table (MP spec 1.4) instead of ACPI:
// it is all Linux needs to find the local APICs, the IO-APIC and how the ISA interrupts
// reach it, and it is a fraction of the size. The kernel scans the BIOS area for the
// floating pointer ("_MP_"), which points at the configuration table ("PCMP") after it.
//
// The wiring is the usual PC one: the 8259 PIC's output on IO-APIC pin 0 (ExtINT), ISA
// IRQ 0 (the PIT) on pin 2, every other ISA IRQ n on pin n, all edge-triggered and
// active high; LINT0 of every local APIC is ExtINT (virtual-wire mode) and LINT1 is NMI.
namespace mp_table {

inline constexpr u8 MAX_CPUS = 16;
inline constexpr u8 ISA_IRQS = 16;
inline constexpr u8 PIT_IRQ = 0;
inline constexpr u8 PIT_IOAPIC_PIN = 2;
inline constexpr u8 CASCADE_IRQ = 2; // the slave PIC's line: never an interrupt of its own

struct Config {
    u8 cpu_count = 1; // local APIC ids 0..cpu_count-1; 0 boots
    u8 lapic_version = 0x14;
    u32 lapic_address = 0xfee00000;
    u8 ioapic_id = 0; // numbered after the CPUs when 0 is taken: see build()
    u8 ioapic_version = 0x11;
    u32 ioapic_address = 0xfec00000;
    u32 cpu_signature = 0; // CPUID 1 EAX, as the table reports it
    u32 cpu_features = 0; // CPUID 1 EDX
};

// The pin of the IO-APIC that ISA IRQ `irq` arrives at (the wiring above).
constexpr u8 ioapic_pin_of_isa_irq(u8 irq) { return irq == PIT_IRQ ? PIT_IOAPIC_PIN : irq; }

// Bytes build() writes for `cpu_count` CPUs.
constexpr usize size_for(u8 cpu_count)
{
    constexpr usize floating = 16, header = 44, processor = 20, other = 8;
    const usize isa_entries = ISA_IRQS - 1 + 1; // every ISA IRQ but the cascade, plus ExtINT
    return floating + header + processor * cpu_count + other * (1 + 1 + isa_entries + 2);
}

// Writes the floating pointer at `out` and the configuration table right after it, for a
// table that the guest will find at guest-physical `table_gpa` (16-byte aligned). Returns
// the bytes written, or 0 if `capacity` is too small, `table_gpa` misaligned or the CPU
// count is 0 or above MAX_CPUS.
[[nodiscard]] usize build(const Config &config, u64 table_gpa, u8 *out, usize capacity);

} // namespace mp_table
