// SPDX-License-Identifier: MIT
// Loading a guest ELF image into a new domain's RAM and writing its start info.
#include "dom/loader.hpp"
#include "abi/errno.h"
#include "abi/hypercall.h"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "lib/elf.hpp"
#include "lib/format.hpp"

int load_elf_segments(Domain &domain, const void *image, const ElfImage &elf, char *why, usize why_capacity)
{
    const u8 *bytes = static_cast<const u8 *>(image);
    for (usize i = 0; i < elf.segment_count; i++) {
        const ElfSegment &s = elf.segments[i];
        int error = copy_to_guest(domain.p2m, s.physical_address, bytes + s.file_offset, s.file_size);
        if (error == 0)
            error = zero_guest(domain.p2m, s.physical_address + s.file_size, s.memory_size - s.file_size);
        if (error != 0) {
            format(why, why_capacity, "cannot write segment %zu at 0x%lx into guest RAM", i, s.physical_address);
            return error;
        }
    }
    return 0;
}

int load_guest_image(Domain &domain, const void *image, u64 size, const char *command_line, u32 &entry, char *why,
                     usize why_capacity)
{
    ElfImage elf;
    if (int error = elf_parse(image, size, elf, why, why_capacity))
        return error;
    // The start-info page must stay free for the hypervisor to write.
    constexpr u64 lowest_allowed = BATON_START_INFO_GPA + PAGE_SIZE;
    if (elf.lowest_address < lowest_allowed || elf.highest_address > domain.ram_bytes) {
        format(why, why_capacity, "guest image spans 0x%lx-0x%lx, outside the domain's RAM 0x%lx-0x%lx",
               elf.lowest_address, elf.highest_address, lowest_allowed, domain.ram_bytes);
        return -BATON_EINVAL;
    }
    if (elf.entry > 0xffffffff) {
        format(why, why_capacity, "guest entry point 0x%lx is above 4 GiB; it must be 32-bit", elf.entry);
        return -BATON_EINVAL;
    }

    if (int error = load_elf_segments(domain, image, elf, why, why_capacity))
        return error;

    baton_start_info info{};
    info.magic = BATON_START_INFO_MAGIC;
    info.version = 1;
    info.domid = domain.id;
    info.ram_bytes = domain.ram_bytes;
    info.free_gfn_start = align_up(elf.highest_address, PAGE_SIZE) >> PAGE_SHIFT;
    usize length = 0;
    while (command_line && command_line[length])
        length++;
    constexpr u64 command_line_gpa = BATON_START_INFO_GPA + sizeof(baton_start_info);
    if (length + 1 > PAGE_SIZE - sizeof(baton_start_info)) {
        format(why, why_capacity, "guest command line of %zu bytes does not fit its page", length);
        return -BATON_E2BIG;
    }
    info.cmdline_gpa = command_line_gpa;
    const char nul = '\0';
    if (copy_to_guest(domain.p2m, BATON_START_INFO_GPA, &info, sizeof(info)) != 0 ||
        copy_to_guest(domain.p2m, command_line_gpa, command_line ? command_line : &nul, length) != 0 ||
        copy_to_guest(domain.p2m, command_line_gpa + length, &nul, 1) != 0) {
        format(why, why_capacity, "cannot write the start info into guest RAM");
        return -BATON_EFAULT;
    }
    entry = static_cast<u32>(elf.entry);
    return 0;
}
