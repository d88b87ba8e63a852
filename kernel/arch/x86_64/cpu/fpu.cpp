// SPDX-License-Identifier: MIT
// Guest x87/SSE state: lazy switching between vCPUs through a per-CPU aligned bounce buffer.
#include "arch/x86_64/cpu/fpu.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/svm/arch_vcpu.hpp"
#include "lib/this_cpu.hpp"

namespace {

using cpu::CR0_EM, cpu::CR0_MP, cpu::CR0_TS, cpu::CR4_OSFXSR, cpu::CR4_OSXMMEXCPT;
constexpr u16 RESET_FCW = 0x037f;
constexpr u32 RESET_MXCSR = 0x1f80;

// FXSAVE needs 16-byte alignment, which heap-allocated vCPUs need not have: the image
// passes through here, one buffer per CPU. owner[n]: the vCPU whose image CPU n's
// registers were last loaded with (it is current there while that vCPU's fpu_cpu is n).
// Each CPU touches only its own entries, under the hypervisor lock; forget() clears all.
struct alignas(16) Bounce {
    u8 bytes[fpu::STATE_SIZE];
};
Bounce bounce[MAX_CPU_SLOTS];
ArchVcpu *owner[MAX_CPU_SLOTS];

void save_to(u8 *state)
{
    u8 *buffer = bounce[this_cpu_index()].bytes;
    asm volatile("fxsave64 %0" : "=m"(*reinterpret_cast<u8(*)[fpu::STATE_SIZE]>(buffer)));
    __builtin_memcpy(state, buffer, fpu::STATE_SIZE);
}

void load_from(const u8 *state)
{
    u8 *buffer = bounce[this_cpu_index()].bytes;
    __builtin_memcpy(buffer, state, fpu::STATE_SIZE);
    // MXCSR bits the CPU does not support make FXRSTOR fault: keep only the defined ones.
    u32 mxcsr = 0;
    __builtin_memcpy(&mxcsr, buffer + 24, sizeof(mxcsr));
    mxcsr &= 0xffff;
    __builtin_memcpy(buffer + 24, &mxcsr, sizeof(mxcsr));
    asm volatile("fxrstor64 %0" ::"m"(*reinterpret_cast<const u8(*)[fpu::STATE_SIZE]>(buffer)));
}

} // namespace

void fpu::init()
{
    cpu::write_cr0((cpu::read_cr0() | CR0_MP) & ~(CR0_EM | CR0_TS));
    cpu::write_cr4(cpu::read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    owner[this_cpu_index()] = nullptr;
}

void fpu::reset_state(u8 (&state)[STATE_SIZE])
{
    __builtin_memset(state, 0, STATE_SIZE);
    __builtin_memcpy(state + 0, &RESET_FCW, sizeof(RESET_FCW));
    __builtin_memcpy(state + 24, &RESET_MXCSR, sizeof(RESET_MXCSR));
}

void fpu::switch_to(ArchVcpu &vcpu)
{
    const u32 cpu = this_cpu_index();
    if (owner[cpu] == &vcpu && vcpu.fpu_cpu == cpu)
        return; // nobody else used these registers since they held its image
    // The previous owner's image was saved when it left (release); nothing to save here.
    load_from(vcpu.fpu_state);
    owner[cpu] = &vcpu;
    vcpu.fpu_cpu = cpu;
}

void fpu::release(ArchVcpu &vcpu)
{
    const u32 cpu = this_cpu_index();
    if (owner[cpu] == &vcpu && vcpu.fpu_cpu == cpu)
        save_to(vcpu.fpu_state);
}

void fpu::save_owner()
{
    const u32 cpu = this_cpu_index();
    if (owner[cpu] != nullptr && owner[cpu]->fpu_cpu == cpu)
        save_to(owner[cpu]->fpu_state);
}

void fpu::capture(u8 (&state)[STATE_SIZE]) { save_to(state); }

void fpu::forget(ArchVcpu &vcpu)
{
    for (ArchVcpu *&slot : owner)
        if (slot == &vcpu)
            slot = nullptr;
    vcpu.fpu_cpu = FPU_IN_MEMORY;
}
