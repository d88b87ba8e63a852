/* SPDX-License-Identifier: MIT */
/* Multiboot2 header: asks the loader for a memory map and page-aligned modules. */
#define MB2_MAGIC 0xe85250d6
#define MB2_ARCH_I386 0

    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

    /* information request: command line (1), loader name (2), modules (3), mmap (6),
       ACPI old/new RSDP (14/15) */
    .balign 8
1:  .short 1, 1   /* flags 1: optional, so a loader lacking one tag still boots us */
    .long 2f - 1b
    .long 1, 2, 3, 6, 14, 15
2:
    /* module alignment: modules start on page boundaries */
    .balign 8
    .short 6, 0
    .long 8

    /* end tag */
    .balign 8
    .short 0, 0
    .long 8
mb2_header_end:
