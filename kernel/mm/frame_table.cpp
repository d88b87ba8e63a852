// SPDX-License-Identifier: MIT
// The frame table: one 16-byte entry per machine frame, from frame 0 to the RAM extent.
#include "mm/frame_table.hpp"

// The kernel sets this once the direct map exists; host tests point it at a buffer.
u64 direct_map_offset = 0;

const char *frame_type_name(FrameType type)
{
    switch (type) {
    case FrameType::free: return "free";
    case FrameType::reserved: return "reserved";
    case FrameType::kernel_image: return "kernel_image";
    case FrameType::boot_info: return "boot_info";
    case FrameType::boot_module: return "boot_module";
    case FrameType::boot_alloc: return "boot_alloc";
    case FrameType::heap: return "heap";
    case FrameType::page_table: return "page_table";
    case FrameType::guest_ram: return "guest_ram";
    case FrameType::extra: return "extra";
    case FrameType::record: return "record";
    case FrameType::log_dirty_bitmap: return "log_dirty_bitmap";
    case FrameType::hypervisor_image: return "hypervisor_image";
    case FrameType::rollback_kit: return "rollback_kit";
    }
    return "invalid";
}

void FrameTable::write_entry(FrameEntry &entry, FrameType type, frame_owner_t owner, u8 flags)
{
    entry.link.next = 0;
    entry.link.prev = 0;
    entry.owner = owner;
    entry.type = type;
    entry.order = 0;
    entry.flags = flags;
    entry.slab.size_class = 0;
    entry.slab.in_use = 0;
    entry.slab.free_index = 0;
}

void FrameTable::init(FrameEntry *entries, frame_t frames)
{
    entries_ = entries;
    frames_ = frames;
    ready_ = nullptr;
    unready_ = 0;
    filler_ = nullptr;
    for (frame_t frame = 0; frame < frames; frame++)
        write_entry(entries_[frame], FrameType::reserved, OWNER_NONE, 0);
}

void FrameTable::init_lazy(FrameEntry *entries, frame_t frames, u64 *ready_words, SectionFiller filler, void *context)
{
    entries_ = entries;
    frames_ = frames;
    ready_ = ready_words;
    unready_ = sections_for(frames);
    filler_ = filler;
    filler_context_ = context;
    for (u64 word = 0; word < ready_bytes_for(frames) / 8; word++)
        ready_[word] = 0;
}

void FrameTable::set_ready(frame_t section)
{
    ready_[section / 64] |= u64{1} << (section % 64);
    unready_--;
}

void FrameTable::fill(frame_t section)
{
    frame_t first = section << FRAME_SECTION_ORDER;
    frame_t end = first + FRAME_SECTION_FRAMES < frames_ ? first + FRAME_SECTION_FRAMES : frames_;
    filler_(filler_context_, *this, first, end);
    set_ready(section);
}

void FrameTable::mark(PhysRange range, FrameType type, frame_owner_t owner, u8 flags)
{
    frame_t first = addr_to_frame(range.start);
    frame_t end = addr_to_frame(align_up(range.end, PAGE_SIZE));
    if (range.end > align_down(~u64{0}, PAGE_SIZE))
        end = addr_to_frame(~u64{0}) + 1; // widening would wrap
    if (end > frames_)
        end = frames_;
    for (frame_t frame = first; frame < end;) {
        frame_t section = frame >> FRAME_SECTION_ORDER;
        frame_t section_end = (section + 1) << FRAME_SECTION_ORDER;
        frame_t stop = section_end < end ? section_end : end;
        // A section written whole needs no filling first; one written in part does.
        if (!section_ready(frame)) {
            if (frame == section << FRAME_SECTION_ORDER && stop == section_end)
                set_ready(section);
            else
                fill(section);
        }
        for (; frame < stop; frame++)
            write_entry(entries_[frame], type, owner, flags);
    }
}

void FrameTable::mark_block(frame_t first, unsigned order, FrameType type, frame_owner_t owner, u8 flags)
{
    mark({frame_to_addr(first), frame_to_addr(first + (frame_t{1} << order))}, type, owner, flags);
    entries_[first].flags |= FRAME_BLOCK_HEAD;
    entries_[first].order = static_cast<u8>(order);
    entries_[first].use.refcount = 1;
}
