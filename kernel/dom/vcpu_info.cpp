// SPDX-License-Identifier: MIT
// Per-vCPU info pages: an extra page per vCPU with its own upcall flags (BATON_HC_VCPU_INFO_MAP).
#include "dom/vcpu_info.hpp"
#include "abi/errno.h"
#include "dom/domain.hpp"
#include "lib/log.hpp"
#include "mm/frames.hpp"
#include "mm/phys.hpp"

namespace {

static_assert(MAX_VCPUS <= EventChannels::VCPU_INFO_SLOTS, "a slot for every vCPU's info page");

// Maps the vCPU's existing page at gfn (checked by the caller), unmapping it where it was.
int map_at(Domain &domain, Vcpu &vcpu, u64 gfn)
{
    if (vcpu.info_gfn == gfn)
        return 0;
    if (vcpu.info_gfn != NO_GFN) {
        if (int error = domain.p2m.unmap(vcpu.info_gfn, 1))
            return error; // still mapped where it was: nothing changed
        vcpu.info_gfn = NO_GFN;
    }
    if (int error = domain.p2m.map(gfn, vcpu.info_mfn, 1, P2mType::ram_rw, P2mAccess::rw))
        return error;
    vcpu.info_gfn = gfn;
    for (u16 i = 0; i < domain.vcpu_count; i++)
        arch_vcpu_flush_guest_tlb(domain.vcpus[i], domain.p2m.views().root(domain.vcpus[i].view));
    return 0;
}

} // namespace

baton_vcpu_info *vcpu_info(const Vcpu &vcpu)
{
    return vcpu.info_mfn != 0 ? phys_to<baton_vcpu_info>(frame_to_addr(vcpu.info_mfn)) : nullptr;
}

int domain_map_vcpu_info(Domain &domain, u64 vcpu_index, u64 gfn)
{
    if (vcpu_index >= domain.vcpu_count)
        return -BATON_ENOENT;
    Vcpu &vcpu = domain.vcpus[vcpu_index];
    if (gfn >= (domain.ram_bytes >> PAGE_SHIFT))
        return -BATON_EINVAL;
    const P2mEntry below = domain.p2m.lookup(gfn);
    if (gfn != vcpu.info_gfn && !(below.owned && p2m_type_is_ram(below.type)))
        return -BATON_EINVAL; // only over the guest's own RAM (not another extra page)
    const bool made_here = vcpu.info_mfn == 0;
    if (made_here) {
        FrameAllocator &frames = frame_allocator();
        const u64 page = frames.alloc_frames(0, MemClass::preserved, domain.id, FrameType::extra);
        if (page == 0)
            return -BATON_ENOMEM;
        // Just allocated as a preserved extra frame of this domain: flagging cannot fail.
        (void)frames.set_extra_page(page, true);
        __builtin_memset(phys_to<u8>(page), 0, PAGE_SIZE);
        vcpu.info_mfn = addr_to_frame(page);
        baton_vcpu_info *info = phys_to<baton_vcpu_info>(page);
        info->vcpu_id = vcpu.id;
        info->cpu = vcpu.last_cpu;
    }
    if (int error = map_at(domain, vcpu, gfn)) {
        if (made_here)
            vcpu_info_release(vcpu);
        return error;
    }
    domain.events.attach_vcpu_info(vcpu.id, vcpu_info(vcpu));
    return 0;
}

int vcpu_info_adopt(Domain &domain, u16 vcpu_index, u64 mfn, u64 gfn)
{
    if (vcpu_index >= domain.vcpu_count || mfn == 0 || domain.vcpus[vcpu_index].info_mfn != 0)
        return -BATON_EINVAL;
    Vcpu &vcpu = domain.vcpus[vcpu_index];
    vcpu.info_mfn = mfn;
    if (gfn == NO_GFN)
        return 0;
    if (gfn >= (domain.ram_bytes >> PAGE_SHIFT))
        return -BATON_EINVAL;
    if (int error = map_at(domain, vcpu, gfn))
        return error;
    domain.events.attach_vcpu_info(vcpu.id, vcpu_info(vcpu));
    return 0;
}

void vcpu_info_note_entry(Vcpu &vcpu, u32 cpu)
{
    if (baton_vcpu_info *info = vcpu_info(vcpu)) {
        __atomic_store_n(&info->cpu, cpu, __ATOMIC_RELAXED);
        __atomic_store_n(&info->entries, info->entries + 1, __ATOMIC_RELAXED);
    }
}

void vcpu_info_release(Vcpu &vcpu)
{
    if (vcpu.info_mfn == 0)
        return;
    Domain &domain = *vcpu.domain;
    domain.events.attach_vcpu_info(vcpu.id, nullptr);
    // Only tidiness when the p2m goes next: destroying it drops every mapping.
    if (vcpu.info_gfn != NO_GFN && domain.p2m.ready() && domain.p2m.unmap(vcpu.info_gfn, 1) != 0)
        log_warn("dom: d%u: vCPU %u's info page stays mapped until the p2m is destroyed", domain.id, vcpu.id);
    const u64 phys = frame_to_addr(vcpu.info_mfn);
    // Flagged when it was made for this domain: clearing cannot fail.
    (void)frame_allocator().set_extra_page(phys, false);
    frame_allocator().free_frames(phys, 0);
    vcpu.info_mfn = 0;
    vcpu.info_gfn = NO_GFN;
}
