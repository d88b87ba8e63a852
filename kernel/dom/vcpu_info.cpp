// SPDX-License-Identifier: MIT
// Per-vCPU info pages: an extra page per vCPU with its own upcall flags (BATON_HC_VCPU_INFO_MAP).
#include "dom/vcpu_info.hpp"
#include "abi/errno.h"
#include "dom/domain.hpp"
#include "lib/log.hpp"
#include "mm/frames.hpp"
#include "mm/phys.hpp"

static_assert(MAX_VCPUS <= EventChannels::VCPU_INFO_SLOTS, "a slot for every vCPU's info page");

baton_vcpu_info *vcpu_info(const Vcpu &vcpu)
{
    return vcpu.info_mfn != 0 ? phys_to<baton_vcpu_info>(frame_to_addr(vcpu.info_mfn)) : nullptr;
}

int domain_map_vcpu_info(Domain &domain, u64 vcpu_index, u64 gfn)
{
    if (vcpu_index >= domain.vcpu_count)
        return -BATON_ENOENT;
    Vcpu &vcpu = domain.vcpus[vcpu_index];
    // A page made here for a refused gfn is freed again below: a refusal changes nothing.
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
    if (int error = domain_place_extra_page(domain, vcpu.info_mfn, vcpu.info_gfn, gfn)) {
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
    if (int error = domain_place_extra_page(domain, mfn, vcpu.info_gfn, gfn))
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
