// SPDX-License-Identifier: MIT
// The frame allocator's two start-up phases: boot allocator first, frame table second.
#include "abi/errno.h"
#include "lib/log.hpp"
#include "mm/frames.hpp"

namespace {

bool preservable_type(FrameType type)
{
    return type == FrameType::guest_ram || type == FrameType::extra || type == FrameType::page_table ||
           type == FrameType::record || type == FrameType::log_dirty_bitmap || type == FrameType::hypervisor_image ||
           type == FrameType::rollback_kit;
}

} // namespace

int FrameAllocator::early_init(const MemoryLayout &layout)
{
    ready_ = false;
    early_ = false;
    reserved_count_ = 0;
    region_ = {};
    table_ = FrameTable{};
    table_phys_ = 0;
    preserved_ = PreservedIndex{};
    bootmem_zone_ = BuddyZone{};
    general_zone_ = BuddyZone{};
    boot_.reset({});

    if (sanitize_memory_map(layout.memory_map, layout.memory_map_count, usable_) != 0) {
        log_error("mm: the memory map has more ranges than the sanitizer can hold");
        return -BATON_ENOSPC;
    }
    if (usable_.empty()) {
        log_error("mm: the memory map describes no usable RAM");
        return -BATON_EINVAL;
    }
    u64 table_limit = frame_to_addr(FrameTable::MAX_FRAMES);
    if (usable_.highest_end() > table_limit) {
        log_warn("mm: RAM above 0x%lx ignored (frame-table limit)", table_limit);
        usable_.intersect({0, table_limit});
    }
    for (usize i = 0; i < usable_.count(); i++) // what tests compare with the firmware's map
        log_debug("mm: usable RAM [0x%lx, 0x%lx)", usable_[i].start, usable_[i].end);
    if (layout.reserved_count > MAX_RESERVED) {
        log_error("mm: %lu reserved ranges, at most %lu supported", layout.reserved_count, MAX_RESERVED);
        return -BATON_E2BIG;
    }

    // Everything already in use, with a name for the bootmem region's error messages.
    NamedRange in_use[MAX_RESERVED + 1];
    in_use[0] = {LOW_MEMORY, "low memory"};
    for (usize i = 0; i < layout.reserved_count; i++) {
        ReservedRange reserved = layout.reserved[i];
        if (reserved.range.end < reserved.range.start || reserved.range.end > align_down(~u64{0}, PAGE_SIZE)) {
            log_error("mm: reserved range %s 0x%lx-0x%lx is malformed", reserved.name, reserved.range.start,
                      reserved.range.end);
            return -BATON_EINVAL;
        }
        reserved.range = {align_down(reserved.range.start, PAGE_SIZE), align_up(reserved.range.end, PAGE_SIZE)};
        reserved_[reserved_count_++] = reserved;
        in_use[i + 1] = {reserved.range, reserved.name};
    }

    if (free_.assign(usable_) != 0) {
        log_error("mm: too many free ranges");
        return -BATON_ENOSPC;
    }
    for (usize i = 0; i < reserved_count_ + 1; i++) {
        if (free_.subtract(in_use[i].range) != 0) {
            log_error("mm: too many free ranges");
            return -BATON_ENOSPC;
        }
    }

    BootmemChoice choice;
    if (int error = choose_bootmem_region(usable_, free_, in_use, reserved_count_ + 1, layout.bootmem, &choice)) {
        log_error("mm: cannot reserve the live-update bootmem region: %s", choice.reason);
        return error;
    }
    region_ = choice.region;

    boot_.reset(region_);
    confined_ = layout.confine_boot_allocator;
    for (PhysRange range : free_) {
        if (confined_)
            range = {range.start > region_.start ? range.start : region_.start,
                     range.end < region_.end ? range.end : region_.end};
        if (int error = boot_.add_free(range)) {
            log_error("mm: boot allocator cannot take 0x%lx-0x%lx", range.start, range.end);
            return error;
        }
    }
    early_ = true;
    return 0;
}

int FrameAllocator::check_preserved(const PreservedRange &preserved) const
{
    const PhysRange &range = preserved.range;
    if (range.empty() || !is_aligned(range.start, PAGE_SIZE) || !is_aligned(range.end, PAGE_SIZE)) {
        log_error("mm: preserved range 0x%lx-0x%lx is empty or not page aligned", range.start, range.end);
        return -BATON_EINVAL;
    }
    if (!preservable_type(preserved.type) || (preserved.flags & ~FRAME_EXTRA_PAGE) != 0) {
        log_error("mm: preserved range 0x%lx-0x%lx has type %s / flags 0x%x, which cannot be preserved", range.start,
                  range.end, frame_type_name(preserved.type), preserved.flags);
        return -BATON_EINVAL;
    }
    if (!usable_.covers(range)) {
        log_error("mm: preserved range 0x%lx-0x%lx is not inside usable RAM", range.start, range.end);
        return -BATON_EINVAL;
    }
    if (range.overlaps(region_)) {
        log_error("mm: preserved range 0x%lx-0x%lx overlaps lu_bootmem 0x%lx-0x%lx", range.start, range.end,
                  region_.start, region_.end);
        return -BATON_EINVAL;
    }
    if (range.overlaps(LOW_MEMORY)) {
        log_error("mm: preserved range 0x%lx-0x%lx overlaps low memory", range.start, range.end);
        return -BATON_EINVAL;
    }
    for (usize i = 0; i < reserved_count_; i++) {
        if (range.overlaps(reserved_[i].range)) {
            log_error("mm: preserved range 0x%lx-0x%lx overlaps %s", range.start, range.end, reserved_[i].name);
            return -BATON_EINVAL;
        }
    }
    return 0;
}

int FrameAllocator::check_preserved_list(const PreservedRange *preserved, usize count) const
{
    for (usize i = 0; i < count; i++) {
        if (int error = check_preserved(preserved[i]))
            return error;
        // Sorted and disjoint (a record the validator passed is): what lets a section find
        // its preserved ranges by binary search instead of by a walk over all of them.
        if (i > 0 && preserved[i].range.start < preserved[i - 1].range.end) {
            log_error("mm: preserved range 0x%lx-0x%lx %s 0x%lx-0x%lx", preserved[i].range.start,
                      preserved[i].range.end,
                      preserved[i].range.overlaps(preserved[i - 1].range) ? "overlaps" : "comes before",
                      preserved[i - 1].range.start, preserved[i - 1].range.end);
            return -BATON_EINVAL;
        }
    }
    return 0;
}

int FrameAllocator::init(const PreservedRange *preserved, usize preserved_count, StartUp start_up)
{
    if (!early_ || ready_) {
        log_error("mm: init() without early_init(), or twice");
        return -BATON_EINVAL;
    }
    if (int error = check_preserved_list(preserved, preserved_count))
        return error;

    // The boot allocator may now use all free memory except what the record preserves.
    if (confined_) {
        for (const PhysRange &range : free_) {
            PhysRange below{range.start, range.end < region_.start ? range.end : region_.start};
            PhysRange above{range.start > region_.end ? range.start : region_.end, range.end};
            if (boot_.add_free(below) != 0 || boot_.add_free(above) != 0) {
                log_error("mm: boot allocator cannot take free memory 0x%lx-0x%lx", range.start, range.end);
                return -BATON_ENOSPC;
            }
        }
        confined_ = false;
    }
    for (usize i = 0; i < preserved_count; i++) {
        if (int error = boot_.exclude(preserved[i].range)) {
            log_error("mm: preserved range 0x%lx-0x%lx %s", preserved[i].range.start, preserved[i].range.end,
                      error == -BATON_EBUSY ? "overlaps boot-time allocations" : "cannot be excluded");
            return error;
        }
    }

    // The table, the preserved-block index and the table's ready bitmap: all the boot
    // allocator hands out, so the table can mark them. None is written whole here.
    frame_t frames = ram_frame_extent(usable_);
    u64 table_bytes = FrameTable::bytes_for(frames);
    // The index and the section bitmap share their pages (both are bitmaps of u64 words).
    u64 index_bytes = align_up(PreservedIndex::bytes_for(frames), sizeof(u64));
    u64 ready_bytes = FrameTable::ready_bytes_for(frames);
    table_phys_ = boot_.alloc(table_bytes);
    u64 index_phys = boot_.alloc(index_bytes + ready_bytes);
    if (table_phys_ == 0 || index_phys == 0) {
        log_error("mm: no memory for the frame table (%lu bytes for %lu frames) and its index (%lu bytes)", table_bytes,
                  frames, index_bytes + ready_bytes);
        return -BATON_ENOMEM;
    }
    u64 ready_phys = index_phys + index_bytes;
    boot_.seal();
    preserved_list_ = preserved;
    preserved_list_count_ = preserved_count;
    table_.init_lazy(phys_to<FrameEntry>(table_phys_), frames, phys_to<u64>(ready_phys), fill_section, this);
    // The index lives beside the table and dies with this image: the next one rebuilds
    // it from the record's ranges. A block at a time, not a frame at a time.
    preserved_.init(phys_to<u64>(index_phys), frames);
    for (usize i = 0; i < preserved_count; i++) {
        const PhysRange &range = preserved[i].range;
        const unsigned cap = preserved_cut_order(preserved[i].type);
        for (frame_t frame = range.first_frame(); frame < range.end_frame();) {
            preserved_.insert(frame);
            unsigned order = largest_block_order(frame, range.end_frame());
            frame += frame_t{1} << (order < cap ? order : cap);
        }
    }

    bootmem_zone_.init(&table_, "lu_bootmem", region_.first_frame(), region_.end_frame());
    general_zone_.init(&table_, "general", 0, frames, region_.first_frame(), region_.end_frame());
    pending_frames_ = 0;
    for (const PhysRange &range : boot_.other_free())
        pending_frames_ += range.end_frame() - range.first_frame();
    give_cursor_ = 0;
    ready_ = true;

    // What the next guests need before they resume comes from the bootmem region: its
    // sections now, the rest when asked for.
    if (start_up == StartUp::deferred && !region_.empty()) {
        for (frame_t frame = align_down(region_.first_frame(), FRAME_SECTION_FRAMES); frame < region_.end_frame();
             frame += FRAME_SECTION_FRAMES)
            give_section(frame >> FRAME_SECTION_ORDER);
    } else {
        (void)give_pending_locked(~usize{0});
    }
    return 0;
}
