// SPDX-License-Identifier: MIT
// Small-object heap: power-of-two size classes in slab pages, whole blocks above that.
#include "mm/slab.hpp"
#include "lib/log.hpp"

namespace {

constinit SlabHeap kernel_heap_instance{&kernel_frame_allocator};

u8 *object_at(frame_t frame, unsigned size_class, unsigned index)
{
    return phys_to<u8>(frame_to_addr(frame) + index * SlabHeap::class_size(size_class));
}

unsigned size_class_for(usize size)
{
    unsigned size_class = 0;
    while (SlabHeap::class_size(size_class) < size)
        size_class++;
    return size_class;
}

} // namespace

SlabHeap &kernel_heap() { return kernel_heap_instance; }
void *heap_alloc(usize size) { return kernel_heap_instance.alloc(size); }
void *heap_zalloc(usize size) { return kernel_heap_instance.zalloc(size); }
void heap_free(void *pointer) { kernel_heap_instance.free(pointer); }

void SlabHeap::push_partial(unsigned size_class, frame_t frame)
{
    FrameTable &table = frames_->table();
    table[frame].link.prev = NO_FRAME_LINK;
    table[frame].link.next = partial_[size_class];
    if (partial_[size_class] != NO_FRAME_LINK)
        table[partial_[size_class]].link.prev = static_cast<u32>(frame);
    partial_[size_class] = static_cast<u32>(frame);
}

void SlabHeap::unlink_partial(unsigned size_class, frame_t frame)
{
    FrameTable &table = frames_->table();
    FrameEntry &entry = table[frame];
    if (entry.link.prev != NO_FRAME_LINK)
        table[entry.link.prev].link.next = entry.link.next;
    else
        partial_[size_class] = entry.link.next;
    if (entry.link.next != NO_FRAME_LINK)
        table[entry.link.next].link.prev = entry.link.prev;
}

bool SlabHeap::grow(unsigned size_class)
{
    u64 phys = frames_->alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    if (phys == 0)
        return false;
    frame_t frame = addr_to_frame(phys);
    FrameEntry &entry = frames_->table()[frame];
    entry.flags |= FRAME_SLAB;
    entry.slab.size_class = static_cast<u8>(size_class);
    entry.slab.in_use = 0;
    entry.slab.free_index = 0;
    unsigned count = objects_per_page(size_class);
    for (unsigned index = 0; index < count; index++)
        *object_at(frame, size_class, index) = static_cast<u8>(index + 1 < count ? index + 1 : SLAB_NO_OBJECT);
    push_partial(size_class, frame);
    pages_[size_class]++;
    return true;
}

void SlabHeap::release_page(unsigned size_class, frame_t frame)
{
    FrameEntry &entry = frames_->table()[frame];
    entry.flags &= static_cast<u8>(~FRAME_SLAB);
    entry.use.refcount = 1; // the links shared this word; hand the page back as allocated
    entry.use.tag = 0;
    pages_[size_class]--;
    frames_->free_frames(frame_to_addr(frame), 0);
}

void *SlabHeap::alloc(usize size)
{
    MmLockGuard guard(lock_);
    if (size == 0)
        return nullptr;
    if (size > SLAB_MAX_OBJECT) {
        if (size > (PAGE_SIZE << MAX_ORDER))
            return nullptr;
        const unsigned order = order_covering(align_up(size, PAGE_SIZE) >> PAGE_SHIFT);
        u64 phys = frames_->alloc_frames(order, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
        if (phys == 0)
            return nullptr;
        large_blocks_++;
        return phys_to_virt(phys);
    }
    unsigned size_class = size_class_for(size);
    if (partial_[size_class] == NO_FRAME_LINK && !grow(size_class))
        return nullptr;
    frame_t frame = partial_[size_class];
    FrameEntry &entry = frames_->table()[frame];
    u8 *object = object_at(frame, size_class, entry.slab.free_index);
    entry.slab.free_index = *object;
    entry.slab.in_use++;
    if (entry.slab.free_index == SLAB_NO_OBJECT)
        unlink_partial(size_class, frame); // full: nothing more to hand out here
    return object;
}

void SlabHeap::forget_all()
{
    MmLockGuard guard(lock_);
    for (unsigned size_class = 0; size_class < SLAB_CLASS_COUNT; size_class++) {
        partial_[size_class] = NO_FRAME_LINK;
        pages_[size_class] = 0;
    }
    large_blocks_ = 0;
}

void *SlabHeap::zalloc(usize size)
{
    void *pointer = alloc(size);
    if (pointer != nullptr)
        __builtin_memset(pointer, 0, size);
    return pointer;
}

void SlabHeap::free(void *pointer)
{
    MmLockGuard guard(lock_);
    if (pointer == nullptr)
        return;
    u64 phys = virt_to_phys(pointer);
    FrameEntry *entry = frames_->table().find(phys);
    if (entry == nullptr)
        panic("heap_free: %p is not a heap pointer (outside RAM)", pointer);
    if (entry->type == FrameType::free)
        panic("heap_free: %p points into a free frame (double free?)", pointer);
    if (entry->type != FrameType::heap)
        panic("heap_free: %p is not a heap pointer (frame type %s)", pointer, frame_type_name(entry->type));

    if (!entry->has(FRAME_SLAB)) {
        if (!is_aligned(phys, PAGE_SIZE) || !entry->has(FRAME_BLOCK_HEAD))
            panic("heap_free: %p is inside a heap block, not its start", pointer);
        large_blocks_--;
        frames_->free_frames(phys, entry->order);
        return;
    }

    unsigned size_class = entry->slab.size_class;
    u64 offset = phys & (PAGE_SIZE - 1);
    u64 index = offset / class_size(size_class);
    if (offset % class_size(size_class) != 0 || index >= objects_per_page(size_class))
        panic("heap_free: %p is not the start of a %lu-byte object", pointer, class_size(size_class));
    // The free list is at most 255 long: walking it to catch a double free is cheap.
    frame_t frame = addr_to_frame(phys);
    unsigned steps = 0;
    for (u8 free_index = entry->slab.free_index; free_index != SLAB_NO_OBJECT && steps < SLAB_NO_OBJECT;
         free_index = *object_at(frame, size_class, free_index), steps++)
        if (free_index == index)
            panic("heap_free: double free of %p", pointer);

    bool was_full = entry->slab.free_index == SLAB_NO_OBJECT;
    *static_cast<u8 *>(pointer) = entry->slab.free_index;
    entry->slab.free_index = static_cast<u8>(index);
    entry->slab.in_use--;
    if (was_full)
        push_partial(size_class, frame);
    // An empty page goes back to the frame allocator unless it is the class's only page
    // with free objects: keeping one avoids a page round trip per alloc/free pair.
    bool only_partial = partial_[size_class] == frame && entry->link.next == NO_FRAME_LINK;
    if (entry->slab.in_use == 0 && !only_partial) {
        unlink_partial(size_class, frame);
        release_page(size_class, frame);
    }
}
