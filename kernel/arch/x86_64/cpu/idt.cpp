// SPDX-License-Identifier: MIT
// Interrupt descriptor table: all 256 vectors go through one dispatcher.
#include "arch/x86_64/cpu/idt.hpp"
#include "arch/x86_64/cpu/exceptions.hpp"
#include "arch/x86_64/cpu/gdt.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/smp/call_function.hpp"
#include "arch/x86_64/smp/smp.hpp"

extern "C" const u64 interrupt_stub_table[256];

namespace {

struct [[gnu::packed]] Gate {
    u16 offset_low;
    u16 selector;
    u8 ist;
    u8 type_attributes;
    u16 offset_mid;
    u32 offset_high;
    u32 reserved;
};
static_assert(sizeof(Gate) == 16);

struct [[gnu::packed]] IdtPointer {
    u16 limit;
    u64 base;
};

alignas(16) Gate gates[256];

constexpr u8 INTERRUPT_GATE = 0x8e; // present, DPL 0, 64-bit interrupt gate

u8 ist_for(unsigned vector)
{
    switch (vector) {
    case 2: return gdt::IST_NMI;
    case 8: return gdt::IST_DOUBLE_FAULT;
    case 18: return gdt::IST_MACHINE_CHECK;
    default: return 0;
    }
}

} // namespace

void idt::init()
{
    for (unsigned vector = 0; vector < 256; vector++) {
        u64 handler = interrupt_stub_table[vector];
        gates[vector] = Gate{
            .offset_low = static_cast<u16>(handler),
            .selector = gdt::KERNEL_CODE,
            .ist = ist_for(vector),
            .type_attributes = INTERRUPT_GATE,
            .offset_mid = static_cast<u16>(handler >> 16),
            .offset_high = static_cast<u32>(handler >> 32),
            .reserved = 0,
        };
    }
    load();
}

void idt::load()
{
    IdtPointer pointer{sizeof(gates) - 1, reinterpret_cast<u64>(gates)};
    asm volatile("lidt %0" ::"m"(pointer));
}

extern "C" void interrupt_dispatch(InterruptFrame *frame)
{
    constexpr u64 NMI_VECTOR = 2;
    if (frame->vector == NMI_VECTOR)
        return handle_nmi(*frame);
    if (frame->vector < 32)
        exception_fatal(*frame);
    if (frame->vector == timer::TICK_VECTOR)
        return timer::handle_tick();
    if (frame->vector == smp::STOP_VECTOR)
        smp::handle_stop_request(); // on an application processor: does not return
    if (frame->vector == smp::TLB_SHOOTDOWN_VECTOR)
        return smp::handle_tlb_shootdown();
    if (frame->vector == smp::RESCHEDULE_VECTOR)
        return smp::handle_reschedule();
    if (frame->vector == smp::CALL_FUNCTION_VECTOR)
        return smp::handle_call_function();
    if (frame->vector == timer::SPURIOUS_VECTOR)
        return; // the LAPIC's spurious vector needs no EOI
    // No other device interrupts are enabled: a stray one is reported and ignored.
    report_spurious_interrupt(*frame);
}
