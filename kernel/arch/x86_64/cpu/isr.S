/* SPDX-License-Identifier: MIT */
/* Interrupt entry stubs: push a uniform frame (see InterruptFrame) and dispatch. */

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .text
.macro STUB vector
    .balign 16
isr_stub_\vector:
    .ifeq HAS_ERROR_CODE(\vector)
    pushq   $0
    .endif
    pushq   $\vector
    jmp     interrupt_common
.endm

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
    /* Align the stack for the call; the frame pointer stays in %rdi. */
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

.altmacro
.macro STUBS from, to
    STUB \from
    .if \to-\from
    STUBS %(\from+1), \to
    .endif
.endm
    STUBS 0, 63
    STUBS 64, 127
    STUBS 128, 191
    STUBS 192, 255

.macro STUB_ADDRESS vector
    .quad isr_stub_\vector
.endm
.macro STUB_ADDRESSES from, to
    STUB_ADDRESS %(\from)
    .if \to-\from
    STUB_ADDRESSES %(\from+1), \to
    .endif
.endm

    .section .rodata
    .balign 8
    .globl isr_stub_table
isr_stub_table:
    STUB_ADDRESSES 0, 63
    STUB_ADDRESSES 64, 127
    STUB_ADDRESSES 128, 191
    STUB_ADDRESSES 192, 255
