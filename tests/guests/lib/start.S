/* SPDX-License-Identifier: MIT */
/* Guest entry: from the 32-bit start state (abi/hypercall.h) into identity-mapped long
   mode, then runtime_start(start_info). */
#include "kernel/arch/x86_64/common/asm_macros.inc"
#include "lib/layout.h"

#define PTE_P    0x1
#define PTE_W    0x2
#define PTE_U    0x4   /* user-accessible: the hostile guest makes a hypercall from CPL 3 */
#define PTE_PS   0x80
#define CR0_PE   (1 << 0)
#define CR0_WP   (1 << 16)
#define CR0_PG   (1 << 31)
#define CR4_PAE  (1 << 5)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define DEBUG_CONSOLE_PORT 0xe9  /* BATON_DEBUG_CONSOLE_PORT */
#define HC_SHUTDOWN 7            /* BATON_HC_SHUTDOWN */
#define SHUTDOWN_CRASH 1         /* BATON_SHUTDOWN_CRASH */

/* PAE, then EFER.LME, then paging through page_map_level4, then the runtime's GDT:
   long mode, continued at `target` (64-bit code). Clobbers EAX, ECX and EDX. */
.macro ENTER_LONG_MODE target
    mov     %cr4, %eax
    or      $CR4_PAE, %eax
    mov     %eax, %cr4
    mov     $page_map_level4, %eax
    mov     %eax, %cr3
    mov     $MSR_EFER, %ecx
    rdmsr
    or      $EFER_LME, %eax
    wrmsr
    mov     %cr0, %eax
    or      $(CR0_PG | CR0_WP | CR0_PE), %eax
    mov     %eax, %cr0
    lgdt    guest_gdt_pointer
    ljmp    $GUEST_KERNEL_CS, $\target
.endm

    .section .text.start, "ax"
    .code32
    .globl _start
_start:
    /* 32-bit protected mode, paging off, EBX = struct baton_start_info. No stack yet:
       nothing here pushes or calls until BSS (which holds the stack) is zeroed. */
    cli
    cld
    mov     %ebx, %esi
    cmpl    $GUEST_START_MAGIC_LOW, 0(%esi)
    jne     .Lbad_start_info
    cmpl    $GUEST_START_MAGIC_HIGH, 4(%esi)
    jne     .Lbad_start_info

    /* The hypervisor zero-fills p_memsz beyond p_filesz, but do not rely on it. */
    xor     %eax, %eax
    mov     $__bss_start, %edi
    mov     $__bss_dwords, %ecx
    rep stosl

    /* Identity map of the first 4 GiB: four page directories of 2 MiB pages. Addresses
       beyond the guest's RAM are mapped too; touching them is the hypervisor's business. */
    mov     $page_directories, %edi
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $21, %eax
    or      $(PTE_P | PTE_W | PTE_U | PTE_PS), %eax
    mov     %eax, (%edi, %ecx, 8)
    mov     %ecx, %eax
    shr     $11, %eax                   /* bits 32+ of the address */
    mov     %eax, 4(%edi, %ecx, 8)
    inc     %ecx
    cmp     $2048, %ecx
    jne     1b

    mov     $page_directory_pointers, %edi
    mov     $(page_directories + PTE_P + PTE_W + PTE_U), %eax
    xor     %ecx, %ecx
2:  mov     %eax, (%edi, %ecx, 8)
    add     $4096, %eax
    inc     %ecx
    cmp     $4, %ecx
    jne     2b

    movl    $(page_directory_pointers + PTE_P + PTE_W + PTE_U), page_map_level4

    ENTER_LONG_MODE start64

.Lbad_start_info:
    /* Say why on the debug console port, then ask for a crash shutdown (in 32-bit mode
       only the low halves of the registers are meaningful). If that returns, ud2 with no
       IDT is a triple fault, which the hypervisor sees as a shutdown too. */
    mov     $msg_bad_start_info, %esi
    mov     $DEBUG_CONSOLE_PORT, %dx
3:  lodsb
    test    %al, %al
    jz      4f
    out     %al, %dx
    jmp     3b
4:  mov     $HC_SHUTDOWN, %eax
    mov     $SHUTDOWN_CRASH, %edi
    vmmcall
    ud2

    .code64
start64:
    LOAD_FLAT_DATA_SEGMENTS GUEST_KERNEL_DS
    mov     $guest_stack_top, %esp      /* below 4 GiB: the 32-bit move zero-extends */
    xor     %ebp, %ebp
    mov     %esi, %edi                  /* struct baton_start_info * */
    call    runtime_start               /* does not return */
    ud2

    /* Another vCPU, started by BATON_HC_VCPU_UP (lib/smp.cpp): the same 32-bit start
       state with ESP = its own stack and ESI = its index. vCPU 0 built the page tables
       and the GDT; this one only switches to long mode through them. */
    .code32
    .globl guest_vcpu_entry
guest_vcpu_entry:
    cli
    cld
    ENTER_LONG_MODE vcpu_start64

    .code64
vcpu_start64:
    LOAD_FLAT_DATA_SEGMENTS GUEST_KERNEL_DS
    mov     %esp, %esp                  /* clears the upper half: the stack is below 4 GiB */
    xor     %ebp, %ebp
    mov     %esi, %edi                  /* the vCPU's index */
    call    runtime_vcpu_start          /* does not return */
    ud2

    .section .rodata
msg_bad_start_info:
    .asciz "guest: EBX does not point at a baton_start_info (bad magic); crashing\n"

    .section .data
    .balign 16
    .globl guest_gdt
guest_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            /* GUEST_KERNEL_CS: 64-bit code, DPL 0 */
    .quad 0x00cf92000000ffff            /* GUEST_KERNEL_DS */
    .quad 0x00cff2000000ffff            /* GUEST_USER_DS: DPL 3 */
    .quad 0x00affa000000ffff            /* GUEST_USER_CS: 64-bit code, DPL 3 */
    .quad 0, 0                          /* GUEST_TSS: written by interrupts.cpp */
guest_gdt_end:
    .balign 8
guest_gdt_pointer:                      /* lgdt in 32-bit mode reads the low 4 bytes of the base */
    .short guest_gdt_end - guest_gdt - 1
    .quad guest_gdt

    .section .bss
    .balign 4096
page_map_level4:
    .skip 4096
page_directory_pointers:
    .skip 4096
page_directories:
    .skip 4 * 4096

    .balign 16
    .globl guest_stack_top
guest_stack:
    .skip GUEST_STACK_SIZE
guest_stack_top:
