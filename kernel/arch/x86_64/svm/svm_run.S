/* SPDX-License-Identifier: MIT */
/* One guest entry: VMRUN with the general registers VMRUN does not switch itself.
   void svm_run(u64 guest_vmcb_pa, u64 host_vmcb_pa, GuestRegisters *registers)
   GuestRegisters layout (kernel/arch/x86_64/svm.hpp): rbx rcx rdx rsi rdi rbp r8..r15. */

#define R_RBX 0
#define R_RCX 8
#define R_RDX 16
#define R_RSI 24
#define R_RDI 32
#define R_RBP 40
#define R_R8  48
#define R_R9  56
#define R_R10 64
#define R_R11 72
#define R_R12 80
#define R_R13 88
#define R_R14 96
#define R_R15 104

    .text
    .globl svm_run
svm_run:
    push    %rbp
    push    %rbx
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    push    %rdx                        /* 16(%rsp): registers */
    push    %rsi                        /*  8(%rsp): host VMCB */
    push    %rdi                        /*  0(%rsp): guest VMCB */

    clgi
    /* The host's FS/GS/TR/LDTR and syscall MSRs are not switched by VMRUN itself. */
    mov     %rsi, %rax
    vmsave  %rax

    mov     %rdx, %rax
    mov     R_RBX(%rax), %rbx
    mov     R_RCX(%rax), %rcx
    mov     R_RDX(%rax), %rdx
    mov     R_RSI(%rax), %rsi
    mov     R_RDI(%rax), %rdi
    mov     R_RBP(%rax), %rbp
    mov     R_R8(%rax), %r8
    mov     R_R9(%rax), %r9
    mov     R_R10(%rax), %r10
    mov     R_R11(%rax), %r11
    mov     R_R12(%rax), %r12
    mov     R_R13(%rax), %r13
    mov     R_R14(%rax), %r14
    mov     R_R15(%rax), %r15

    mov     (%rsp), %rax
    vmload  %rax
    vmrun   %rax
    vmsave  %rax

    /* Every general register but RAX and RSP now holds the guest's value. */
    push    %rbx
    mov     24(%rsp), %rbx              /* registers (one push deeper) */
    mov     %rcx, R_RCX(%rbx)
    mov     %rdx, R_RDX(%rbx)
    mov     %rsi, R_RSI(%rbx)
    mov     %rdi, R_RDI(%rbx)
    mov     %rbp, R_RBP(%rbx)
    mov     %r8, R_R8(%rbx)
    mov     %r9, R_R9(%rbx)
    mov     %r10, R_R10(%rbx)
    mov     %r11, R_R11(%rbx)
    mov     %r12, R_R12(%rbx)
    mov     %r13, R_R13(%rbx)
    mov     %r14, R_R14(%rbx)
    mov     %r15, R_R15(%rbx)
    pop     %rax
    mov     %rax, R_RBX(%rbx)

    mov     8(%rsp), %rax
    vmload  %rax
    stgi

    add     $24, %rsp
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbx
    pop     %rbp
    ret
