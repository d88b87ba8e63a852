// SPDX-License-Identifier: MIT
// fpu: keeps a pattern of its own in all sixteen XMM registers and in MXCSR while it
// yields and sleeps (other guests run, the hypervisor may be replaced), and reports each
// round whether every register came back as it left it.
#include "lib/runtime.hpp"

const char guest_name[] = "fpu";

namespace {

constexpr unsigned XMM_REGISTERS = 16;
constexpr uint64_t ROUND_NS = 200 * guest::NS_PER_MS;
constexpr uint64_t SLEEP_NS = 20 * guest::NS_PER_MS;
constexpr uint32_t MXCSR_RESET = 0x1f80;

struct alignas(16) XmmFile {
    uint64_t words[XMM_REGISTERS * 2];
};

void enable_sse()
{
    uint64_t cr0, cr4;
    asm volatile("mov %%cr0, %0" : "=r"(cr0));
    asm volatile("mov %%cr4, %0" : "=r"(cr4));
    cr0 = (cr0 | (1ull << 1)) & ~((1ull << 2) | (1ull << 3)); // MP, no EM, no TS
    cr4 |= (1ull << 9) | (1ull << 10); // OSFXSR, OSXMMEXCPT
    asm volatile("mov %0, %%cr0" ::"r"(cr0));
    asm volatile("mov %0, %%cr4" ::"r"(cr4));
}

// The compiler never touches XMM registers here (-mgeneral-regs-only), so between these
// two only the CPU (and whoever switches its state) can change them.
void load_xmm(const XmmFile &file)
{
    asm volatile("movdqa 0x00(%0), %%xmm0\n movdqa 0x10(%0), %%xmm1\n movdqa 0x20(%0), %%xmm2\n"
                 "movdqa 0x30(%0), %%xmm3\n movdqa 0x40(%0), %%xmm4\n movdqa 0x50(%0), %%xmm5\n"
                 "movdqa 0x60(%0), %%xmm6\n movdqa 0x70(%0), %%xmm7\n movdqa 0x80(%0), %%xmm8\n"
                 "movdqa 0x90(%0), %%xmm9\n movdqa 0xa0(%0), %%xmm10\n movdqa 0xb0(%0), %%xmm11\n"
                 "movdqa 0xc0(%0), %%xmm12\n movdqa 0xd0(%0), %%xmm13\n movdqa 0xe0(%0), %%xmm14\n"
                 "movdqa 0xf0(%0), %%xmm15" ::"r"(file.words)
                 : "memory");
}

void store_xmm(XmmFile &file)
{
    asm volatile("movdqa %%xmm0, 0x00(%0)\n movdqa %%xmm1, 0x10(%0)\n movdqa %%xmm2, 0x20(%0)\n"
                 "movdqa %%xmm3, 0x30(%0)\n movdqa %%xmm4, 0x40(%0)\n movdqa %%xmm5, 0x50(%0)\n"
                 "movdqa %%xmm6, 0x60(%0)\n movdqa %%xmm7, 0x70(%0)\n movdqa %%xmm8, 0x80(%0)\n"
                 "movdqa %%xmm9, 0x90(%0)\n movdqa %%xmm10, 0xa0(%0)\n movdqa %%xmm11, 0xb0(%0)\n"
                 "movdqa %%xmm12, 0xc0(%0)\n movdqa %%xmm13, 0xd0(%0)\n movdqa %%xmm14, 0xe0(%0)\n"
                 "movdqa %%xmm15, 0xf0(%0)" ::"r"(file.words)
                 : "memory");
}

void load_mxcsr(uint32_t value) { asm volatile("ldmxcsr %0" ::"m"(value)); }
uint32_t read_mxcsr()
{
    uint32_t value;
    asm volatile("stmxcsr %0" : "=m"(value));
    return value;
}

uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44d;
    return x ^ (x >> 33);
}

XmmFile wanted, found;

} // namespace

void guest_main(const baton_start_info *info)
{
    enable_sse();
    const uint64_t seed = mix(0x6670750000000000ull | info->domid);
    guest::report("seed=0x%016lx", seed);
    for (uint64_t round = 1;; ++round) {
        const uint64_t next_round = guest::time_ns() + ROUND_NS;
        for (unsigned i = 0; i < XMM_REGISTERS * 2; ++i)
            wanted.words[i] = mix(seed + round * 64 + i);
        // Rounding control and flush-to-zero differ per round: MXCSR must survive too.
        const uint32_t mxcsr = MXCSR_RESET | static_cast<uint32_t>((round & 3) << 13) | ((round & 4) ? 0x8000 : 0);
        load_xmm(wanted);
        load_mxcsr(mxcsr);
        while (guest::time_ns() < next_round) {
            guest::yield();
            guest::block(guest::time_ns() + SLEEP_NS); // no event is bound: sleeps until then
        }
        store_xmm(found);
        const uint32_t mxcsr_found = read_mxcsr();
        unsigned wrong = 0, first_wrong = XMM_REGISTERS;
        for (unsigned r = 0; r < XMM_REGISTERS; ++r) {
            if (found.words[2 * r] != wanted.words[2 * r] || found.words[2 * r + 1] != wanted.words[2 * r + 1]) {
                first_wrong = wrong == 0 ? r : first_wrong;
                ++wrong;
            }
        }
        if (wrong == 0 && mxcsr_found == mxcsr)
            guest::report("round %lu ok xmm=16 mxcsr=0x%04x", round, mxcsr_found);
        else
            guest::report("round %lu MISMATCH registers=%u first=xmm%u mxcsr=0x%04x expected=0x%04x", round, wrong,
                          first_wrong, mxcsr_found, mxcsr);
    }
}
