// Log-dirty state: one bit per guest frame, in preserved frames the next image adopts.
#pragma once
#include "mm/frames.hpp"

// The record describes the bitmap as preserved machine frames (LogDirty.bitmap), so it is
// allocated preserved and survives an update in place.
inline constexpr FrameType DIRTY_BITMAP_FRAME_TYPE = FrameType::log_dirty_bitmap;
inline constexpr u64 DIRTY_BITS_PER_FRAME = PAGE_SIZE * 8;

// What the record carries and restore() takes back.
struct LogDirtyState {
    bool enabled = false;
    u64 bitmap_phys = 0;   // address of the first bitmap frame
    u64 bitmap_frames = 0; // contiguous frames from bitmap_phys
    u64 guest_frames = 0;  // bits that mean something: guest frames [0, guest_frames)
};

// Bit g of the bitmap (bit g % 64 of little-endian word g / 64, so also bit g % 8 of byte
// g / 8) is set when guest frame g may have changed since it was last cleaned. Words are
// updated with atomic read-modify-write, so a bit set concurrently with a clean is either
// reported by that clean or still set afterwards, never lost.
class DirtyBitmap final {
public:
    constexpr DirtyBitmap() = default;
    DirtyBitmap(const DirtyBitmap &) = delete;
    DirtyBitmap &operator=(const DirtyBitmap &) = delete;

    void attach(FrameAllocator *frames, frame_owner_t owner)
    {
        frames_ = frames;
        owner_ = owner;
    }

    // A zeroed bitmap for [0, guest_frames). -BATON_EBUSY when enabled, -BATON_ENOMEM.
    int enable(u64 guest_frames);
    // Takes over a bitmap an earlier image left. -BATON_EINVAL if it is too small for
    // `state.guest_frames` or its frames are not this owner's preserved bitmap frames.
    int adopt(const LogDirtyState &state);
    // Covers at least [0, guest_frames): grows into a larger block when needed, keeping
    // every bit. -BATON_ENOMEM leaves it as it was.
    int cover(u64 guest_frames);
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
    bool set(u64 gfn);
    u64 count() const;

    // Bits of [first, first + count) into `out` (bit i of out[i / 64] for guest frame
    // first + i; all ceil(count / 64) words are written). With `clean` each reported bit
    // is cleared by the same atomic operation that read it, and cleaned(gfn) runs for it.
    // Returns how many bits were set.
    template <typename Cleaned> u64 read(u64 first, u64 count, u64 *out, bool clean, Cleaned &&cleaned)
    {
        for (u64 i = 0; i < (count + 63) / 64; i++)
            out[i] = 0;
        const u64 limit = first + count < guest_frames_ ? first + count : guest_frames_;
        u64 found = 0;
        for (u64 word = first / 64; first < limit && word * 64 < limit; word++) {
            const u64 low = word * 64 > first ? word * 64 : first;
            const u64 high = word * 64 + 64 < limit ? word * 64 + 64 : limit;
            const u64 mask = bits_below(high - word * 64) & ~bits_below(low - word * 64);
            u64 bits = clean ? __atomic_fetch_and(&words_[word], ~mask, __ATOMIC_ACQ_REL)
                             : __atomic_load_n(&words_[word], __ATOMIC_ACQUIRE);
            bits &= mask;
            while (bits != 0) {
                const u64 gfn = word * 64 + static_cast<u64>(__builtin_ctzl(bits));
                bits &= bits - 1;
                out[(gfn - first) / 64] |= u64{1} << ((gfn - first) % 64);
                found++;
                if (clean)
                    cleaned(gfn);
            }
        }
        return found;
    }

private:
    static constexpr u64 bits_below(u64 n) { return n >= 64 ? ~u64{0} : (u64{1} << n) - 1; }
    u64 capacity_bits() const { return frames_count_ * DIRTY_BITS_PER_FRAME; }
    int allocate(u64 guest_frames, u64 *phys, u64 *frame_count);
    void free_block(u64 phys, u64 frame_count);

    FrameAllocator *frames_ = nullptr;
    frame_owner_t owner_ = OWNER_NONE;
    u64 *words_ = nullptr;
    u64 phys_ = 0;
    u64 frames_count_ = 0;
    u64 guest_frames_ = 0;
};
