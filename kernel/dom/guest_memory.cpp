// SPDX-License-Identifier: MIT
// Copies between the hypervisor and guest RAM, every frame checked through the p2m.
#include "dom/guest_memory.hpp"
#include "abi/errno.h"
#include "dom/p2m.hpp"
#include "mm/phys.hpp"

namespace {

// Walks [gpa, gpa + length) page by page; `step` gets the host pointer and chunk size.
template <typename Step>
int walk(const P2m &p2m, u64 gpa, u64 length, bool write, Step &&step)
{
    u64 end;
    if (add_overflows(gpa, length, &end))
        return -BATON_EFAULT;
    u64 done = 0;
    while (done < length) {
        u64 address = gpa + done;
        P2mEntry entry = p2m.lookup(address >> PAGE_SHIFT);
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

int copy_from_guest(const P2m &p2m, void *destination, u64 gpa, u64 length)
{
    u8 *out = static_cast<u8 *>(destination);
    // Check the whole span first so a failed copy leaves the destination untouched.
    if (int error = walk(p2m, gpa, length, false, [](u8 *, u64, u64, u64) {}))
        return error;
    return walk(p2m, gpa, length, false, [&](u8 *guest, u64, u64 done, u64 chunk) {
        for (u64 i = 0; i < chunk; i++)
            out[done + i] = guest[i];
    });
}

int copy_to_guest(P2m &p2m, u64 gpa, const void *source, u64 length)
{
    const u8 *in = static_cast<const u8 *>(source);
    if (int error = walk(p2m, gpa, length, true, [](u8 *, u64, u64, u64) {}))
        return error;
    return walk(p2m, gpa, length, true, [&](u8 *guest, u64 address, u64 done, u64 chunk) {
        for (u64 i = 0; i < chunk; i++)
            guest[i] = in[done + i];
        if (p2m.log_dirty_enabled())
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
        if (p2m.log_dirty_enabled())
            p2m.mark_dirty(address >> PAGE_SHIFT);
    });
}
