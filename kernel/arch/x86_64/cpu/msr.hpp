// SPDX-License-Identifier: MIT
// Model-specific registers, control-register bits and CPUID feature bits Baton uses.
#pragma once
#include "lib/types.hpp"

namespace cpu {

// MSR numbers (AMD APM vol. 2 and 3; Intel SDM vol. 4 for the architectural ones).
enum Msr : u32 {
    MSR_TSC = 0x10,
    MSR_APIC_BASE = 0x1b,
    MSR_MTRR_CAP = 0xfe,
    MSR_MISC_ENABLE = 0x1a0,
    MSR_SYSENTER_CS = 0x174,
    MSR_SYSENTER_ESP = 0x175,
    MSR_SYSENTER_EIP = 0x176,
    MSR_PAT = 0x277,
    MSR_MTRR_DEF_TYPE = 0x2ff,
    MSR_TSC_DEADLINE = 0x6e0,
    MSR_EFER = 0xc0000080,
    MSR_STAR = 0xc0000081,
    MSR_LSTAR = 0xc0000082,
    MSR_CSTAR = 0xc0000083,
    MSR_SFMASK = 0xc0000084,
    MSR_FS_BASE = 0xc0000100,
    MSR_GS_BASE = 0xc0000101,
    MSR_KERNEL_GS_BASE = 0xc0000102,
    MSR_TSC_AUX = 0xc0000103,
    MSR_AMD_INT_PENDING = 0xc0010055,
    MSR_VM_CR = 0xc0010114,
    MSR_VM_HSAVE_PA = 0xc0010117,
};

// EFER bits.
inline constexpr u64 EFER_SCE = 1ul << 0, EFER_LME = 1ul << 8, EFER_LMA = 1ul << 10, EFER_NXE = 1ul << 11,
                     EFER_SVME = 1ul << 12;
// VM_CR: set by firmware to forbid SVM.
inline constexpr u64 VM_CR_SVMDIS = 1ul << 4;
// APIC_BASE: the architectural base address and flags.
inline constexpr u64 APIC_DEFAULT_BASE = 0xfee00000ul, APIC_BASE_BSP = 1ul << 8, APIC_BASE_ENABLE = 1ul << 11;
// The PAT's reset value: WB, WT, UC-, UC, repeated.
inline constexpr u64 PAT_RESET = 0x0007040600070406ul;

// Control-register bits.
inline constexpr u64 CR0_PE = 1ul << 0, CR0_MP = 1ul << 1, CR0_EM = 1ul << 2, CR0_TS = 1ul << 3, CR0_ET = 1ul << 4,
                     CR0_WP = 1ul << 16, CR0_PG = 1ul << 31;
inline constexpr u64 CR4_PAE = 1ul << 5, CR4_PGE = 1ul << 7, CR4_OSFXSR = 1ul << 9, CR4_OSXMMEXCPT = 1ul << 10;
// Debug registers after reset.
inline constexpr u64 DR6_RESET = 0xffff0ff0, DR7_RESET = 0x400;
inline constexpr u64 RFLAGS_RESERVED_ONE = 1ul << 1;

// Exception vectors.
enum Vector : u8 {
    VECTOR_DIVIDE = 0,
    VECTOR_NMI = 2,
    VECTOR_INVALID_OPCODE = 6,
    VECTOR_DOUBLE_FAULT = 8,
    VECTOR_GENERAL_PROTECTION = 13,
    VECTOR_PAGE_FAULT = 14,
    VECTOR_MACHINE_CHECK = 18,
};

// CPUID leaves and the feature bits Baton reads or hides.
enum CpuidLeaf : u32 {
    CPUID_FEATURES = 1,
    CPUID_STRUCTURED_FEATURES = 7,
    CPUID_PERFORMANCE_MONITORING = 0xa,
    CPUID_XSAVE_STATE = 0xd,
    CPUID_HYPERVISOR_BASE = 0x40000000,
    CPUID_HYPERVISOR_END = 0x40000100,
    CPUID_EXTENDED_FEATURES = 0x80000001,
    CPUID_SVM_FEATURES = 0x8000000a,
};
inline constexpr u32 CPUID_1_ECX_VMX = 1u << 5, CPUID_1_ECX_X2APIC = 1u << 21, CPUID_1_ECX_HYPERVISOR = 1u << 31;
inline constexpr u32 CPUID_1_ECX_MONITOR = 1u << 3, CPUID_1_ECX_PDCM = 1u << 15, CPUID_1_ECX_TSC_DEADLINE = 1u << 24,
                     CPUID_1_ECX_XSAVE = 1u << 26, CPUID_1_ECX_OSXSAVE = 1u << 27, CPUID_1_ECX_AVX = 1u << 28;
inline constexpr u32 CPUID_1_EDX_MCE = 1u << 7, CPUID_1_EDX_APIC = 1u << 9, CPUID_1_EDX_MCA = 1u << 14,
                     CPUID_1_EDX_DS = 1u << 21, CPUID_1_EDX_ACPI = 1u << 22, CPUID_1_EDX_TM = 1u << 29;
inline constexpr u32 CPUID_7_EBX_AVX2 = 1u << 5, CPUID_7_EBX_AVX512F = 1u << 16;
inline constexpr u32 CPUID_7_ECX_PKU = 1u << 3, CPUID_7_ECX_OSPKE = 1u << 4;
inline constexpr u32 CPUID_80000001_ECX_SVM = 1u << 2, CPUID_80000001_ECX_PERFCTR_CORE = 1u << 23,
                     CPUID_80000001_EDX_PAGE1GB = 1u << 26;
inline constexpr u32 CPUID_8000000A_EDX_NESTED_PAGING = 1u << 0;

} // namespace cpu
