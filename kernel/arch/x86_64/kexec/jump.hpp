// SPDX-License-Identifier: MIT
// One jump into an image as a multiboot2 loader would make it: what kexec and the way back share.
#pragma once
#include "arch/x86_64/kexec/kexec.hpp"

// Where a jump's pieces go, all below 4 GiB: the trampoline code (one page), its
// parameters (half a page) and the next image's boot information.
struct JumpPlace {
    u64 trampoline = 0;
    u64 params = 0;
    u64 info = 0;
    u64 info_size = 0;
};

// Writes the trampoline, the segment list of request.image_phys's ELF (at its ELF
// addresses plus request.load_delta; none to copy when request.placed), the entry (plus
// the delta) and the boot information (this machine's memory map and modules,
// request.options with the bootmem region fixed) at `place`. Checks nothing about where
// the segments land: the caller has.
[[nodiscard]] int write_jump(const JumpPlace &place, const KexecRequest &request, char *why, usize why_capacity);

// With interrupts and SVM off: loads an IDT that makes any exception a clean triple
// fault, switches to `page_table_root` (which must map this code where it runs and the
// place one to one) and runs the trampoline. Does not return.
[[noreturn]] void enter_jump(u64 page_table_root, const JumpPlace &place);
