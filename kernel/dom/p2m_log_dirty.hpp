// SPDX-License-Identifier: MIT
// Log-dirty state: one bit per guest frame, in preserved frames the next image adopts.
#pragma once
#include "mm/frames.hpp"
#include "mm/mm_lock.hpp"

// The record describes the bitmap as preserved machine frames (LogDirty.bitmap), so it is
// allocated preserved and survives an update in place.
inline constexpr FrameType DIRTY_BITMAP_FRAME_TYPE = FrameType::log_dirty_bitmap;
inline constexpr u64 DIRTY_BITS_PER_FRAME = PAGE_SIZE * 8;

// What the record carries and restore() takes back.
struct LogDirtyState {
    bool enabled = false;
    u64 bitmap_phys = 0; // address of the first bitmap frame
    u64 bitmap_frames = 0; // contiguous frames from bitmap_phys
    u64 guest_frames = 0; // bits that mean something: guest frames [0, guest_frames)
};

// The most frames one read of the bitmap covers (4096 frames: 16 MiB of guest memory in
// 512 bytes of bits). The copy made under the locks is bounded, so no reader holds them
// for long, and it fits a bounce buffer on any stack.
inline constexpr u64 DIRTY_READ_MAX_FRAMES = 4096;

// The bounce buffer of a bitmap read: a copy of the bits of [first_gfn, first_gfn + count),
// bit i of words[i / 64] for frame first_gfn + i, made under the log-dirty lock and handed
// back with no lock held. Whatever the caller then does with it (copy it into guest
// memory, which marks pages dirty, or out of the control channel) cannot deadlock with a
// writer marking pages dirty, and no reader writes through a caller's pointer under a lock.
struct DirtyBits final {
    u64 first_gfn = 0;
    u64 count = 0;
    u64 words[DIRTY_READ_MAX_FRAMES / 64] = {};

    bool dirty(u64 gfn) const
    {
        const u64 index = gfn - first_gfn;
        return gfn >= first_gfn && index < count && (words[index / 64] >> (index % 64) & 1) != 0;
    }
    // Calls visit(gfn) for every dirty frame, in order.
    template <typename Visit>
    void for_each_dirty(Visit &&visit) const
    {
        for (u64 word = 0; word < (count + 63) / 64; word++) {
            for (u64 bits = words[word]; bits != 0; bits &= bits - 1)
                visit(first_gfn + word * 64 + static_cast<u64>(__builtin_ctzl(bits)));
        }
    }
};

// Bit g of the bitmap (bit g % 64 of little-endian word g / 64, so also bit g % 8 of byte
// g / 8) is set when guest frame g may have changed since it was last cleaned. Words are
// updated with atomic read-modify-write, so a bit set concurrently with a clean is either
// reported by that clean or still set afterwards, never lost.
//
// Locking: the log-dirty lock (below the p2m and view locks, above page allocation) guards
// the storage and every operation but test(): marking, reading, growing, adopting and
// freeing. Storage changes happen only inside the owning p2m's operations, so they hold
// the p2m lock as well; test() is lock-free (the nested-fault path calls it once per
// leaf) and its callers hold the p2m lock, which is enough to keep the storage in place.
class DirtyBitmap final {
public:
    constexpr DirtyBitmap() = default;
    DirtyBitmap(const DirtyBitmap &) = delete;
    DirtyBitmap &operator=(const DirtyBitmap &) = delete;

    void attach(FrameAllocator *frames, frame_owner_t owner)
    {
        frames_ = frames;
        owner_ = owner;
        lock_.set_domain(owner);
    }

    // A zeroed bitmap for [0, guest_frames). -BATON_EBUSY when enabled, -BATON_ENOMEM.
    [[nodiscard]] int enable(u64 guest_frames);
    // Takes over a bitmap an earlier image left. -BATON_EINVAL if it is too small for
    // `state.guest_frames` or its frames are not this owner's preserved bitmap frames.
    [[nodiscard]] int adopt(const LogDirtyState &state);
    // Covers at least [0, guest_frames): grows into a larger block when needed, keeping
    // every bit. -BATON_ENOMEM leaves it as it was.
    [[nodiscard]] int cover(u64 guest_frames);
    // Frees the frames (enable's or adopt's). forget() drops them without freeing.
    void disable();
    void forget();

    bool enabled() const { return words_ != nullptr; }
    u64 guest_frames() const { return guest_frames_; }
    LogDirtyState state() const;

    bool test(u64 gfn) const
    {
        return gfn < guest_frames_ && (__atomic_load_n(&words_[gfn / 64], __ATOMIC_ACQUIRE) >> (gfn % 64) & 1) != 0;
    }
    // Sets the bit; true if it was clear. Frames beyond guest_frames() are ignored (false).
    [[nodiscard]] bool set(u64 gfn);
    // Sets the bits of [first, first + count) under one lock (frames beyond are ignored).
    void set_range(u64 first, u64 count);
    u64 count() const;

    // Copies the bits of [first, first + count) into `out` (count <= DIRTY_READ_MAX_FRAMES;
    // more is a bug and panics) and returns how many are set. With `clean` each reported
    // bit is cleared by the same atomic operation that read it. The lock is held for the
    // copy only: write-protecting the cleaned frames again is the caller's next step.
    u64 read(u64 first, u64 count, DirtyBits &out, bool clean);

private:
    static constexpr u64 bits_below(u64 n) { return n >= 64 ? ~u64{0} : (u64{1} << n) - 1; }
    u64 capacity_bits() const { return frames_count_ * DIRTY_BITS_PER_FRAME; }
    [[nodiscard]] int allocate(u64 guest_frames, u64 *phys, u64 *frame_count);
    void free_block(u64 phys, u64 frame_count);
    void forget_storage();

    mutable MmLock lock_{MmLockLevel::log_dirty, "log-dirty"};
    FrameAllocator *frames_ = nullptr;
    frame_owner_t owner_ = OWNER_NONE;
    u64 *words_ = nullptr;
    u64 phys_ = 0;
    u64 frames_count_ = 0;
    u64 guest_frames_ = 0;
};
