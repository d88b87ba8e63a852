// Bringing up memory at boot: allocator, final page tables, frame table, report.
#pragma once
#include "boot_info.hpp"
#include "cmdline.hpp"

// Panics with the reason if memory cannot be set up.
void setup_memory(const BootInfo &boot_info, const KernelOptions &options);
