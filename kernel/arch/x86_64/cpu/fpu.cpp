// SPDX-License-Identifier: MIT
// Guest x87/SSE state: lazy switching between vCPUs through one aligned bounce buffer.
#include "arch/x86_64/cpu/fpu.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/svm/arch_vcpu.hpp"

namespace {

using cpu::CR0_EM, cpu::CR0_MP, cpu::CR0_TS, cpu::CR4_OSFXSR, cpu::CR4_OSXMMEXCPT;
constexpr u16 RESET_FCW = 0x037f;
constexpr u32 RESET_MXCSR = 0x1f80;

// FXSAVE needs 16-byte alignment, which heap-allocated vCPUs need not have: the image
// passes through here. One CPU runs guests, so one buffer.
alignas(16) u8 bounce[fpu::STATE_SIZE];
ArchVcpu *owner = nullptr;

void save_to(u8 *state)
{
    asm volatile("fxsave64 %0" : "=m"(bounce));
    __builtin_memcpy(state, bounce, fpu::STATE_SIZE);
}

void load_from(const u8 *state)
{
    __builtin_memcpy(bounce, state, fpu::STATE_SIZE);
    // MXCSR bits the CPU does not support make FXRSTOR fault: keep only the defined ones.
    u32 mxcsr = 0;
    __builtin_memcpy(&mxcsr, bounce + 24, sizeof(mxcsr));
    mxcsr &= 0xffff;
    __builtin_memcpy(bounce + 24, &mxcsr, sizeof(mxcsr));
    asm volatile("fxrstor64 %0" ::"m"(bounce));
}

} // namespace

void fpu::init()
{
    cpu::write_cr0((cpu::read_cr0() | CR0_MP) & ~(CR0_EM | CR0_TS));
    cpu::write_cr4(cpu::read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    owner = nullptr;
}

void fpu::reset_state(u8 (&state)[STATE_SIZE])
{
    __builtin_memset(state, 0, STATE_SIZE);
    __builtin_memcpy(state + 0, &RESET_FCW, sizeof(RESET_FCW));
    __builtin_memcpy(state + 24, &RESET_MXCSR, sizeof(RESET_MXCSR));
}

void fpu::switch_to(ArchVcpu &vcpu)
{
    if (owner == &vcpu)
        return;
    if (owner != nullptr)
        save_to(owner->fpu_state);
    load_from(vcpu.fpu_state);
    owner = &vcpu;
}

void fpu::save_owner()
{
    if (owner != nullptr)
        save_to(owner->fpu_state);
}

void fpu::capture(u8 (&state)[STATE_SIZE]) { save_to(state); }

void fpu::forget(ArchVcpu &vcpu)
{
    if (owner == &vcpu)
        owner = nullptr;
}
