// SPDX-License-Identifier: MIT
// Kernel GDT and TSS with separate IST stacks for double fault, NMI and machine check.
#include "arch/x86_64/cpu/gdt.hpp"

namespace {

struct [[gnu::packed]] DescriptorPointer {
    u16 limit;
    u64 base;
};

constexpr u64 NULL_DESCRIPTOR = 0;
constexpr u64 CODE_DESCRIPTOR = 0x00af9a000000ffff; // 64-bit, present, DPL 0
constexpr u64 DATA_DESCRIPTOR = 0x00cf92000000ffff;

alignas(16) u8 ist_stacks[gdt::IST_COUNT][gdt::IST_STACK_SIZE];
gdt::CpuTables bootstrap_tables;

} // namespace

void gdt::init()
{
    u64 tops[IST_COUNT];
    for (usize i = 0; i < IST_COUNT; i++)
        tops[i] = reinterpret_cast<u64>(ist_stacks[i] + IST_STACK_SIZE);
    load(bootstrap_tables, tops);
}

void gdt::load(CpuTables &tables, const u64 (&ist_tops)[IST_COUNT])
{
    Tss &tss = tables.tss;
    tss = Tss{};
    tss.ist[IST_DOUBLE_FAULT - 1] = ist_tops[0];
    tss.ist[IST_NMI - 1] = ist_tops[1];
    tss.ist[IST_MACHINE_CHECK - 1] = ist_tops[2];
    tss.iomap_base = sizeof(Tss); // no I/O permission bitmap

    u64 *descriptors = tables.descriptors;
    descriptors[0] = NULL_DESCRIPTOR;
    descriptors[1] = CODE_DESCRIPTOR;
    descriptors[2] = DATA_DESCRIPTOR;
    u64 base = reinterpret_cast<u64>(&tss);
    u64 limit = sizeof(Tss) - 1;
    descriptors[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (u64{0x89} << 40) | // available 64-bit TSS
                     (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    descriptors[4] = base >> 32;

    DescriptorPointer pointer{sizeof(tables.descriptors) - 1, reinterpret_cast<u64>(descriptors)};
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
