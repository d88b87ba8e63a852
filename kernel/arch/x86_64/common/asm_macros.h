/* SPDX-License-Identifier: MIT */
/* Assembler macros the hypervisor's and the test guests' start-up code share. */
#pragma once

/* In 64-bit mode after the far jump: flat data segments from `selector`, FS and GS null
   (their bases come from MSRs when anyone needs them). Clobbers %eax. */
.macro LOAD_FLAT_DATA_SEGMENTS selector mov $\selector, % eax mov % eax, % ds mov % eax, % es mov % eax, % ss xor % eax,
    % eax mov % eax, % fs mov % eax, % gs.endm
