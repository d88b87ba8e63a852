// SPDX-License-Identifier: MIT
/* Constants shared by the guest runtime's assembly and C++ (preprocessor only). */
#pragma once

/* Segment selectors of the runtime's GDT (lib/start.S). */
#define GUEST_KERNEL_CS   0x08
#define GUEST_KERNEL_DS   0x10
#define GUEST_USER_DS     0x18 /* DPL 3, used only by the CPL 3 excursion */
#define GUEST_USER_CS     0x20
#define GUEST_TSS         0x28 /* 16-byte descriptor, filled in by interrupts.cpp */
#define GUEST_GDT_ENTRIES 7

/* BATON_START_INFO_MAGIC in two halves, for the 32-bit entry (checked against the
   ABI header by a static_assert in runtime.cpp). */
#define GUEST_START_MAGIC_LOW  0x4274696e
#define GUEST_START_MAGIC_HIGH 0x6e6f7461

/* The gate a CPL 3 excursion returns through (lib/user_mode.S); DPL 3. */
#define GUEST_CPL3_RETURN_VECTOR 0x81

#define GUEST_STACK_SIZE      0x8000 /* the main stack */
#define GUEST_TRAP_STACK_SIZE 0x2000 /* IST stack (#DF, NMI, #MC) and the CPL 0 stack of CPL 3 */
