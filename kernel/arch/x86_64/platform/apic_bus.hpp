// SPDX-License-Identifier: MIT
// What the local APICs and the IO-APIC say to each other: interrupt messages, IPIs, EOIs.
#pragma once
#include "lib/types.hpp"

// The models never talk to each other directly: each hands its messages to an abstract
// sink, and the platform (which owns every vCPU's Lapic and the IoApic) routes them with
// lapic_matches_destination() and ipi_reaches() (lapic.hpp). That keeps every model
// testable alone and its state free of pointers.

// The 3-bit delivery-mode encoding shared by the ICR, the LVT entries and the IO-APIC
// redirection entries (Intel SDM vol. 3, "Interrupt Command Register"; 82093AA 3.2.4).
// 3 is reserved everywhere.
enum class DeliveryMode : u8 {
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    Nmi = 4,
    Init = 5,
    Startup = 6, // SIPI; ICR only
    ExtInt = 7, // the vector comes from the 8259 PIC; LVT LINT0 and the IO-APIC only
};

// One interrupt message on the (virtual) APIC bus, as the IO-APIC or an ICR write sends it.
// Destination 0xFF is a broadcast in both destination modes (xAPIC).
struct ApicMessage {
    u8 vector = 0;
    DeliveryMode mode = DeliveryMode::Fixed;
    bool logical = false; // destination mode: logical (LDR/DFR) or physical (APIC ID)
    u8 destination = 0;
    bool level_triggered = false; // the receiver sets TMR and broadcasts its EOI
    constexpr bool operator==(const ApicMessage &) const = default;
};

// ICR bits 19:18. With a shorthand the destination field is not used.
enum class Shorthand : u8 {
    None = 0,
    Self = 1,
    AllIncludingSelf = 2,
    AllExcludingSelf = 3,
};

// An inter-processor interrupt from an ICR write. INIT level de-assert (INIT with the level
// bit clear) is never sent: since the Pentium 4 it has no effect (SDM), and Linux still
// issues it while waking APs.
struct Ipi {
    ApicMessage message; // level_triggered: the ICR trigger-mode bit
    Shorthand shorthand = Shorthand::None;
    bool assert_level = true; // the ICR level bit
    u8 source_id = 0; // the sender's APIC ID (ID register bits 31:24)
    constexpr bool operator==(const Ipi &) const = default;
};

// Where the IO-APIC sends its messages; the platform delivers fixed and lowest-priority
// ones with Lapic::accept and handles NMI, INIT, SMI and ExtINT itself.
class ApicBus {
public:
    virtual void deliver(const ApicMessage &message) = 0;

protected:
    ~ApicBus() = default;
};

// Where a local APIC sends its IPIs, self-IPIs included (the platform routes them back).
class IpiSink {
public:
    virtual void ipi(const Ipi &ipi) = 0;

protected:
    ~IpiSink() = default;
};

// Where a local APIC reports the EOI of a level-triggered vector (TMR set), so that the
// IO-APIC can clear Remote IRR: the platform calls IoApic::eoi.
class EoiSink {
public:
    virtual void eoi(u8 vector) = 0;

protected:
    ~EoiSink() = default;
};
