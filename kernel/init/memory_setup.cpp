// SPDX-License-Identifier: MIT
// Bringing up memory at boot: allocator, final page tables, frame table, report.
#include "init/memory_setup.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/frames.hpp"
#include "mm/invariants.hpp"
#include "mm/memory_report.hpp"
#include "update/rollback.hpp"

namespace {

// Page-table frames for the final kernel tables must lie in the part of memory the boot
// page tables already map (the first 4 GiB).
u64 boot_table_frame() { return frame_allocator().boot().alloc(PAGE_SIZE, PAGE_SIZE, 4 * GiB); }

} // namespace

void setup_memory(const BootInfo &boot_info, const KernelOptions &options, IncomingRecord &incoming)
{
    ReservedRange reserved[FrameAllocator::MAX_RESERVED];
    usize reserved_count = 0;
    // Where this image actually runs: after a live update, the slot the old image placed
    // it in. The old image's own range is ordinary free memory here, even before the
    // commit: a rollback copies the old image back over it, which loses nothing, since the
    // record the old image restores from was written while that range held its code, so
    // no preserved range of the record lies there (a preserved block this image allocated
    // there before the commit would not be in that record either).
    log_info("boot: image at 0x%lx-0x%lx (load delta 0x%lx)", paging::image_phys_start(), paging::image_phys_end(),
             paging::load_delta());
    reserved[reserved_count++] = {
        {paging::image_phys_start(), paging::image_phys_end()}, FrameType::kernel_image, "the kernel image"};
    // Modules (guest images, a staged next image) stay where GRUB put them. The boot
    // information block itself was copied out by parse_multiboot2 and is free again.
    for (usize i = 0; i < boot_info.module_count && reserved_count < FrameAllocator::MAX_RESERVED; i++)
        reserved[reserved_count++] = {boot_info.modules[i].range, FrameType::boot_module, "a boot module"};

    MemoryLayout layout;
    layout.memory_map = boot_info.memory_map;
    layout.memory_map_count = boot_info.memory_map_count;
    layout.reserved = reserved;
    layout.reserved_count = reserved_count;
    // Size 0 asks for the default, which scales with RAM (bootmem_region.hpp).
    layout.bootmem = BootmemRequest{options.lu_bootmem_given ? options.lu_bootmem_size : 0, options.lu_bootmem_address,
                                    options.lu_bootmem_fixed};
    layout.confine_boot_allocator = options.lu_record_given;

    FrameAllocator &frames = frame_allocator();
    if (frames.early_init(layout) != 0)
        panic("mm: cannot set up memory (reason above)");

    paging::build_kernel_space(frames.usable_ram().highest_end(), boot_table_frame);

    // Every frame the record preserves is marked in use before any free memory reaches
    // the zones. A record that cannot be trusted preserves nothing: its guests are lost,
    // and none is started on its state.
    PreservedRange *preserved = nullptr;
    usize preserved_count = 0;
    if (options.lu_record_given && check_incoming_record(options, frames, incoming) &&
        incoming_preserved_ranges(incoming, frames.boot(), preserved, preserved_count) != 0)
        incoming.usable = false;
    if (incoming.usable && options.lu_fault == InjectedFault::refuse_record) {
        incoming.usable = false;
        format(incoming.why, sizeof(incoming.why), "injected fault refuse_record");
    }
    if (options.lu_record_given && !incoming.usable) {
        // Before the frame table: a refused record preserves nothing, so the old image,
        // which can read it, must take over again while all of memory is as it left it.
        rollback_if_pending("the handover record was refused: %s", incoming.why);
        log_error("update: the handover record cannot be used: %s", incoming.why);
    }
    // After a live update only the bootmem region reaches the zones before the guests
    // resume; the rest of free memory follows while they run (docs/memory.md).
    if (frames.init(incoming.usable ? preserved : nullptr, incoming.usable ? preserved_count : 0,
                    options.lu_record_given ? StartUp::deferred : StartUp::complete) != 0)
        panic("mm: cannot build the frame table (reason above)");
    if (incoming.usable)
        log_info("update: record of %lu bytes checked; %zu preserved ranges kept", incoming.bytes.size(),
                 preserved_count);

    print_memory_report(memory_report(frames));
    InvariantResult invariant = check_bootmem_invariant(frames.table(), frames.bootmem_region());
    if (!invariant.ok())
        panic("mm: %lu preserved frames inside the bootmem region, first at 0x%lx", invariant.violations,
              invariant.first_offender);
    log_info("mem: invariant ok (no preserved frame in the bootmem region)");
}
