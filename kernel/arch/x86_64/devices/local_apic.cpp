// SPDX-License-Identifier: MIT
// The host's local APIC driver: xAPIC registers through the direct map, IPIs with a bound.
#include "arch/x86_64/devices/local_apic.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "lib/time.hpp"
#include "mm/phys.hpp"

namespace {

// The direct map covers the MMIO hole; APIC accesses go to the local APIC whatever the
// memory type, and the firmware's MTRRs make that range uncached.
volatile u32 *registers;
u64 registers_phys;

constexpr u64 APIC_BASE_ADDRESS_MASK = 0x000ffffffffff000ul;

u32 read(local_apic::Register reg) { return registers[reg / 4]; }
void write(local_apic::Register reg, u32 value) { registers[reg / 4] = value; }

} // namespace

u64 local_apic::init()
{
    const u64 base = cpu::rdmsr(cpu::MSR_APIC_BASE);
    cpu::wrmsr(cpu::MSR_APIC_BASE, base | cpu::APIC_BASE_ENABLE);
    registers_phys = base & APIC_BASE_ADDRESS_MASK;
    registers = static_cast<volatile u32 *>(phys_to_virt(registers_phys));
    return registers_phys;
}

bool local_apic::in_x2apic_mode() { return (cpu::rdmsr(cpu::MSR_APIC_BASE) & APIC_BASE_X2APIC) != 0; }

bool local_apic::ready() { return registers != nullptr; }
u64 local_apic::base_phys() { return registers_phys; }

u32 local_apic::id() { return read(ID) >> XAPIC_ID_SHIFT; }

void local_apic::enable_this_cpu(u8 spurious_vector)
{
    cpu::wrmsr(cpu::MSR_APIC_BASE, cpu::rdmsr(cpu::MSR_APIC_BASE) | cpu::APIC_BASE_ENABLE);
    write(LVT_TIMER, LVT_MASKED);
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_LINT1, LVT_MASKED);
    write(LVT_ERROR, LVT_MASKED);
    write(TASK_PRIORITY, 0);
    write(SPURIOUS, SPURIOUS_ENABLE | spurious_vector);
}

void local_apic::eoi() { write(EOI, 0); }

bool local_apic::send_ipi(u32 apic_id, u32 command, u64 timeout_ns)
{
    write(ICR_HIGH, apic_id << XAPIC_ID_SHIFT);
    write(ICR_LOW, command); // the write to the low word sends
    const u64 deadline = time_now_ns() + timeout_ns;
    while ((read(ICR_LOW) & ICR_PENDING) != 0) {
        if (time_now_ns() > deadline)
            return false;
        cpu::pause();
    }
    return true;
}
