// SPDX-License-Identifier: MIT
// Interrupts and exceptions: a guest reports its own faults and crashes, never hangs.
#include "lib/interrupts.hpp"
#include "lib/layout.h"
#include "lib/runtime.hpp"

extern "C" const uint64_t interrupt_stub_table[256];
extern "C" char cpl3_return_entry[];
extern "C" uint64_t guest_gdt[GUEST_GDT_ENTRIES];

namespace guest {
namespace {

struct [[gnu::packed]] Gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attributes;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};
static_assert(sizeof(Gate) == 16);

struct [[gnu::packed]] Task_state {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t io_map_base;
};
static_assert(sizeof(Task_state) == 104);

struct [[gnu::packed]] Table_pointer {
    uint16_t limit;
    uint64_t base;
};

constexpr uint8_t INTERRUPT_GATE_DPL0 = 0x8e;
constexpr uint8_t INTERRUPT_GATE_DPL3 = 0xee;
constexpr uint8_t TSS_AVAILABLE = 0x89; // present, 64-bit TSS

alignas(16) Gate idt[256];
alignas(16) Task_state task_state;
alignas(16) char ist_stack[GUEST_TRAP_STACK_SIZE];
alignas(16) char cpl0_stack[GUEST_TRAP_STACK_SIZE];
Interrupt_handler handlers[256];
bool crashing;

void set_gate(unsigned vector, uint64_t target, uint8_t ist, uint8_t type_attributes)
{
    idt[vector] = Gate{static_cast<uint16_t>(target),
                       GUEST_KERNEL_CS,
                       ist,
                       type_attributes,
                       static_cast<uint16_t>(target >> 16),
                       static_cast<uint32_t>(target >> 32),
                       0};
}

const char *exception_name(uint64_t vector)
{
    static const char *const names[32] = {
        "#DE",      "#DB",         "NMI",      "#BP",      "#OF", "#BR", "#UD",      "#NM",
        "#DF",      "coprocessor", "#TS",      "#NP",      "#SS", "#GP", "#PF",      "reserved",
        "#MF",      "#AC",         "#MC",      "#XM",      "#VE", "#CP", "reserved", "reserved",
        "reserved", "reserved",    "reserved", "reserved", "#HV", "#VC", "#SX",      "reserved"};
    return vector < 32 ? names[vector] : "interrupt";
}

// Prints what happened and crashes the domain. A fault while reporting a fault goes
// straight to the shutdown.
[[noreturn]] void crash(const Interrupt_frame &f, const char *what)
{
    while (crashing)
        hypercall(BATON_HC_SHUTDOWN, BATON_SHUTDOWN_CRASH);
    crashing = true;
    report("CRASH %s vector=%lu (%s) error=0x%lx rip=0x%lx cs=0x%lx rflags=0x%lx rsp=0x%lx cr2=0x%lx", what, f.vector,
           exception_name(f.vector), f.error_code, f.rip, f.cs, f.rflags, f.rsp, read_cr2());
    report("CRASH regs rax=0x%lx rbx=0x%lx rcx=0x%lx rdx=0x%lx rsi=0x%lx rdi=0x%lx rbp=0x%lx", f.rax, f.rbx, f.rcx,
           f.rdx, f.rsi, f.rdi, f.rbp);
    report("CRASH regs r8=0x%lx r9=0x%lx r10=0x%lx r11=0x%lx r12=0x%lx r13=0x%lx r14=0x%lx r15=0x%lx", f.r8, f.r9,
           f.r10, f.r11, f.r12, f.r13, f.r14, f.r15);
    shutdown(BATON_SHUTDOWN_CRASH);
}

} // namespace

void interrupts_init()
{
    for (unsigned vector = 0; vector < 256; ++vector) {
        bool own_stack = vector == 2 || vector == 8 || vector == 18; // NMI, #DF, #MC
        set_gate(vector, interrupt_stub_table[vector], own_stack ? 1 : 0, INTERRUPT_GATE_DPL0);
    }
    set_gate(GUEST_CPL3_RETURN_VECTOR, gpa_of(cpl3_return_entry), 0, INTERRUPT_GATE_DPL3);
    Table_pointer idt_pointer{sizeof(idt) - 1, gpa_of(idt)};
    asm volatile("lidt %0" ::"m"(idt_pointer));

    task_state.ist[0] = gpa_of(ist_stack + sizeof(ist_stack));
    task_state.rsp[0] = gpa_of(cpl0_stack + sizeof(cpl0_stack));
    task_state.io_map_base = sizeof(Task_state); // no I/O bitmap: CPL 3 port access faults
    uint64_t base = gpa_of(&task_state);
    uint64_t limit = sizeof(Task_state) - 1;
    guest_gdt[GUEST_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | static_cast<uint64_t>(TSS_AVAILABLE) << 40 |
                               (limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
    guest_gdt[GUEST_TSS / 8 + 1] = base >> 32;
    asm volatile("ltr %w0" ::"r"(GUEST_TSS) : "memory");
}

void interrupts_init_secondary()
{
    Table_pointer idt_pointer{sizeof(idt) - 1, gpa_of(idt)};
    asm volatile("lidt %0" ::"m"(idt_pointer));
}

void set_interrupt_handler(uint8_t vector, Interrupt_handler handler) { handlers[vector] = handler; }

} // namespace guest

extern "C" void interrupt_dispatch(guest::Interrupt_frame *frame)
{
    if (frame->vector < 32)
        guest::crash(*frame, "exception");
    guest::Interrupt_handler handler = guest::handlers[frame->vector];
    if (handler == nullptr)
        guest::crash(*frame, "unexpected");
    handler(*frame);
}
