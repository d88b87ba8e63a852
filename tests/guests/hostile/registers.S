/* SPDX-License-Identifier: MIT */
/* uint64_t vmmcall_changed_registers(uint64_t number): loads every general register
   with a known pattern, makes hypercall `number` and returns a mask of the registers
   that changed (bit order below; RAX carries the result and is not checked). */

#define REGISTER_COUNT 15

.macro LOAD register, index
    mov     patterns + \index * 8(%rip), %\register
.endm

.macro CHECK register, index
    cmp     patterns + \index * 8(%rip), %\register
    je      1f
    or      $(1 << \index), %eax
1:
.endm

    .text
    .globl vmmcall_changed_registers
vmmcall_changed_registers:
    push    %rbx
    push    %rbp
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rdi, %rax
    mov     %rsp, patterns + 14 * 8(%rip)
    LOAD    rbx, 0
    LOAD    rcx, 1
    LOAD    rdx, 2
    LOAD    rsi, 3
    LOAD    rdi, 4
    LOAD    rbp, 5
    LOAD    r8, 6
    LOAD    r9, 7
    LOAD    r10, 8
    LOAD    r11, 9
    LOAD    r12, 10
    LOAD    r13, 11
    LOAD    r14, 12
    LOAD    r15, 13
    vmmcall
    xor     %eax, %eax
    CHECK   rbx, 0
    CHECK   rcx, 1
    CHECK   rdx, 2
    CHECK   rsi, 3
    CHECK   rdi, 4
    CHECK   rbp, 5
    CHECK   r8, 6
    CHECK   r9, 7
    CHECK   r10, 8
    CHECK   r11, 9
    CHECK   r12, 10
    CHECK   r13, 11
    CHECK   r14, 12
    CHECK   r15, 13
    CHECK   rsp, 14
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbp
    pop     %rbx
    ret

    .data
    .balign 8
/* Argument registers get patterns too: as addresses and lengths they are far outside
   any guest's RAM, so a call that uses them takes its error path. */
patterns:
    .quad 0x5a5a5a5a5a5a5a00, 0x5a5a5a5a5a5a5a01, 0x5a5a5a5a5a5a5a02, 0x5a5a5a5a5a5a5a03
    .quad 0x5a5a5a5a5a5a5a04, 0x5a5a5a5a5a5a5a05, 0x5a5a5a5a5a5a5a06, 0x5a5a5a5a5a5a5a07
    .quad 0x5a5a5a5a5a5a5a08, 0x5a5a5a5a5a5a5a09, 0x5a5a5a5a5a5a5a0a, 0x5a5a5a5a5a5a5a0b
    .quad 0x5a5a5a5a5a5a5a0c, 0x5a5a5a5a5a5a5a0d
    .quad 0                             /* the caller's %rsp, saved at run time */
    .if (. - patterns) != REGISTER_COUNT * 8
    .error "one pattern per checked register"
    .endif
