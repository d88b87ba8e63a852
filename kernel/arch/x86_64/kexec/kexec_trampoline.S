/* SPDX-License-Identifier: MIT */
/* The kexec trampoline: copied to a low page and entered there through an identity
   mapping. It copies the segments it is given into place, leaves long mode and enters
   the image exactly as a multiboot2 loader would. A kexec or live update gives it none:
   the next image already sits in its load slot (kexec_load, before the pause). Only the
   way back copies (the old image from its pristine copy, into where it ran). Position
   independent; uses no stack.
   void trampoline(u64 params_phys)  -- params layout: kernel/arch/x86_64/kexec.cpp */

#define P_ENTRY     0
#define P_INFO      8
#define P_COUNT     16
#define P_GDT_PTR   24
#define P_SEGMENTS  64
#define SEG_DEST    0
#define SEG_SRC     8
#define SEG_FILE    16
#define SEG_ZERO    24
#define SEG_SIZE    32

    .section .rodata
    .balign 16
    .globl kexec_trampoline_start, kexec_trampoline_end
kexec_trampoline_start:
    .code64
    cli
    cld
    mov     %rdi, %r8                   /* params */
    lea     P_SEGMENTS(%r8), %r9
    mov     P_COUNT(%r8), %r10
1:  test    %r10, %r10
    jz      2f
    mov     SEG_DEST(%r9), %rdi
    mov     SEG_SRC(%r9), %rsi
    /* Eight bytes at a time, then the tail: under TCG each REP iteration is one
       dispatch, so byte moves made this copy the longest part of the jump. */
    mov     SEG_FILE(%r9), %rcx
    mov     %rcx, %rdx
    shr     $3, %rcx
    rep movsq
    mov     %rdx, %rcx
    and     $7, %rcx
    rep movsb
    mov     SEG_ZERO(%r9), %rcx         /* the BSS part: zeroed right after */
    mov     %rcx, %rdx
    xor     %eax, %eax
    shr     $3, %rcx
    rep stosq
    mov     %rdx, %rcx
    and     $7, %rcx
    rep stosb
    add     $SEG_SIZE, %r9
    dec     %r10
    jmp     1b

2:  mov     P_ENTRY(%r8), %rdi          /* not EDX: RDMSR below clobbers it */
    mov     P_INFO(%r8), %rbx
    /* Our own GDT: the old image's GDT is gone, and a 32-bit code segment is needed to
       leave long mode (real hardware faults on CR0.PG=0 in 64-bit mode). */
    lgdt    P_GDT_PTR(%r8)
    lea     3f(%rip), %rax
    pushq   $0x08
    push    %rax
    lretq

    .code32
3:  mov     $0x10, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     %eax, %fs
    mov     %eax, %gs
    mov     %cr0, %eax                  /* paging off: we run identity mapped */
    and     $0x7fffffff, %eax
    mov     %eax, %cr0
    mov     $0xc0000080, %ecx           /* EFER: long mode and SVM off */
    rdmsr
    and     $~((1 << 8) | (1 << 12)), %eax
    wrmsr
    xor     %eax, %eax
    mov     %eax, %cr4
    mov     $0x36d76289, %eax           /* multiboot2 loader magic; EBX = information */
    jmp     *%edi
kexec_trampoline_end:
