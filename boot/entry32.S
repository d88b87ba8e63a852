/* SPDX-License-Identifier: MIT */
/* 32-bit multiboot2 entry: check the loader, find where it loaded us, zero BSS, build
   early page tables, enter long mode and jump to the 64-bit kernel in the top 2 GiB.
   The image runs at any 2 MiB-aligned physical base: the load delta (actual - linked,
   kept in ESI from the check on) is added to every physical address used here, and
   KERNEL_VMA maps the image where it actually is. GRUB loads at the link address
   (delta 0); a live update places the next image in a free slot (docs/live-update.md). */
#define MB2_BOOT_MAGIC 0x36d76289
#define KERNEL_VMA     0xffffffff80000000
#define COM1           0x3f8
#define PTE_P          0x1
#define PTE_W          0x2
#define PTE_PS         0x80
#define PD_ENTRIES     512
#define KERNEL_WINDOW_PDPT_INDEX 510    /* KERNEL_VMA's entry in its PDPT */

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
    mov     %ebx, %ebp                  /* physical address of the information block */
    /* No stack until BSS is zeroed: nothing here calls or pushes, but for the one call
       below. The magic fails before the delta is known: a loader that does not speak
       multiboot2 loaded us at the link address if anywhere, so the message is absolute. */
    cmp     $MB2_BOOT_MAGIC, %eax
    jne     .Lnot_multiboot2

    /* Where are we? A call pushes its own address. Its stack is the loader's information
       block, the one piece of writable RAM known to be ours; its first dword is put back. */
    mov     (%ebp), %edi
    lea     4(%ebp), %esp
    call    .Lhere
.Lhere:
    pop     %esi
    mov     %edi, (%ebp)
    sub     $.Lhere, %esi               /* ESI = load delta, 2 MiB aligned, until the kernel */

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
    lea     __boot_bss_start(%esi), %edi
    mov     $__boot_bss_dwords, %ecx
    ZERO_DWORDS
    lea     (__bss_start - KERNEL_VMA)(%esi), %edi
    mov     $__bss_dwords, %ecx
    ZERO_DWORDS

    /* Four page directories of 2 MiB pages map the first 4 GiB. */
    lea     boot_pd(%esi), %ebx
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
    lea     boot_pdpt_low(%esi), %ebx
    lea     boot_pd(%esi), %eax
    or      $(PTE_P | PTE_W), %eax
    xor     %ecx, %ecx
2:  mov     %eax, (%ebx, %ecx, 8)
    add     $4096, %eax
    inc     %ecx
    cmp     $4, %ecx
    jne     2b

    /* The kernel window: KERNEL_VMA + x -> x + delta for the first GiB, in 2 MiB pages
       (below 4 GiB + 1 GiB: the carry goes into the entry's high half). */
    lea     boot_pd_high(%esi), %ebx
    xor     %ecx, %ecx
3:  mov     %ecx, %eax
    shl     $21, %eax
    xor     %edx, %edx
    add     %esi, %eax
    adc     $0, %edx
    or      $(PTE_P | PTE_W | PTE_PS), %eax
    mov     %eax, (%ebx, %ecx, 8)
    mov     %edx, 4(%ebx, %ecx, 8)
    inc     %ecx
    cmp     $PD_ENTRIES, %ecx
    jne     3b
    lea     boot_pdpt_high(%esi), %ebx
    lea     boot_pd_high(%esi), %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, KERNEL_WINDOW_PDPT_INDEX*8(%ebx)

    lea     boot_pml4(%esi), %ebx
    lea     boot_pdpt_low(%esi), %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, 0*8(%ebx)             /* identity, needed until we run high */
    mov     %eax, 256*8(%ebx)           /* direct map at 0xffff800000000000 */
    lea     boot_pdpt_high(%esi), %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, 511*8(%ebx)

    /* PAE, then EFER.LME and EFER.NXE, then paging. */
    mov     %cr4, %eax
    or      $(1 << 5), %eax
    mov     %eax, %cr4
    lea     boot_pml4(%esi), %eax
    mov     %eax, %cr3
    mov     $0xc0000080, %ecx
    rdmsr
    or      $((1 << 8) | (1 << 11)), %eax
    wrmsr
    mov     %cr0, %eax
    or      $((1 << 31) | (1 << 16) | 1), %eax   /* PG, WP, PE */
    mov     %eax, %cr0

    /* The GDT pointer and the far jump hold physical addresses: built on the kernel
       stack (zeroed BSS, identity mapped) with the delta applied. */
    lea     (kernel_stack_top - KERNEL_VMA)(%esi), %esp
    lea     boot_gdt(%esi), %eax
    push    %eax
    pushw   $(boot_gdt_end - boot_gdt - 1)
    lgdt    (%esp)
    lea     start64_low(%esi), %eax
    push    $0x08
    push    %eax
    lret

.Lnot_multiboot2:
    mov     $msg_not_multiboot2, %ebx
    jmp     fail32
.Lno_long_mode:
    lea     msg_no_long_mode(%esi), %ebx
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
boot_pd_high:   .skip 4096

    .text
start64_high:
    movabs  $kernel_stack_top, %rsp
    mov     %esi, %eax                  /* zero-extended: the upper halves are undefined */
    mov     %rax, boot_load_delta(%rip)
    /* kernel_main(magic, info_phys): %edi/%esi per the SysV ABI */
    mov     $MB2_BOOT_MAGIC, %edi
    mov     %ebp, %esi
    xor     %ebp, %ebp
    call    kernel_main
1:  cli
    hlt
    jmp     1b

    .section .data
    .balign 8
    /* Where the image runs minus where it is linked (paging::load_delta()). */
    .globl boot_load_delta
boot_load_delta: .quad 0

    .section .bss
    .balign 4096
    /* Left unmapped by the final page tables, so an overflow faults instead of
       silently overwriting whatever lies below the stack. */
    .globl kernel_stack_guard
kernel_stack_guard: .skip 4096
kernel_stack:   .skip 32 * 1024
kernel_stack_top:
