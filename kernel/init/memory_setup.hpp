// SPDX-License-Identifier: MIT
// Bringing up memory at boot: allocator, final page tables, frame table, report.
#pragma once
#include "boot/boot_info.hpp"
#include "boot/cmdline.hpp"
#include "update/incoming.hpp"

// Panics with the reason if memory cannot be set up. On a live-update boot (lu_record=)
// the boot allocator stays in the bootmem region until the record has been checked and
// its preserved frames marked; `incoming` says whether it could be (and why not).
void setup_memory(const BootInfo &boot_info, const KernelOptions &options, IncomingRecord &incoming);
