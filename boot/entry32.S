/* SPDX-License-Identifier: MIT */
/* 32-bit multiboot2 entry: check the loader, zero BSS, build early page tables,
   enter long mode and jump to the 64-bit kernel in the top 2 GiB. */
#define MB2_BOOT_MAGIC 0x36d76289
#define KERNEL_VMA     0xffffffff80000000
#define COM1           0x3f8
#define PTE_P          0x1
#define PTE_W          0x2
#define PTE_PS         0x80

#include "kernel/arch/x86_64/common/asm_macros.inc"

/* Zeroes ECX dwords at EDI (EAX = 0), eight per iteration, then the rest. */
.macro ZERO_DWORDS
.Lzero_eight\@:
    cmp     $8, %ecx
    jb      .Lzero_tail\@
    mov     %eax, 0(%edi)
    mov     %eax, 4(%edi)
    mov     %eax, 8(%edi)
    mov     %eax, 12(%edi)
    mov     %eax, 16(%edi)
    mov     %eax, 20(%edi)
    mov     %eax, 24(%edi)
    mov     %eax, 28(%edi)
    add     $32, %edi
    sub     $8, %ecx
    jmp     .Lzero_eight\@
.Lzero_tail\@:
    rep stosl
.endm

    .section .boot.text, "ax"
    .code32
    .globl _start32
_start32:
    cli
    cld
    mov     %eax, %esi                  /* multiboot2 magic */
    mov     %ebx, %ebp                  /* physical address of the information block */
    /* No stack until BSS is zeroed: nothing here calls or pushes. */

    cmp     $MB2_BOOT_MAGIC, %esi
    jne     .Lnot_multiboot2

    /* long mode available? (CPUID 0x80000001 EDX bit 29) */
    mov     $0x80000000, %eax
    cpuid
    cmp     $0x80000001, %eax
    jb      .Lno_long_mode
    mov     $0x80000001, %eax
    cpuid
    bt      $29, %edx
    jnc     .Lno_long_mode

    /* Zero both BSS areas: a loader or a previous Baton image may leave stale data.
       32 bytes per loop, then the tail: under TCG every REP iteration is a dispatch,
       and this runs inside a live update's blackout. */
    xor     %eax, %eax
    mov     $__boot_bss_start, %edi
    mov     $__boot_bss_dwords, %ecx
    ZERO_DWORDS
    mov     $(__bss_start - KERNEL_VMA), %edi
    mov     $__bss_dwords, %ecx
    ZERO_DWORDS

    /* Four page directories of 2 MiB pages map the first 4 GiB. */
    mov     $boot_pd, %ebx
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $21, %eax                   /* low 32 bits of the physical address */
    or      $(PTE_P | PTE_W | PTE_PS), %eax
    mov     %eax, (%ebx, %ecx, 8)
    mov     %ecx, %eax
    shr     $11, %eax                   /* high bits: entry index / 2048 (4 GiB+) */
    mov     %eax, 4(%ebx, %ecx, 8)
    inc     %ecx
    cmp     $2048, %ecx
    jne     1b

    /* PDPT for the low 4 GiB, shared by the identity map and the direct map. */
    mov     $boot_pdpt_low, %ebx
    mov     $boot_pd, %eax
    or      $(PTE_P | PTE_W), %eax
    xor     %ecx, %ecx
2:  mov     %eax, (%ebx, %ecx, 8)
    add     $4096, %eax
    inc     %ecx
    cmp     $4, %ecx
    jne     2b

    /* PDPT for the kernel window: 0xffffffff80000000 -> physical 0 (first GiB). */
    mov     $boot_pdpt_high, %ebx
    mov     $boot_pd, %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, 510*8(%ebx)

    mov     $boot_pml4, %ebx
    mov     $boot_pdpt_low, %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, 0*8(%ebx)             /* identity, needed until we run high */
    mov     %eax, 256*8(%ebx)           /* direct map at 0xffff800000000000 */
    mov     $boot_pdpt_high, %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, 511*8(%ebx)

    /* PAE, then EFER.LME and EFER.NXE, then paging. */
    mov     %cr4, %eax
    or      $(1 << 5), %eax
    mov     %eax, %cr4
    mov     $boot_pml4, %eax
    mov     %eax, %cr3
    mov     $0xc0000080, %ecx
    rdmsr
    or      $((1 << 8) | (1 << 11)), %eax
    wrmsr
    mov     %cr0, %eax
    or      $((1 << 31) | (1 << 16) | 1), %eax   /* PG, WP, PE */
    mov     %eax, %cr0

    lgdt    boot_gdt_pointer
    ljmp    $0x08, $start64_low

.Lnot_multiboot2:
    mov     $msg_not_multiboot2, %ebx
    jmp     fail32
.Lno_long_mode:
    mov     $msg_no_long_mode, %ebx
    jmp     fail32

/* Print the NUL-terminated string at %ebx on COM1 and halt: no console exists yet. */
fail32:
    mov     $COM1 + 5, %dx
1:  in      %dx, %al
    test    $0x20, %al
    jz      1b
    mov     $COM1, %dx
    movb    (%ebx), %al
    test    %al, %al
    jz      2f
    out     %al, %dx
    inc     %ebx
    jmp     fail32
2:  cli
    hlt
    jmp     2b

    .code64
start64_low:
    LOAD_FLAT_DATA_SEGMENTS 0x10
    movabs  $start64_high, %rax
    jmp     *%rax

    .section .boot.data, "aw"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff            /* 0x10: data */
boot_gdt_end:
boot_gdt_pointer:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

msg_not_multiboot2:
    .asciz "baton: not started by a multiboot2 loader (bad magic in EAX); halting\r\n"
msg_no_long_mode:
    .asciz "baton: this CPU has no long mode (x86-64); halting\r\n"

    .section .boot.bss, "aw", @nobits
    .balign 4096
    .globl boot_pml4
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4 * 4096

    .text
start64_high:
    movabs  $kernel_stack_top, %rsp
    /* kernel_main(magic, info_phys): %edi/%esi per the SysV ABI */
    mov     %esi, %edi
    mov     %ebp, %esi
    xor     %ebp, %ebp
    call    kernel_main
1:  cli
    hlt
    jmp     1b

    .section .bss
    .balign 4096
    /* Left unmapped by the final page tables, so an overflow faults instead of
       silently overwriting whatever lies below the stack. */
    .globl kernel_stack_guard
kernel_stack_guard: .skip 4096
kernel_stack:   .skip 32 * 1024
kernel_stack_top:
