// SPDX-License-Identifier: MIT
// Log-dirty state: one bit per guest frame, in preserved frames the next image adopts.
#include "dom/p2m_log_dirty.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"

namespace {

// No libgcc in the kernel, so no __builtin_popcount (it may become a call).
constexpr unsigned bits_set(u64 value)
{
    value = value - ((value >> 1) & 0x5555555555555555ul);
    value = (value & 0x3333333333333333ul) + ((value >> 2) & 0x3333333333333333ul);
    value = (value + (value >> 4)) & 0x0f0f0f0f0f0f0f0ful;
    return static_cast<unsigned>((value * 0x0101010101010101ul) >> 56);
}

constexpr u64 frames_for(u64 guest_frames)
{
    const u64 frames = (guest_frames + DIRTY_BITS_PER_FRAME - 1) / DIRTY_BITS_PER_FRAME;
    return frames != 0 ? frames : 1;
}

} // namespace

int DirtyBitmap::allocate(u64 guest_frames, u64 *phys, u64 *frame_count)
{
    const u64 needed = frames_for(guest_frames);
    const unsigned order = order_covering(needed);
    if (order > MAX_ORDER)
        return -BATON_ENOMEM;
    *phys = frames_->alloc_frames(order, MemClass::preserved, owner_, DIRTY_BITMAP_FRAME_TYPE);
    if (*phys == 0)
        return -BATON_ENOMEM;
    *frame_count = u64{1} << order;
    __builtin_memset(phys_to_virt(*phys), 0, *frame_count * PAGE_SIZE);
    return 0;
}

// free_range() also takes back an adopted bitmap, which the next image's allocator cut
// into blocks of its own choosing.
void DirtyBitmap::free_block(u64 phys, u64 frame_count) { frames_->free_range({phys, phys + frame_count * PAGE_SIZE}); }

int DirtyBitmap::enable(u64 guest_frames)
{
    MmLockGuard guard(lock_);
    if (enabled())
        return -BATON_EBUSY;
    u64 phys = 0, frame_count = 0;
    if (int error = allocate(guest_frames, &phys, &frame_count))
        return error;
    phys_ = phys;
    frames_count_ = frame_count;
    words_ = phys_to<u64>(phys);
    guest_frames_ = guest_frames;
    return 0;
}

int DirtyBitmap::adopt(const LogDirtyState &state)
{
    MmLockGuard guard(lock_);
    if (enabled())
        return -BATON_EBUSY;
    u64 end = 0;
    if (!state.enabled || state.bitmap_frames == 0 || !is_aligned(state.bitmap_phys, PAGE_SIZE) ||
        state.bitmap_frames > (u64{1} << MAX_ORDER) ||
        add_overflows(state.bitmap_phys, state.bitmap_frames * PAGE_SIZE, &end) ||
        state.guest_frames > state.bitmap_frames * DIRTY_BITS_PER_FRAME)
        return -BATON_EINVAL;
    const FrameTable &table = frames_->table();
    for (u64 frame = addr_to_frame(state.bitmap_phys); frame < addr_to_frame(end); frame++) {
        if (!table.contains(frame))
            return -BATON_EINVAL;
        const FrameEntry &entry = table[frame];
        if (entry.owner != owner_ || entry.type != DIRTY_BITMAP_FRAME_TYPE || !entry.has(FRAME_PRESERVED))
            return -BATON_EINVAL;
    }
    phys_ = state.bitmap_phys;
    frames_count_ = state.bitmap_frames;
    words_ = phys_to<u64>(phys_);
    guest_frames_ = state.guest_frames;
    // Bits past guest_frames mean nothing and cover() may expose them later: clear them.
    for (u64 gfn = guest_frames_; gfn < capacity_bits() && gfn % 64 != 0; gfn++)
        words_[gfn / 64] &= ~(u64{1} << (gfn % 64));
    for (u64 i = (guest_frames_ + 63) / 64; i < capacity_bits() / 64; i++)
        words_[i] = 0;
    return 0;
}

int DirtyBitmap::cover(u64 guest_frames)
{
    MmLockGuard guard(lock_);
    if (guest_frames <= capacity_bits()) {
        if (guest_frames > guest_frames_)
            guest_frames_ = guest_frames;
        return 0;
    }
    // Twice what is asked, so a domain growing page by page does not copy every time.
    u64 phys = 0, frame_count = 0;
    if (allocate(guest_frames * 2, &phys, &frame_count) != 0 && allocate(guest_frames, &phys, &frame_count) != 0)
        return -BATON_ENOMEM;
    u64 *grown = phys_to<u64>(phys);
    for (u64 i = 0; i < (guest_frames_ + 63) / 64; i++)
        grown[i] = __atomic_load_n(&words_[i], __ATOMIC_ACQUIRE);
    free_block(phys_, frames_count_);
    phys_ = phys;
    frames_count_ = frame_count;
    words_ = grown;
    guest_frames_ = guest_frames;
    return 0;
}

void DirtyBitmap::disable()
{
    MmLockGuard guard(lock_);
    if (enabled())
        free_block(phys_, frames_count_);
    forget_storage();
}

void DirtyBitmap::forget()
{
    MmLockGuard guard(lock_);
    forget_storage();
}

void DirtyBitmap::forget_storage()
{
    words_ = nullptr;
    phys_ = frames_count_ = guest_frames_ = 0;
}

LogDirtyState DirtyBitmap::state() const
{
    MmLockGuard guard(lock_);
    if (!enabled())
        return {};
    return {true, phys_, frames_count_, guest_frames_};
}

bool DirtyBitmap::set(u64 gfn)
{
    MmLockGuard guard(lock_);
    if (gfn >= guest_frames_)
        return false;
    const u64 bit = u64{1} << (gfn % 64);
    return (__atomic_fetch_or(&words_[gfn / 64], bit, __ATOMIC_ACQ_REL) & bit) == 0;
}

void DirtyBitmap::set_range(u64 first, u64 count)
{
    MmLockGuard guard(lock_);
    const u64 limit = first + count < guest_frames_ ? first + count : guest_frames_;
    for (u64 gfn = first; gfn < limit; gfn++)
        __atomic_fetch_or(&words_[gfn / 64], u64{1} << (gfn % 64), __ATOMIC_ACQ_REL);
}

u64 DirtyBitmap::count() const
{
    MmLockGuard guard(lock_);
    u64 total = 0;
    for (u64 i = 0; i < (guest_frames_ + 63) / 64; i++)
        total += bits_set(__atomic_load_n(&words_[i], __ATOMIC_ACQUIRE));
    return total;
}

u64 DirtyBitmap::read(u64 first, u64 count, DirtyBits &out, bool clean)
{
    if (count > DIRTY_READ_MAX_FRAMES)
        panic("log-dirty: a read of %lu frames overflows the %lu-frame bounce buffer", count, DIRTY_READ_MAX_FRAMES);
    out.first_gfn = first;
    out.count = count;
    for (u64 &word : out.words)
        word = 0;
    MmLockGuard guard(lock_);
    const u64 limit = first + count < guest_frames_ ? first + count : guest_frames_;
    u64 found = 0;
    for (u64 word = first / 64; first < limit && word * 64 < limit; word++) {
        const u64 low = word * 64 > first ? word * 64 : first;
        const u64 high = word * 64 + 64 < limit ? word * 64 + 64 : limit;
        const u64 mask = bits_below(high - word * 64) & ~bits_below(low - word * 64);
        u64 bits = clean ? __atomic_fetch_and(&words_[word], ~mask, __ATOMIC_ACQ_REL)
                         : __atomic_load_n(&words_[word], __ATOMIC_ACQUIRE);
        bits &= mask;
        found += bits_set(bits);
        // Bit b of bitmap word `word` is frame word * 64 + b, output bit (that - first).
        for (; bits != 0; bits &= bits - 1) {
            const u64 index = word * 64 + static_cast<u64>(__builtin_ctzl(bits)) - first;
            out.words[index / 64] |= u64{1} << (index % 64);
        }
    }
    return found;
}
