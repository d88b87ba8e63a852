// SPDX-License-Identifier: MIT
// The emulated PC of one domain: its device models, how their interrupts are wired, and time.
#include "arch/x86_64/guest/pc_platform.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/msr.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/platform/mp_table.hpp"
#include "arch/x86_64/platform/pc_layout.hpp"
#include "dom/domain.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/new.hpp"
#include "mm/slab.hpp"

namespace {

constexpr u8 ISA_LINES = 16;
// The MP table numbers the IO-APIC after the one CPU (mp_table::build).
constexpr u8 IOAPIC_ID = 1;

Lapic::Config lapic_config(u64 tsc_hz)
{
    Lapic::Config config;
    config.clock.tsc_hz = tsc_hz;
    config.apic_id = 0;
    config.bsp = true;
    return config;
}

bool in_page(u64 gpa, u64 base) { return gpa >= base && gpa < base + pc_layout::DEVICE_PAGE; }

} // namespace

PcPlatform::PcPlatform(Domain &domain, u64 tsc_hz, u64 wall_clock_seconds)
    : domain_(domain), clock_{tsc_hz}, pit_(clock_, this), rtc_(clock_, this), uart_(COM1_PORT, COM1_IRQ, this, this),
      ioapic_(*this, IOAPIC_ID), lapic_(lapic_config(tsc_hz), *this, *this)
{
    rtc_.set_time(wall_clock_seconds, 0);
    // What a BIOS leaves behind: the local APIC on, in virtual-wire mode (the PIC's output
    // through LINT0, NMI on LINT1), so the kernel's early PIC interrupts arrive.
    constexpr u32 SVR_ENABLED = 0x1ff;
    lapic_.write(Lapic::REG_SVR, SVR_ENABLED, 0);
    lapic_.write(Lapic::REG_LVT_LINT0, static_cast<u32>(DeliveryMode::ExtInt) << Lapic::DELIVERY_MODE_SHIFT, 0);
    lapic_.write(Lapic::REG_LVT_LINT1, static_cast<u32>(DeliveryMode::Nmi) << Lapic::DELIVERY_MODE_SHIFT, 0);
}

u32 PcPlatform::port_read(u16 port, u8 size, u64 now)
{
    const u32 ones = size == 1 ? 0xffu : size == 2 ? 0xffffu : 0xffffffffu;
    if (pit_.handles(port))
        return pit_.read(port, size, now);
    if (pic_.handles(port))
        return pic_.read(port, size, now);
    if (rtc_.handles(port))
        return rtc_.read(port, size, now);
    if (uart_.handles(port))
        return uart_.read(port, size, now);
    return ones;
}

void PcPlatform::port_write(u16 port, u8 size, u32 value, u64 now)
{
    if (pit_.handles(port))
        pit_.write(port, size, value, now);
    else if (pic_.handles(port))
        pic_.write(port, size, value, now);
    else if (rtc_.handles(port))
        rtc_.write(port, size, value, now);
    else if (uart_.handles(port))
        uart_.write(port, size, value, now);
}

bool PcPlatform::claims_mmio(u64 gpa)
{
    return in_page(gpa, pc_layout::LAPIC_BASE) || in_page(gpa, pc_layout::IOAPIC_BASE);
}

bool PcPlatform::mmio_read(u64 gpa, u8 size, u64 &value, u64 now)
{
    // Both devices take aligned 32-bit accesses only, as the hardware does.
    if (size != 4 || (gpa & 3) != 0)
        return false;
    if (in_page(gpa, pc_layout::LAPIC_BASE)) {
        value = lapic_.read(static_cast<u32>(gpa - pc_layout::LAPIC_BASE), now);
        return true;
    }
    if (in_page(gpa, pc_layout::IOAPIC_BASE)) {
        value = ioapic_.read(static_cast<u32>(gpa - pc_layout::IOAPIC_BASE));
        return true;
    }
    return false;
}

bool PcPlatform::mmio_write(u64 gpa, u8 size, u64 value, u64 now)
{
    if (size != 4 || (gpa & 3) != 0)
        return false;
    if (in_page(gpa, pc_layout::LAPIC_BASE)) {
        lapic_.write(static_cast<u32>(gpa - pc_layout::LAPIC_BASE), static_cast<u32>(value), now);
        return true;
    }
    if (in_page(gpa, pc_layout::IOAPIC_BASE)) {
        ioapic_.write(static_cast<u32>(gpa - pc_layout::IOAPIC_BASE), static_cast<u32>(value));
        return true;
    }
    return false;
}

PcPlatform::MsrResult PcPlatform::msr_read(u32 index, u64 &value)
{
    if (index == cpu::MSR_TSC_AUX) {
        value = tsc_aux_;
        return MsrResult::handled;
    }
    if (index == cpu::MSR_APIC_BASE) {
        value = lapic_.apic_base_msr();
        return MsrResult::handled;
    }
    if (index == cpu::MSR_TSC_DEADLINE) {
        value = lapic_.read_tsc_deadline();
        return MsrResult::handled;
    }
    return MsrResult::not_mine;
}

PcPlatform::MsrResult PcPlatform::msr_write(u32 index, u64 value, u64 now)
{
    if (index == cpu::MSR_TSC_AUX) {
        // RDTSCP and RDPID are not intercepted and read the host's value, which is 0 on
        // every CPU here: the one vCPU's number, so the guest sees what it wrote.
        tsc_aux_ = value & 0xffffffff;
        return MsrResult::handled;
    }
    if (index == cpu::MSR_APIC_BASE)
        return lapic_.write_apic_base_msr(value) == 0 ? MsrResult::handled : MsrResult::fault;
    if (index == cpu::MSR_TSC_DEADLINE) {
        lapic_.write_tsc_deadline(value, now);
        return MsrResult::handled;
    }
    return MsrResult::not_mine;
}

u64 PcPlatform::advance(u64 now)
{
    pit_.advance(now);
    rtc_.advance(now);
    lapic_.advance(now);
    u64 next = pit_.next_deadline();
    const u64 candidates[] = {rtc_.next_deadline(), lapic_.next_deadline()};
    for (u64 candidate : candidates)
        next = candidate < next ? candidate : next;
    return next;
}

int PcPlatform::pending_vector() const
{
    const int local = lapic_.pending_vector();
    if (local >= 0)
        return local;
    if (lapic_.lint0_extint() && pic_.has_pending())
        return pic_.pending_vector();
    return -1;
}

void PcPlatform::acknowledge(u8 vector)
{
    if (lapic_.pending_vector() == vector) {
        lapic_.acknowledge(vector);
        return;
    }
    // The PIC's interrupt (virtual wire): the INTA cycle moves it into service there.
    (void)pic_.acknowledge();
}

// ISA line `line` reaches both interrupt controllers: the kernel masks the one it does
// not use (the PIC, once it has set up the IO-APIC).
void PcPlatform::set_irq(u32 line, bool level)
{
    if (line >= ISA_LINES)
        return;
    pic_.set_irq(line, level);
    ioapic_.set_irq(mp_table::ioapic_pin_of_isa_irq(static_cast<u8>(line)), level);
}

void PcPlatform::deliver(const ApicMessage &message)
{
    switch (message.mode) {
    case DeliveryMode::Fixed:
    case DeliveryMode::LowestPriority:
        if (lapic_matches_destination(lapic_.state(), message.destination, message.logical))
            lapic_.accept(message.vector, message.level_triggered);
        return;
    case DeliveryMode::ExtInt:
    case DeliveryMode::Nmi:
    case DeliveryMode::Smi:
    case DeliveryMode::Init:
    case DeliveryMode::Startup: break;
    }
    log_warn("[d%u %s] IO-APIC message with delivery mode %u is not emulated; dropped", domain_.id, domain_.name,
             static_cast<unsigned>(message.mode));
}

void PcPlatform::ipi(const Ipi &ipi)
{
    // One vCPU: only IPIs that reach this local APIC itself are delivered.
    if (ipi.message.mode == DeliveryMode::Fixed && ipi_reaches(ipi, lapic_.state(), true)) {
        lapic_.accept(ipi.message.vector, ipi.message.level_triggered);
        return;
    }
    if (ipi.message.mode == DeliveryMode::Init || ipi.message.mode == DeliveryMode::Startup)
        return; // no other CPU to start: the kernel times out waiting and goes on with one
    log_warn("[d%u %s] IPI with delivery mode %u to %u is not emulated; dropped", domain_.id, domain_.name,
             static_cast<unsigned>(ipi.message.mode), ipi.message.destination);
}

void PcPlatform::eoi(u8 vector) { ioapic_.eoi(vector); }

void PcPlatform::put(u8 byte)
{
    const char c = static_cast<char>(byte);
    domain_console_write(domain_, &c, 1);
}

PcPlatform *pc_platform_new(Domain &domain)
{
    void *memory = heap_zalloc(sizeof(PcPlatform));
    // The RTC starts at 1970: Baton reads no wall clock, and a kernel only needs the
    // clock to move.
    return memory != nullptr ? new (memory) PcPlatform(domain, timer::tsc_khz() * 1000, 0) : nullptr;
}

void pc_platform_delete(PcPlatform *platform)
{
    platform->~PcPlatform();
    heap_free(platform);
}

int arch_platform_create(Domain &domain, char *why, usize why_capacity)
{
    const u64 device_pages[] = {pc_layout::LAPIC_BASE, pc_layout::IOAPIC_BASE};
    for (u64 page : device_pages) {
        if (int error = domain.p2m.map(page >> PAGE_SHIFT, 0, 1, P2mType::mmio_emulated, P2mAccess::rw))
            return format(why, why_capacity, "cannot map the device page at 0x%lx (error %d)", page, error), error;
    }
    domain.platform = pc_platform_new(domain);
    if (domain.platform == nullptr)
        return format(why, why_capacity, "no heap for the emulated PC"), -BATON_ENOMEM;
    return 0;
}

void arch_platform_destroy(Domain &domain)
{
    if (domain.platform == nullptr)
        return;
    pc_platform_delete(domain.platform);
    domain.platform = nullptr;
}
