/* SPDX-License-Identifier: MIT */
/* The application processors' start: real mode -> long mode in a low page, then the kernel.
   The bytes from ap_trampoline_start to ap_trampoline_end are copied to AP_TRAMPOLINE_PHYS
   (kernel/arch/x86_64/smp/smp.hpp); a start-up IPI with that page's number enters it at
   offset 0 with CS = page * 0x100, IP = 0. The bootstrap CPU fills the parameters (AP_P_*,
   layout shared with smp.cpp) before it sends the IPIs. Several APs may run it at once:
   they share no memory but the parameters, and each takes a ticket with a locked add. */

#define AP_TRAMPOLINE_PHYS 0x7000
#define AP_P_CR3        0xf00   /* u64: PML4 below 4 GiB (identity + the kernel's upper half) */
#define AP_P_ENTRY      0xf08   /* u64: kernel address of ap_long_mode_entry */
#define AP_P_TICKET     0xf10   /* u32: next ticket */
#define AP_P_LIMIT      0xf14   /* u32: tickets with a stack; a later AP halts */

#define ABS(label) ((label) - ap_trampoline_start + AP_TRAMPOLINE_PHYS)

#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18

    .section .rodata
    .balign 16
    .globl ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
    .code16
    cli
    cld
    xor     %ax, %ax
    mov     %ax, %ds
    lgdtl   ABS(ap_gdt_pointer)
    mov     %cr0, %eax
    or      $1, %eax                    /* PE */
    mov     %eax, %cr0
    ljmpl   $SEL_CODE32, $ABS(ap_protected)

    .code32
ap_protected:
    mov     $SEL_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     %cr4, %eax
    or      $(1 << 5), %eax             /* PAE */
    mov     %eax, %cr4
    mov     (AP_TRAMPOLINE_PHYS + AP_P_CR3), %eax
    mov     %eax, %cr3
    mov     $0xc0000080, %ecx           /* EFER: LME and NXE, as boot/entry32.S */
    rdmsr
    or      $((1 << 8) | (1 << 11)), %eax
    wrmsr
    mov     %cr0, %eax
    or      $((1 << 31) | (1 << 16)), %eax  /* PG, WP */
    mov     %eax, %cr0
    ljmp    $SEL_CODE64, $ABS(ap_long)

    .code64
ap_long:
    mov     $1, %edi
    lock xadd %edi, (AP_TRAMPOLINE_PHYS + AP_P_TICKET)
    cmp     (AP_TRAMPOLINE_PHYS + AP_P_LIMIT), %edi
    jae     ap_halt                     /* no stack for it: a late AP stays out */
    mov     (AP_TRAMPOLINE_PHYS + AP_P_ENTRY), %rax
    jmp     *%rax                       /* edi = ticket */
ap_halt:
    cli
    hlt
    jmp     ap_halt

    .balign 8
ap_gdt:
    .quad   0
    .quad   0x00af9a000000ffff          /* 0x08: 64-bit code */
    .quad   0x00cf92000000ffff          /* 0x10: data */
    .quad   0x00cf9a000000ffff          /* 0x18: 32-bit code */
ap_gdt_end:
ap_gdt_pointer:
    .word   ap_gdt_end - ap_gdt - 1
    .long   ABS(ap_gdt)
ap_trampoline_end:

/* In the kernel, reached through the upper half of the low PML4: takes the ticket's
   stack and calls smp_ap_main(ticket), which switches to the kernel's page tables. */
    .text
    .globl ap_long_mode_entry
ap_long_mode_entry:
    mov     %edi, %edi
    lea     smp_ap_stack_tops(%rip), %rax
    mov     (%rax,%rdi,8), %rsp
    xor     %ebp, %ebp
    call    smp_ap_main
1:  cli
    hlt
    jmp     1b
