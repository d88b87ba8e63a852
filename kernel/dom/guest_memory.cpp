// SPDX-License-Identifier: MIT
// Copies between the hypervisor and guest RAM, every frame checked through the p2m.
#include "dom/guest_memory.hpp"
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "mm/phys.hpp"

namespace {

// Walks [gpa, gpa + length) page by page; `step` gets the host pointer and chunk size and
// runs while a reference keeps the frame mapped (P2mFrameRef): a guest that changes its
// p2m meanwhile gets -BATON_EBUSY for the change, never a hypervisor write into a frame
// it no longer owns.
template <typename Step>
int walk(const P2m &p2m, u64 gpa, u64 length, bool write, Step &&step)
{
    u64 end;
    if (add_overflows(gpa, length, &end))
        return -BATON_EFAULT;
    u64 done = 0;
    while (done < length) {
        u64 address = gpa + done;
        P2mFrameRef frame;
        if (int error = p2m.get_frame(address >> PAGE_SHIFT, frame))
            return error;
        const P2mEntry &entry = frame.entry();
        bool ram = p2m_type_is_ram(entry.type) && access_reads(entry.access);
        bool writable = entry.type == P2mType::ram_rw || entry.type == P2mType::log_dirty;
        if (!ram || (write && !(writable && access_writes(entry.access))))
            return -BATON_EFAULT;
        u64 offset = address & (PAGE_SIZE - 1);
        u64 chunk = PAGE_SIZE - offset < length - done ? PAGE_SIZE - offset : length - done;
        step(phys_to<u8>((entry.mfn << PAGE_SHIFT) + offset), address, done, chunk);
        done += chunk;
    }
    return 0;
}

} // namespace

// Each checks the whole span first so that a failed copy leaves the destination untouched,
// unless the guest changes the span's mappings between the check and the copy: then the
// copy may stop part way with -BATON_EFAULT, having copied what the guest showed.
int copy_from_guest(const P2m &p2m, void *destination, u64 gpa, u64 length)
{
    u8 *out = static_cast<u8 *>(destination);
    if (int error = walk(p2m, gpa, length, false, [](u8 *, u64, u64, u64) {}))
        return error;
    return walk(p2m, gpa, length, false, [&](u8 *guest, u64, u64 done, u64 chunk) {
        for (u64 i = 0; i < chunk; i++)
            out[done + i] = guest[i];
    });
}

// The page is marked dirty after it is written, still under the reference: a clean that
// runs between the write and the mark leaves the bit set for the next round.
int copy_to_guest(P2m &p2m, u64 gpa, const void *source, u64 length)
{
    const u8 *in = static_cast<const u8 *>(source);
    if (int error = walk(p2m, gpa, length, true, [](u8 *, u64, u64, u64) {}))
        return error;
    return walk(p2m, gpa, length, true, [&](u8 *guest, u64 address, u64 done, u64 chunk) {
        for (u64 i = 0; i < chunk; i++)
            guest[i] = in[done + i];
        p2m.mark_dirty(address >> PAGE_SHIFT);
    });
}

int zero_guest(P2m &p2m, u64 gpa, u64 length)
{
    if (int error = walk(p2m, gpa, length, true, [](u8 *, u64, u64, u64) {}))
        return error;
    return walk(p2m, gpa, length, true, [&](u8 *guest, u64 address, u64, u64 chunk) {
        for (u64 i = 0; i < chunk; i++)
            guest[i] = 0;
        p2m.mark_dirty(address >> PAGE_SHIFT);
    });
}
