// SPDX-License-Identifier: MIT
// Small-object heap: power-of-two size classes in slab pages, whole blocks above that.
#pragma once
#include "mm/frames.hpp"

inline constexpr unsigned SLAB_CLASS_COUNT = 8; // 16, 32, ... 2048 bytes
inline constexpr usize SLAB_MIN_OBJECT = 16;
inline constexpr usize SLAB_MAX_OBJECT = SLAB_MIN_OBJECT << (SLAB_CLASS_COUNT - 1);
inline constexpr u8 SLAB_NO_OBJECT = 0xff; // so a page holds at most 255 objects

// Each slab is one ephemeral heap page. Its frame-table entry says which class it
// serves, how many objects are out and which is the first free one; free objects hold
// the index of the next free object in their first byte. Pages with free objects are on
// a per-class list through the entry's links. Requests above SLAB_MAX_OBJECT get a
// whole power-of-two block of pages. Both kinds are found again from the pointer's
// frame-table entry, so heap_free needs no size and catches foreign pointers and
// double frees (panic). alloc() and free() take the heap lock, which ranks above the
// page-allocation lock: a heap that grows or shrinks calls the frame allocator with it held.
class SlabHeap final {
public:
    explicit constexpr SlabHeap(FrameAllocator *frames) : frames_(frames)
    {
        for (u32 &head : partial_)
            head = NO_FRAME_LINK;
    }

    static constexpr usize class_size(unsigned size_class) { return SLAB_MIN_OBJECT << size_class; }
    static constexpr unsigned objects_per_page(unsigned size_class)
    {
        const usize fit = PAGE_SIZE / class_size(size_class);
        return fit < SLAB_NO_OBJECT ? static_cast<unsigned>(fit) : SLAB_NO_OBJECT;
    }

    // nullptr when size is 0 or memory is exhausted.
    void *alloc(usize size);
    void *zalloc(usize size);
    void free(void *pointer);

    // Drops every slab and block without freeing them, for an allocator that starts over:
    // host tests use it to stand in for the next image, whose heap starts empty.
    void forget_all();

    u64 slab_pages(unsigned size_class) const { return pages_[size_class]; }
    u64 large_blocks() const { return large_blocks_; }

private:
    [[nodiscard]] bool grow(unsigned size_class);
    void push_partial(unsigned size_class, frame_t frame);
    void unlink_partial(unsigned size_class, frame_t frame);
    void release_page(unsigned size_class, frame_t frame);

    MmLock lock_{MmLockLevel::heap, "heap"};
    FrameAllocator *frames_;
    u32 partial_[SLAB_CLASS_COUNT];
    u64 pages_[SLAB_CLASS_COUNT]{};
    u64 large_blocks_ = 0;
};

// The kernel heap, over frame_allocator().
SlabHeap &kernel_heap();
void *heap_alloc(usize size);
void *heap_zalloc(usize size);
void heap_free(void *pointer);
