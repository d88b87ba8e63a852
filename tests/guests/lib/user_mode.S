/* SPDX-License-Identifier: MIT */
/* A hypercall made from CPL 3, for the hostile guest: the hypervisor must refuse it.
   long hypercall_at_cpl3(uint64_t number, uint64_t arg0) */
#include "lib/layout.h"

    .text
    .globl hypercall_at_cpl3
hypercall_at_cpl3:
    push    %rbx
    push    %rbp
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, cpl0_stack_pointer(%rip)
    /* iretq to CPL 3 with interrupts off (CPL 0 may clear IF for the target). */
    pushq   $(GUEST_USER_DS | 3)
    lea     user_stack_top(%rip), %rax
    push    %rax
    pushq   $0x2
    pushq   $(GUEST_USER_CS | 3)
    lea     cpl3_code(%rip), %rax
    push    %rax
    iretq

cpl3_code:
    mov     %rdi, %rax
    mov     %rsi, %rdi
    vmmcall
    int     $GUEST_CPL3_RETURN_VECTOR   /* back to CPL 0 with the result in %rax */
    ud2

/* The DPL 3 gate's target: runs on TSS.rsp0; drop that frame and resume the caller. */
    .globl cpl3_return_entry
cpl3_return_entry:
    mov     cpl0_stack_pointer(%rip), %rsp
    mov     $GUEST_KERNEL_DS, %ecx
    mov     %ecx, %ds
    mov     %ecx, %es
    mov     %ecx, %ss
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbp
    pop     %rbx
    ret

    .section .bss
    .balign 8
cpl0_stack_pointer:
    .skip 8
    .balign 16
user_stack:
    .skip 4096
user_stack_top:
