/* SPDX-License-Identifier: MIT */
/* Interrupt entry: 256 stubs push a uniform frame and call interrupt_dispatch(frame); the
   hypervisor and the test guests both link this one copy (each has its own dispatcher and
   its description of the frame: InterruptFrame, guest::Interrupt_frame). */

/* Vectors for which the CPU pushes an error code itself. */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .text
.macro VECTOR_STUB vector
    .balign 16
interrupt_stub_\vector:
    .if HAS_ERROR_CODE(\vector) == 0
    pushq   $0
    .endif
    pushq   $\vector
    jmp     interrupt_common
.endm

.macro VECTOR_STUB_ADDRESS vector
    .quad   interrupt_stub_\vector
.endm

    .altmacro
    .set vector, 0
    .rept 256
    VECTOR_STUB %vector
    .set vector, vector + 1
    .endr

    .balign 16
interrupt_common:
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    cld
    mov     %rsp, %rdi
    /* Align the stack for the call (the CPU aligns it only on a stack switch); the frame
       pointer stays in %rdi and %rsp is kept in callee-saved %rbx. */
    mov     %rsp, %rbx
    and     $-16, %rsp
    call    interrupt_dispatch
    mov     %rbx, %rsp
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $16, %rsp                   /* vector and error code */
    iretq

    .section .rodata
    .balign 8
    .globl interrupt_stub_table
interrupt_stub_table:
    .set vector, 0
    .rept 256
    VECTOR_STUB_ADDRESS %vector
    .set vector, vector + 1
    .endr
