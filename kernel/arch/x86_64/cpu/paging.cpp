// SPDX-License-Identifier: MIT
// The hypervisor's own page tables: direct map with large pages, the image with W^X.
#include "arch/x86_64/cpu/paging.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "lib/log.hpp"
#include "mm/phys.hpp"

extern "C" char __image_start[], __text_start[], __rodata_start[], __data_start[], __bss_end[], kernel_stack_guard[];
extern "C" u64 boot_load_delta; // written by boot/entry32.S before kernel_main

namespace {

constexpr u64 PTE_PRESENT = 1ul << 0, PTE_WRITABLE = 1ul << 1, PTE_LARGE = 1ul << 7, PTE_GLOBAL = 1ul << 8,
              PTE_NO_EXECUTE = 1ul << 63;
constexpr u64 PTE_ADDRESS = 0x000ffffffffff000ul;
constexpr u64 DIRECT_MAP_FLAGS = PTE_PRESENT | PTE_WRITABLE | PTE_GLOBAL | PTE_NO_EXECUTE;

paging::TableFrameSource frame_source;
u64 mapped_end;

u64 *new_table()
{
    u64 phys = frame_source();
    if (phys == 0)
        panic("paging: out of memory for page tables");
    if (phys >= 4 * GiB)
        panic("paging: page-table frame 0x%lx is above 4 GiB and not yet mapped", phys);
    u64 *table = phys_to<u64>(phys);
    for (unsigned i = 0; i < 512; i++)
        table[i] = 0;
    return table;
}

// The table one level down from entry `index` of `table`, created if absent.
u64 *next_level(u64 *table, unsigned index)
{
    if ((table[index] & PTE_PRESENT) == 0)
        table[index] = virt_to_phys(new_table()) | PTE_PRESENT | PTE_WRITABLE;
    return phys_to<u64>(table[index] & PTE_ADDRESS);
}

unsigned index_at(u64 virt, unsigned level) { return (virt >> (12 + 9 * (level - 1))) & 511; }

void map_4k(u64 *pml4, u64 virt, u64 phys, u64 flags)
{
    u64 *pdpt = next_level(pml4, index_at(virt, 4));
    u64 *pd = next_level(pdpt, index_at(virt, 3));
    u64 *pt = next_level(pd, index_at(virt, 2));
    pt[index_at(virt, 1)] = phys | flags;
}

bool has_1g_pages() { return (cpu::cpuid(cpu::CPUID_EXTENDED_FEATURES).edx & cpu::CPUID_80000001_EDX_PAGE1GB) != 0; }

void map_direct(u64 *pml4, u64 end)
{
    bool huge = has_1g_pages();
    u64 step = huge ? GiB : 2 * MiB;
    for (u64 phys = 0; phys < end; phys += step) {
        u64 virt = DIRECT_MAP_BASE + phys;
        u64 *pdpt = next_level(pml4, index_at(virt, 4));
        if (huge) {
            pdpt[index_at(virt, 3)] = phys | DIRECT_MAP_FLAGS | PTE_LARGE;
        } else {
            u64 *pd = next_level(pdpt, index_at(virt, 3));
            pd[index_at(virt, 2)] = phys | DIRECT_MAP_FLAGS | PTE_LARGE;
        }
    }
}

void map_image(u64 *pml4)
{
    auto virt_of = [](const char *symbol) { return reinterpret_cast<u64>(symbol); };
    u64 text = virt_of(__text_start), rodata = virt_of(__rodata_start), data = virt_of(__data_start),
        end = align_up(virt_of(__bss_end), PAGE_SIZE);
    u64 guard = virt_of(kernel_stack_guard);
    for (u64 virt = text; virt < end; virt += PAGE_SIZE) {
        if (virt == guard)
            continue;
        u64 flags = PTE_PRESENT | PTE_GLOBAL;
        if (virt >= data)
            flags |= PTE_WRITABLE | PTE_NO_EXECUTE;
        else if (virt >= rodata)
            flags |= PTE_NO_EXECUTE;
        map_4k(pml4, virt, paging::image_phys_of(virt), flags);
    }
}

} // namespace

u64 paging::load_delta() { return boot_load_delta; }
u64 paging::image_phys_of(u64 virt) { return virt - KERNEL_VMA + boot_load_delta; }
u64 paging::image_phys_of(const void *object) { return image_phys_of(reinterpret_cast<u64>(object)); }
u64 paging::image_link_start() { return reinterpret_cast<u64>(__image_start); }
u64 paging::image_phys_start() { return image_link_start() + boot_load_delta; }
u64 paging::image_phys_end() { return align_up(image_phys_of(reinterpret_cast<u64>(__bss_end)), PAGE_SIZE); }

u64 paging::direct_map_end() { return mapped_end; }

u64 paging::build_kernel_space(u64 direct_map_end, TableFrameSource source)
{
    frame_source = source;
    u64 *pml4 = new_table();
    mapped_end = align_up(direct_map_end < 4 * GiB ? 4 * GiB : direct_map_end, GiB);
    map_direct(pml4, mapped_end);
    map_image(pml4);

    // Global pages survive CR3 writes; enable them only now that the layout is final.
    cpu::write_cr4(cpu::read_cr4() | cpu::CR4_PGE);
    u64 root = virt_to_phys(pml4);
    cpu::write_cr3(root);
    return root;
}
