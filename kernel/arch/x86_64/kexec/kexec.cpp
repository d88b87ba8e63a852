// SPDX-License-Identifier: MIT
// kexec: entering a new hypervisor image in place of this one, as a multiboot2 loader.
#include "arch/x86_64/kexec/kexec.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/kexec/jump.hpp"
#include "arch/x86_64/kexec/rollback_kit.hpp"
#include "arch/x86_64/smp/smp.hpp"
#include "boot/multiboot2_writer.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/frames.hpp"
#include "mm/phys.hpp"

extern "C" const u8 kexec_trampoline_start[], kexec_trampoline_end[];

namespace {

// Low memory the heap never uses (mm keeps the first 1 MiB out): the trampoline code
// and its parameters share one page, the next image's boot information takes two.
constexpr u64 TRAMPOLINE_PHYS = 0x8000;
constexpr u64 PARAMS_PHYS = 0x8800;
constexpr u64 INFO_PHYS = 0x9000;
constexpr u64 INFO_SIZE = 2 * PAGE_SIZE;
constexpr PhysRange LOW_PAGES{TRAMPOLINE_PHYS, INFO_PHYS + INFO_SIZE};
static_assert(!LOW_PAGES.overlaps(smp::AP_LOW_PAGES), "a starting AP's pages must not be the jump's");
constexpr JumpPlace LOW_PLACE{TRAMPOLINE_PHYS, PARAMS_PHYS, INFO_PHYS, INFO_SIZE};

struct [[gnu::packed]] Segment {
    u64 destination, source, file_size, zero_size;
};

// Shared with kexec_trampoline.S (P_* offsets).
struct [[gnu::packed]] Params {
    u64 entry; // 0
    u64 info; // 8
    u64 segment_count; // 16
    u16 gdt_limit; // 24
    u64 gdt_base; // 26
    u8 pad[6]; // 34
    u64 gdt[3]; // 40
    Segment segments[ELF_MAX_SEGMENTS]; // 64
};
static_assert(__builtin_offsetof(Params, gdt_limit) == 24 && __builtin_offsetof(Params, segments) == 64);
static_assert(sizeof(Params) <= PAGE_SIZE / 2);

bool prepared;
u64 rollback_kit; // of the prepared jump

// A page table for the jump: the current kernel half (so this code keeps running) plus
// an identity map of the first 4 GiB (so the trampoline can turn paging off).
u64 build_jump_tables()
{
    FrameAllocator &frames = frame_allocator();
    u64 pml4 = frames.alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::page_table);
    u64 pdpt = frames.alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::page_table);
    u64 pds = frames.alloc_frames(2, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::page_table);
    if (!pml4 || !pdpt || !pds)
        panic("kexec: out of memory for the jump's page tables");
    u64 *new_root = phys_to<u64>(pml4);
    const u64 *current = phys_to<u64>(cpu::read_cr3() & ~0xffful);
    for (unsigned i = 0; i < 512; i++)
        new_root[i] = i >= 256 ? current[i] : 0;
    new_root[0] = pdpt | 3;
    u64 *directory_pointers = phys_to<u64>(pdpt);
    for (unsigned i = 0; i < 512; i++)
        directory_pointers[i] = i < 4 ? (pds + i * PAGE_SIZE) | 3 : 0;
    u64 *directories = phys_to<u64>(pds);
    for (u64 i = 0; i < 4 * 512; i++)
        directories[i] = (i << 21) | 0x83; // present, writable, 2 MiB
    return pml4;
}

bool starts_with(const char *text, const char *prefix)
{
    while (*prefix != '\0' && *text == *prefix)
        text++, prefix++;
    return *prefix == '\0';
}

// Address of the first frame in `range` that must survive the jump, or 0 (frame 0 is
// low memory, never preserved).
u64 first_preserved_frame(const FrameAllocator &frames, PhysRange range)
{
    for (frame_t frame = range.first_frame(); frame < align_up(range.end, PAGE_SIZE) >> PAGE_SHIFT; frame++)
        if (frames.table().contains(frame) && frames.table()[frame].has(FRAME_PRESERVED))
            return frame_to_addr(frame);
    return 0;
}

} // namespace

int write_jump(const JumpPlace &place, const KexecRequest &request, char *why, usize why_capacity)
{
    const BootInfo &boot = *request.boot_info;
    const ElfImage &elf = request.info->elf;
    Params &params = *phys_to<Params>(place.params);
    params = Params{};
    for (usize i = 0; i < elf.segment_count; i++) {
        const ElfSegment &s = elf.segments[i];
        params.segments[i] =
            Segment{s.physical_address, request.image_phys + s.file_offset, s.file_size, s.memory_size - s.file_size};
    }
    params.segment_count = elf.segment_count;
    params.entry = elf.entry;
    params.info = place.info;
    params.gdt[1] = 0x00cf9a000000ffff; // 32-bit flat code
    params.gdt[2] = 0x00cf92000000ffff; // flat data
    params.gdt_limit = sizeof(params.gdt) - 1;
    params.gdt_base = place.params + __builtin_offsetof(Params, gdt);

    // The next image boots as if from GRUB, with this region fixed as its bootmem.
    char command_line[BOOT_COMMAND_LINE_SIZE];
    KernelOptions options = request.options;
    options.lu_bootmem_given = true;
    options.lu_bootmem_fixed = true;
    options.lu_bootmem_size = request.bootmem.size();
    options.lu_bootmem_address = request.bootmem.start;
    if (format_kernel_options(options, command_line, sizeof(command_line)) >= sizeof(command_line))
        return format_refusal(why, why_capacity, BATON_E2BIG, "kexec: the next command line is too long");
    // Named after the first loader, however many updates ago it ran.
    constexpr const char *prefix = "Baton kexec (from ";
    const char *first_loader = boot.loader_name;
    char loader[64];
    if (starts_with(first_loader, prefix))
        format(loader, sizeof(loader), "%s", first_loader);
    else
        format(loader, sizeof(loader), "%s%s)", prefix, first_loader);

    Multiboot2Writer writer(phys_to_virt(place.info), place.info_size);
    writer.add_command_line(command_line);
    writer.add_loader_name(loader);
    writer.add_memory_map(boot.memory_map, boot.memory_map_count);
    for (usize m = 0; m < boot.module_count; m++)
        writer.add_module(boot.modules[m].range.start, boot.modules[m].range.end, boot.modules[m].string);
    if (boot.has_acpi_rsdp_v1)
        writer.add_acpi_old_rsdp(boot.acpi_rsdp_v1);
    if (boot.has_acpi_rsdp_v2)
        writer.add_acpi_new_rsdp(boot.acpi_rsdp_v2);
    usize info_size = 0;
    if (int error = writer.finish(info_size))
        return format_refusal(why, why_capacity, -error, "kexec: cannot build the next boot information");

    u8 *trampoline = phys_to<u8>(place.trampoline);
    usize code_size = static_cast<usize>(kexec_trampoline_end - kexec_trampoline_start);
    for (usize i = 0; i < code_size; i++)
        trampoline[i] = kexec_trampoline_start[i];
    log_info("kexec: %s (build %s): %zu segments, entry 0x%lx, command line '%s'", request.info->note.version,
             request.info->note.build_id, elf.segment_count, elf.entry, command_line);
    return 0;
}

void enter_jump(u64 page_table_root, const JumpPlace &place)
{
    // From here a stray exception must end in a clean triple fault, not a jump into
    // memory the copy is overwriting.
    struct [[gnu::packed]] {
        u16 limit;
        u64 base;
    } no_idt = {0, 0};
    asm volatile("lidt %0" ::"m"(no_idt));
    cpu::write_cr3(page_table_root);
    auto trampoline = reinterpret_cast<void (*)(u64)>(place.trampoline);
    trampoline(place.params);
    __builtin_unreachable();
}

int kexec_prepare(const KexecRequest &request, char *why, usize why_capacity)
{
    prepared = false;
    const FrameAllocator &frames = frame_allocator();
    const BootInfo &boot = *request.boot_info;
    if (!frames.usable_ram().covers(LOW_PAGES))
        return format_refusal(why, why_capacity, BATON_ENOMEM,
                              "kexec: low pages 0x%lx-0x%lx are not RAM on this machine", LOW_PAGES.start,
                              LOW_PAGES.end);
    PhysRange staged{request.image_phys, request.image_phys + request.image_size};
    if (staged.end > 4 * GiB)
        return format_refusal(why, why_capacity, BATON_ERANGE, "kexec: the staged image lies above 4 GiB");

    const ElfImage &elf = request.info->elf;
    for (usize i = 0; i < elf.segment_count; i++) {
        const ElfSegment &s = elf.segments[i];
        PhysRange target{s.physical_address, s.physical_address + s.memory_size};
        if (target.end > 4 * GiB || !frames.usable_ram().covers(target))
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "kexec: segment %zu (0x%lx-0x%lx) is not in RAM below 4 GiB", i, target.start,
                                  target.end);
        if (target.overlaps(LOW_PAGES) || target.overlaps(staged))
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "kexec: segment %zu (0x%lx-0x%lx) would overwrite the trampoline or the staged image",
                                  i, target.start, target.end);
        if (u64 preserved = first_preserved_frame(frames, target))
            return format_refusal(why, why_capacity, BATON_EFAULT,
                                  "kexec: segment %zu (0x%lx-0x%lx) would overwrite preserved memory at 0x%lx", i,
                                  target.start, target.end, preserved);
        for (usize m = 0; m < boot.module_count; m++) {
            if (target.overlaps(boot.modules[m].range))
                return format_refusal(why, why_capacity, BATON_EINVAL,
                                      "kexec: segment %zu (0x%lx-0x%lx) would overwrite boot module '%s'", i,
                                      target.start, target.end, boot.modules[m].string);
        }
    }
    if (int error = write_jump(LOW_PLACE, request, why, why_capacity))
        return error;
    rollback_kit = request.rollback_kit;
    prepared = true;
    return 0;
}

void kexec_jump()
{
    if (!prepared)
        panic("kexec: jump without a prepared image");
    cpu::disable_interrupts();
    smp::park_application_processors(); // in wait-for-SIPI before anything is overwritten
    timer::quiesce();
    cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) & ~cpu::EFER_SVME); // SVM off
    u64 root = build_jump_tables();
    if (rollback_kit != 0)
        rollback_kit_arm_watchdog(rollback_kit); // last: nothing above may take its time
    enter_jump(root, LOW_PLACE);
}
