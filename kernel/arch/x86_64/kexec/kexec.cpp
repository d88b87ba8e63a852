// SPDX-License-Identifier: MIT
// kexec: entering a new hypervisor image in place of this one, as a multiboot2 loader.
#include "arch/x86_64/kexec/kexec.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/kexec/jump.hpp"
#include "arch/x86_64/kexec/rollback_kit.hpp"
#include "arch/x86_64/smp/smp.hpp"
#include "boot/multiboot2_writer.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/buddy.hpp"
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

// The image's boot code finds its load delta in 2 MiB steps (boot/entry32.S maps the
// kernel window with 2 MiB pages), so a slot is at least that big and that aligned.
constexpr u64 SLOT_ALIGN = 2 * MiB;
constexpr unsigned SLOT_MIN_ORDER = 9;
static_assert(PAGE_SIZE << SLOT_MIN_ORDER == SLOT_ALIGN);
// The trampoline enters the image with paging off: below 4 GiB. Low memory first, where
// devices with a short DMA reach (QEMU's edu: 28 bits, `pci dma-probe` into the image)
// still reach the image's pages and which leaves the large blocks above to guests.
constexpr u64 SLOT_LIMITS[] = {256 * MiB, 4 * GiB};
constexpr u64 SLOT_LIMIT = SLOT_LIMITS[sizeof(SLOT_LIMITS) / sizeof(SLOT_LIMITS[0]) - 1];

// The next image, placed where it will run (kexec_load).
struct LoadSlot {
    u64 base = 0; // 0: none held
    unsigned order = 0;
    u64 delta = 0;
    PhysRange range() const { return {base, base + (PAGE_SIZE << order)}; }
};
LoadSlot slot;

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

// Eight bytes per REP iteration, then the tail: under TCG every iteration is a dispatch,
// and the byte loops of lib/crt.cpp made placing the image cost over 100 ms.
void fill_qwords(u8 *to, const u8 *from, usize bytes)
{
    usize qwords = bytes / sizeof(u64), rest = bytes % sizeof(u64);
    if (from != nullptr)
        asm volatile("rep movsq; mov %3, %%rcx; rep movsb" : "+D"(to), "+S"(from), "+c"(qwords) : "r"(rest) : "memory");
    else
        asm volatile("rep stosq; mov %2, %%rcx; rep stosb" : "+D"(to), "+c"(qwords) : "r"(rest), "a"(0) : "memory");
}

// [lowest ELF address, highest end) of the image's segments, BSS included.
PhysRange segments_span(const ElfImage &elf)
{
    PhysRange span{~u64{0}, 0};
    for (usize i = 0; i < elf.segment_count; i++) {
        const ElfSegment &s = elf.segments[i];
        span.start = s.physical_address < span.start ? s.physical_address : span.start;
        const u64 end = s.physical_address + s.memory_size;
        span.end = end > span.end ? end : span.end;
    }
    return span;
}

// What the slot must not touch but the allocator would not know of; nullptr when clear.
// (The allocator hands out only free frames of the general zone below the limit: every
// check here is a second line, not the first.)
const char *slot_conflict(const FrameAllocator &frames, const KexecRequest &request, PhysRange range)
{
    const BootInfo &boot = *request.boot_info;
    if (range.end > SLOT_LIMIT || !frames.usable_ram().covers(range))
        return "not RAM below 4 GiB";
    if (range.overlaps(frames.bootmem_region()))
        return "inside the bootmem region";
    if (range.overlaps(LOW_PAGES))
        return "over the trampoline pages";
    if (range.overlaps({request.image_phys, request.image_phys + request.image_size}))
        return "over the staged image";
    if (range.overlaps({paging::image_phys_start(), paging::image_phys_end()}))
        return "over the running image";
    for (usize m = 0; m < boot.module_count; m++)
        if (range.overlaps(boot.modules[m].range))
            return "over a boot module";
    if (first_preserved_frame(frames, range) != 0)
        return "over preserved memory";
    return nullptr;
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
        params.segments[i] = Segment{s.physical_address + request.load_delta, request.image_phys + s.file_offset,
                                     s.file_size, s.memory_size - s.file_size};
    }
    params.segment_count = request.placed ? 0 : elf.segment_count; // the list stays, for a reader
    params.entry = elf.entry + request.load_delta;
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
    // The firmware's maps as this image got them, so the next one reads the same memory.
    // EFI descriptors in their 40-byte core (OVMF writes 48): the two pages hold about
    // 150 of them beside the rest (a map that does not fit refuses the jump).
    if (boot.loader_memory_map_count != 0)
        writer.add_memory_map(boot.loader_memory_map, boot.loader_memory_map_count);
    if (boot.efi_memory_map.present)
        writer.add_efi_memory_map(boot.efi_memory_map, EFI_DESCRIPTOR_MIN_SIZE);
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
    log_info("kexec: %s (build %s): %zu segments %s 0x%lx (load delta 0x%lx), entry 0x%lx, command line '%s'",
             request.info->note.version, request.info->note.build_id, elf.segment_count,
             request.placed ? "placed at" : "copied to", segments_span(elf).start + request.load_delta,
             request.load_delta, params.entry, command_line);
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

int kexec_load(const KexecRequest &request, char *why, usize why_capacity)
{
    kexec_unload();
    FrameAllocator &frames = frame_allocator();
    const ElfImage &elf = request.info->elf;
    const PhysRange span = segments_span(elf);
    if (elf.segment_count == 0 || span.end <= span.start)
        return format_refusal(why, why_capacity, BATON_EINVAL, "kexec: the next image has nothing to load");
    const u64 link_base = align_down(span.start, SLOT_ALIGN);
    unsigned order = order_covering(align_up(span.end - link_base, PAGE_SIZE) >> PAGE_SHIFT);
    order = order < SLOT_MIN_ORDER ? SLOT_MIN_ORDER : order;
    u64 base = 0;
    for (u64 limit : SLOT_LIMITS)
        if (base == 0)
            base = frames.alloc_outside_bootmem(order, FrameType::kernel_image, limit);
    if (base == 0)
        return format_refusal(why, why_capacity, BATON_ENOMEM,
                              "kexec: no free %lu KiB below 4 GiB outside the bootmem region to place the next image",
                              (PAGE_SIZE << order) / KiB);
    // Low memory is never free, so a slot lies above the link address: the boot code
    // takes the delta as unsigned.
    slot = LoadSlot{base, order, base - link_base};
    const char *conflict = base < link_base ? "below the image's link address" : nullptr;
    if (conflict != nullptr || (conflict = slot_conflict(frames, request, slot.range())) != nullptr) {
        const PhysRange range = slot.range();
        kexec_unload();
        return format_refusal(why, why_capacity, BATON_EFAULT, "kexec: the load slot 0x%lx-0x%lx would be %s",
                              range.start, range.end, conflict);
    }
    // From the checked file (its digest covered these bytes); the BSS zeroed here and again
    // by the image's own entry, which a loader need not do.
    for (usize i = 0; i < elf.segment_count; i++) {
        const ElfSegment &s = elf.segments[i];
        u8 *target = phys_to<u8>(s.physical_address + slot.delta);
        fill_qwords(target, phys_to<u8>(request.image_phys + s.file_offset), s.file_size);
        fill_qwords(target + s.file_size, nullptr, s.memory_size - s.file_size);
    }
    return 0;
}

void kexec_unload()
{
    if (slot.base != 0)
        frame_allocator().free_frames(slot.base, slot.order);
    slot = LoadSlot{};
    prepared = false;
}

int kexec_prepare(const KexecRequest &request, char *why, usize why_capacity)
{
    prepared = false;
    auto refuse = [&](int error) {
        kexec_unload();
        return error;
    };
    const FrameAllocator &frames = frame_allocator();
    if (slot.base == 0)
        return refuse(format_refusal(why, why_capacity, BATON_EINVAL, "kexec: the next image was not loaded"));
    if (!frames.usable_ram().covers(LOW_PAGES))
        return refuse(format_refusal(why, why_capacity, BATON_ENOMEM,
                                     "kexec: low pages 0x%lx-0x%lx are not RAM on this machine", LOW_PAGES.start,
                                     LOW_PAGES.end));
    // The barrier: the slot is allocated, so nothing should have become preserved there
    // since kexec_load; a frame table that says otherwise stops the update.
    if (u64 preserved = first_preserved_frame(frames, slot.range()))
        return refuse(format_refusal(why, why_capacity, BATON_EFAULT,
                                     "kexec: the load slot 0x%lx-0x%lx holds preserved memory at 0x%lx",
                                     slot.range().start, slot.range().end, preserved));
    KexecRequest placed = request;
    placed.load_delta = slot.delta;
    placed.placed = true;
    if (int error = write_jump(LOW_PLACE, placed, why, why_capacity))
        return refuse(error);
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
