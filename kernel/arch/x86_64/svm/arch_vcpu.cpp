// SPDX-License-Identifier: MIT
// Creating and destroying the SVM state of a vCPU, and requests made to it.
#include "arch/x86_64/svm/arch_vcpu.hpp"
#include "abi/errno.h"
#include "dom/domain.hpp"
#include "dom/scheduler.hpp"
#include "lib/new.hpp"
#include "mm/frames.hpp"
#include "mm/phys.hpp"
#include "mm/slab.hpp"

namespace {
// ASID 0 belongs to the host. Each vCPU has an ASID of its own while the CPU has enough
// (its guest page tables differ from its siblings', so their TLB entries must not mix);
// the rest share the last one, and the loop flushes when it switches between them.
u32 asid_for(const Vcpu &vcpu, bool &shared)
{
    const u32 count = svm::asid_count();
    const u32 own = (u32{vcpu.domain->id} - 1) * MAX_VCPUS + vcpu.id + 1;
    shared = count < 2 || own >= count - 1;
    return shared ? (count < 2 ? 1 : count - 1) : own;
}
} // namespace

int arch_vcpu_create(Vcpu &vcpu, u64 nested_root, u32 entry, u32 ebx)
{
    void *memory = heap_zalloc(sizeof(ArchVcpu));
    if (memory == nullptr)
        return -BATON_ENOMEM;
    u64 vmcb = frame_allocator().alloc_frames(0, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    if (vmcb == 0) {
        heap_free(memory);
        return -BATON_ENOMEM;
    }
    u8 *bytes = phys_to<u8>(vmcb);
    for (u64 i = 0; i < PAGE_SIZE; i++)
        bytes[i] = 0;
    ArchVcpu *arch = new (memory) ArchVcpu;
    arch->vmcb_pa = vmcb;
    fpu::reset_state(arch->fpu_state);
    arch->svm.init(vmcb, asid_for(vcpu, arch->shared_asid), nested_root);
    arch->svm.set_start_state(entry, ebx);
    vcpu.arch = arch;
    return 0;
}

void arch_vcpu_start(Vcpu &vcpu, u32 entry, u32 stack, u32 ebx, u32 esi)
{
    vcpu.arch->svm.set_start_state(entry, ebx, stack, esi);
    vcpu.arch->svm.flush_tlb_on_next_run();
}

void arch_vcpu_destroy(Vcpu &vcpu)
{
    if (vcpu.arch == nullptr)
        return;
    fpu::forget(*vcpu.arch);
    frame_allocator().free_frames(vcpu.arch->vmcb_pa, 0);
    vcpu.arch->~ArchVcpu();
    heap_free(vcpu.arch);
    vcpu.arch = nullptr;
}

void arch_vcpu_flush_guest_tlb(Vcpu &vcpu, u64 nested_root)
{
    if (vcpu.arch == nullptr)
        return;
    vcpu.arch->svm.set_nested_root(nested_root);
    vcpu.arch->svm.flush_tlb_on_next_run();
}

void arch_vcpu_request_upcall(Vcpu &vcpu, u8 vector)
{
    if (vcpu.arch == nullptr || vector == 0)
        return;
    vcpu.arch->upcall_requested = true;
    vcpu.arch->upcall_vector = vector;
    scheduler_kick(vcpu); // in guest mode on another CPU: it exits and injects
}
