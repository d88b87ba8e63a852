// SPDX-License-Identifier: MIT
// The emulated PC of one domain: its device models, how their interrupts are wired, and time.
#pragma once
#include "arch/x86_64/guest/platform.hpp"
#include "arch/x86_64/platform/ioapic.hpp"
#include "arch/x86_64/platform/lapic.hpp"
#include "arch/x86_64/platform/pic.hpp"
#include "arch/x86_64/platform/pit.hpp"
#include "arch/x86_64/platform/rtc.hpp"
#include "arch/x86_64/platform/uart.hpp"
#include "lib/types.hpp"

class Domain;

// A GuestKind::pc domain has one PcPlatform (docs/guest-platform.md). It owns the device
// models and is the wiring between them: ISA interrupt lines go to the 8259 pair and to
// the IO-APIC pin the MP table names, IO-APIC messages and self-IPIs to the local APIC,
// level-triggered EOIs back to the IO-APIC, the UART's bytes to the domain's console.
// Everything here is pure logic over the models (host-tested); the SVM exit handler calls
// it with the guest's TSC as `now`.
//
// Locking: none of its own. One CPU runs the domain's only vCPU and its exits; the
// control channel and timers run on that CPU between slices.
class PcPlatform final : IrqSink, ApicBus, IpiSink, EoiSink, UartOutput {
public:
    static constexpr u16 COM1_PORT = 0x3f8;
    static constexpr u8 COM1_IRQ = 4;
    static constexpr u16 POST_PORT = 0x80; // POST codes and Linux's I/O delay: ignored

    PcPlatform(Domain &domain, u64 tsc_hz, u64 wall_clock_seconds);
    PcPlatform(const PcPlatform &) = delete;
    PcPlatform &operator=(const PcPlatform &) = delete;

    // Port I/O. Ports no device claims read as all ones and ignore writes, as on a PC
    // with nothing there; kernels probe such ports on purpose.
    u32 port_read(u16 port, u8 size, u64 now);
    void port_write(u16 port, u8 size, u32 value, u64 now);

    // MMIO to the local APIC or IO-APIC page. False for any other address or a width or
    // alignment the device does not take (the caller crashes the domain with a message).
    [[nodiscard]] bool mmio_read(u64 gpa, u8 size, u64 &value, u64 now);
    [[nodiscard]] bool mmio_write(u64 gpa, u8 size, u64 value, u64 now);
    static bool claims_mmio(u64 gpa);

    // MSRs the platform owns (APIC base, TSC deadline). Not handled: the caller decides.
    enum class MsrResult : u8 { handled, fault, not_mine };
    MsrResult msr_read(u32 index, u64 &value);
    MsrResult msr_write(u32 index, u64 value, u64 now);

    // Runs every device timer up to `now`; the earliest deadline that remains (guest TSC,
    // PLATFORM_NO_DEADLINE when none).
    u64 advance(u64 now);
    // The vector to deliver when the vCPU can take an interrupt (-1: none): the local
    // APIC's, else the PIC's through LINT0 in virtual-wire mode.
    int pending_vector() const;
    // The vCPU took `vector` (from pending_vector()): in service from now on.
    void acknowledge(u8 vector);

    Lapic &lapic() { return lapic_; }
    IoApic &ioapic() { return ioapic_; }
    Pic &pic() { return pic_; }
    Pit &pit() { return pit_; }
    Rtc &rtc() { return rtc_; }
    Uart &uart() { return uart_; }
    u64 tsc_aux() const { return tsc_aux_; }
    void set_tsc_aux(u64 value) { tsc_aux_ = value & 0xffffffff; }

private:
    void set_irq(u32 line, bool level) override;
    void deliver(const ApicMessage &message) override;
    void ipi(const Ipi &ipi) override;
    void eoi(u8 vector) override;
    void put(u8 byte) override;

    Domain &domain_;
    TscClock clock_;
    Pit pit_;
    Pic pic_;
    Rtc rtc_;
    Uart uart_;
    IoApic ioapic_;
    Lapic lapic_;
    u64 tsc_aux_ = 0;
};

// A new platform for `domain` at power-on, on the hypervisor heap (nullptr: no heap).
// Its state is the hypervisor's, never a page the guest can reach (DESIGN.md §4a).
PcPlatform *pc_platform_new(Domain &domain);
void pc_platform_delete(PcPlatform *platform);
