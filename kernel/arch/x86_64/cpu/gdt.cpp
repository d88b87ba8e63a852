// SPDX-License-Identifier: MIT
// Kernel GDT and TSS with separate IST stacks for double fault, NMI and machine check.
#include "arch/x86_64/cpu/gdt.hpp"

namespace {

struct [[gnu::packed]] Tss {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
};
static_assert(sizeof(Tss) == 104);

struct [[gnu::packed]] DescriptorPointer {
    u16 limit;
    u64 base;
};

constexpr usize IST_STACK_SIZE = 16 * 1024;
alignas(16) u8 ist_stacks[3][IST_STACK_SIZE];

Tss tss;
alignas(8) u64 descriptors[5] = {
    0,
    0x00af9a000000ffff, // kernel code: 64-bit, present, DPL 0
    0x00cf92000000ffff, // kernel data
    0, // TSS, low half (filled in at init)
    0, // TSS, high half
};

} // namespace

void gdt::init()
{
    tss.ist[IST_DOUBLE_FAULT - 1] = reinterpret_cast<u64>(ist_stacks[0] + IST_STACK_SIZE);
    tss.ist[IST_NMI - 1] = reinterpret_cast<u64>(ist_stacks[1] + IST_STACK_SIZE);
    tss.ist[IST_MACHINE_CHECK - 1] = reinterpret_cast<u64>(ist_stacks[2] + IST_STACK_SIZE);
    tss.iomap_base = sizeof(Tss); // no I/O permission bitmap

    u64 base = reinterpret_cast<u64>(&tss);
    u64 limit = sizeof(Tss) - 1;
    descriptors[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (u64{0x89} << 40) | // available 64-bit TSS
                     (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    descriptors[4] = base >> 32;

    DescriptorPointer pointer{sizeof(descriptors) - 1, reinterpret_cast<u64>(descriptors)};
    asm volatile("lgdt %0\n"
                 "pushq %1\n"
                 "leaq 1f(%%rip), %%rax\n"
                 "pushq %%rax\n"
                 "lretq\n"
                 "1:\n"
                 "mov %2, %%ds\n"
                 "mov %2, %%es\n"
                 "mov %2, %%ss\n"
                 "ltr %w3\n"
                 :
                 : "m"(pointer), "i"(u64{KERNEL_CODE}), "r"(u32{KERNEL_DATA}), "r"(u32{TSS})
                 : "rax", "memory");
}
