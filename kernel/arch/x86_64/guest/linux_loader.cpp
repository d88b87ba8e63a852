// SPDX-License-Identifier: MIT
// Loading an unmodified Linux kernel into a domain through its PVH entry.
#include "arch/x86_64/guest/linux_loader.hpp"
#include "abi/errno.h"
#include "arch/x86_64/platform/mp_table.hpp"
#include "arch/x86_64/platform/pc_layout.hpp"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "dom/loader.hpp"
#include "lib/elf.hpp"
#include "lib/format.hpp"

namespace {

constexpr usize LINUX_COMMAND_LINE_MAX = 2047; // COMMAND_LINE_SIZE 2048 with its NUL
constexpr u64 BZIMAGE_HEADER_MAGIC_OFFSET = 0x202; // "HdrS" of the x86 boot protocol
constexpr u32 BZIMAGE_HEADER_MAGIC = 0x53726448;

bool looks_like_bzimage(const void *image, u64 size)
{
    if (size < BZIMAGE_HEADER_MAGIC_OFFSET + 4)
        return false;
    u32 magic = 0;
    __builtin_memcpy(&magic, static_cast<const u8 *>(image) + BZIMAGE_HEADER_MAGIC_OFFSET, sizeof(magic));
    return magic == BZIMAGE_HEADER_MAGIC;
}

bool contains(const char *text, const char *word)
{
    for (; *text != '\0'; text++) {
        usize i = 0;
        while (word[i] != '\0' && text[i] == word[i])
            i++;
        if (word[i] == '\0')
            return true;
    }
    return false;
}

int write(Domain &domain, u64 gpa, const void *bytes, u64 length, const char *what, char *why, usize why_capacity)
{
    if (copy_to_guest(domain.p2m, gpa, bytes, length) != 0) {
        format(why, why_capacity, "cannot write the %s at 0x%lx into guest RAM", what, gpa);
        return -BATON_EFAULT;
    }
    return 0;
}

} // namespace

int load_linux_pvh(Domain &domain, const LinuxImages &images, u32 &entry, u32 &start_info, char *why,
                   usize why_capacity)
{
    const u64 ram = domain.ram_bytes;
    if (ram < 2 * MiB || ram > pc_layout::RAM_LIMIT)
        return format(why, why_capacity, "a PC domain's RAM must lie between 2 MiB and 0x%lx", pc_layout::RAM_LIMIT),
               -BATON_EINVAL;
    if (looks_like_bzimage(images.kernel, images.kernel_size))
        return format(why, why_capacity,
                      "this is a bzImage; Baton enters Linux through PVH: give it the vmlinux ELF inside "
                      "(make linux-guest LINUX_KERNEL=bzImage extracts it, docs/guest-platform.md)"),
               -BATON_EINVAL;
    ElfImage elf;
    if (int error = elf_parse(images.kernel, images.kernel_size, elf, why, why_capacity))
        return error;
    u32 note_size = 0;
    const void *note =
        elf_find_note(images.kernel, images.kernel_size, pvh::NOTE_OWNER, pvh::NOTE_PHYS32_ENTRY, note_size);
    if (note == nullptr || (note_size != 4 && note_size != 8))
        return format(why, why_capacity,
                      "the kernel has no PVH entry (ELF note Xen/PHYS32_ENTRY); build it with CONFIG_PVH=y"),
               -BATON_EINVAL;
    u64 pvh_entry = 0;
    __builtin_memcpy(&pvh_entry, note, note_size);
    if (elf.lowest_address < pc_layout::KERNEL_RAM || elf.highest_address > ram)
        return format(why, why_capacity, "the kernel spans 0x%lx-0x%lx, outside the domain's RAM 0x%lx-0x%lx",
                      elf.lowest_address, elf.highest_address, pc_layout::KERNEL_RAM, ram),
               -BATON_EINVAL;
    if (pvh_entry < elf.lowest_address || pvh_entry >= elf.highest_address)
        return format(why, why_capacity, "the PVH entry 0x%lx lies outside the kernel", pvh_entry), -BATON_EINVAL;
    // The command line goes in as given, then what Baton adds to it.
    const char *given = images.command_line != nullptr ? images.command_line : "";
    const usize given_length = __builtin_strlen(given);
    char added[40] = {};
    if (images.tsc_khz != 0 && !contains(given, "tsc_early_khz="))
        (void)format(added, sizeof(added), "%stsc_early_khz=%lu", given_length != 0 ? " " : "", images.tsc_khz);
    const usize added_length = __builtin_strlen(added);
    const usize command_length = given_length + added_length;
    if (command_length > LINUX_COMMAND_LINE_MAX)
        return format(why, why_capacity, "kernel command line of %zu bytes; Linux takes at most %zu", command_length,
                      LINUX_COMMAND_LINE_MAX),
               -BATON_E2BIG;
    // The initramfs goes to the top of RAM, page aligned, clear of the kernel.
    const u64 initrd_gpa =
        images.initrd_size != 0 && images.initrd_size < ram ? align_down(ram - images.initrd_size, PAGE_SIZE) : 0;
    if (images.initrd_size != 0 && initrd_gpa < align_up(elf.highest_address, PAGE_SIZE))
        return format(why, why_capacity, "the initramfs (%lu KiB) does not fit above the kernel in %lu MiB of RAM",
                      images.initrd_size / KiB, ram / MiB),
               -BATON_ENOSPC;

    if (int error = load_elf_segments(domain, images.kernel, elf, why, why_capacity))
        return error;
    if (images.initrd_size != 0) {
        if (int error = write(domain, initrd_gpa, images.initrd, images.initrd_size, "initramfs", why, why_capacity))
            return error;
    }

    // The start-info page: StartInfo, then the module list, then the memory map.
    struct BootPage {
        pvh::StartInfo info;
        pvh::ModuleEntry module;
        pvh::MemmapEntry map[pc_layout::MEMMAP_ENTRIES];
    } page{};
    static_assert(sizeof(BootPage) <= PAGE_SIZE);
    constexpr u64 module_gpa = pc_layout::START_INFO_GPA + __builtin_offsetof(BootPage, module);
    constexpr u64 map_gpa = pc_layout::START_INFO_GPA + __builtin_offsetof(BootPage, map);
    page.info.magic = pvh::START_INFO_MAGIC;
    page.info.version = pvh::START_INFO_VERSION;
    page.info.cmdline_paddr = pc_layout::CMDLINE_GPA;
    page.info.memmap_paddr = map_gpa;
    page.info.memmap_entries = pc_layout::MEMMAP_ENTRIES;
    if (images.initrd_size != 0) {
        page.info.module_count = 1;
        page.info.modlist_paddr = module_gpa;
        page.module = {initrd_gpa, images.initrd_size, pc_layout::MODULE_CMDLINE_GPA, 0};
    }
    pc_layout::memory_map(ram, page.map);

    u8 mp[mp_table::size_for(1)];
    const usize mp_size = mp_table::build({}, pc_layout::BIOS_AREA, mp, sizeof(mp));
    const char nul = '\0';
    if (mp_size == 0)
        return format(why, why_capacity, "cannot build the MP table"), -BATON_EINVAL;
    if (int error = write(domain, pc_layout::START_INFO_GPA, &page, sizeof(page), "start info", why, why_capacity))
        return error;
    if (int error = write(domain, pc_layout::CMDLINE_GPA, given, given_length, "command line", why, why_capacity))
        return error;
    if (int error = write(domain, pc_layout::CMDLINE_GPA + given_length, added, added_length, "command line", why,
                          why_capacity))
        return error;
    if (int error = write(domain, pc_layout::CMDLINE_GPA + command_length, &nul, 1, "command line", why, why_capacity))
        return error;
    if (int error = write(domain, pc_layout::MODULE_CMDLINE_GPA, &nul, 1, "module string", why, why_capacity))
        return error;
    if (int error = write(domain, pc_layout::BIOS_AREA, mp, mp_size, "MP table", why, why_capacity))
        return error;
    entry = static_cast<u32>(pvh_entry);
    start_info = static_cast<u32>(pc_layout::START_INFO_GPA);
    return 0;
}
