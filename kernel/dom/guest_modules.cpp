// SPDX-License-Identifier: MIT
// Guest images that arrived as multiboot2 modules, found by name, and their options.
#include "dom/guest_modules.hpp"
#include "abi/errno.h"
#include "abi/image_note.h"
#include "boot/cmdline.hpp"
#include "lib/elf.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "mm/phys.hpp"

namespace {

GuestModule modules[MAX_GUEST_MODULES];
usize module_count;

bool word_equals(const char *word, usize length, const char *text)
{
    usize i = 0;
    for (; i < length && text[i]; i++) {
        if (word[i] != text[i])
            return false;
    }
    return i == length && text[i] == '\0';
}

bool copy_word(char (&to)[DOMAIN_NAME_SIZE], const char *word, usize length)
{
    if (length == 0 || length >= DOMAIN_NAME_SIZE)
        return false;
    for (usize i = 0; i < length; i++) {
        char c = word[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
        to[i] = c;
    }
    to[length] = '\0';
    return true;
}

} // namespace

int parse_guest_module(const BootModule &module, GuestModule &out, char *why, usize why_capacity)
{
    out = GuestModule{};
    out.range = module.range;
    out.string = module.string;
    const char *p = module.string;
    bool first = true;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *word = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        usize length = static_cast<usize>(p - word);
        if (length == 0)
            break;
        if (first) {
            if (!copy_word(out.module_name, word, length))
                return format(why, why_capacity, "module name '%.*s' must be 1-31 letters, digits, '-' or '_'",
                              static_cast<int>(length), word),
                       -BATON_EINVAL;
            first = false;
        } else if (word_equals(word, length, "--")) {
            while (*p == ' ' || *p == '\t')
                p++;
            out.kernel_command_line = p;
            break;
        } else if (word_equals(word, length, "kind=pc")) {
            out.kind = GuestKind::pc;
        } else if (word_equals(word, length, "kind=baton")) {
            out.kind = GuestKind::baton;
        } else if (length > 5 && word_equals(word, 5, "kind=")) {
            return format(why, why_capacity, "'%.*s': a guest kind is baton or pc", static_cast<int>(length), word),
                   -BATON_EINVAL;
        } else if (length > 7 && word_equals(word, 7, "initrd=")) {
            if (!copy_word(out.initrd_module, word + 7, length - 7))
                return format(why, why_capacity, "bad module name in '%.*s'", static_cast<int>(length), word),
                       -BATON_EINVAL;
        } else if (word_equals(word, length, "start")) {
            out.start_at_boot = true;
        } else if (length > 5 && word_equals(word, 5, "name=")) {
            if (!copy_word(out.domain_name, word + 5, length - 5))
                return format(why, why_capacity, "bad domain name in '%.*s'", static_cast<int>(length), word),
                       -BATON_EINVAL;
        } else if (length > 4 && word_equals(word, 4, "ram=")) {
            if (!parse_cmdline_number(word + 4, length - 4, out.ram_bytes) || out.ram_bytes < DOMAIN_MIN_RAM ||
                out.ram_bytes > DOMAIN_MAX_RAM || !is_aligned(out.ram_bytes, PAGE_SIZE))
                return format(why, why_capacity, "'%.*s': RAM must be 4M..4G in whole pages", static_cast<int>(length),
                              word),
                       -BATON_EINVAL;
        } else if (length > 6 && word_equals(word, 6, "vcpus=")) {
            u64 count = 0;
            if (!parse_cmdline_number(word + 6, length - 6, count) || count < 1 || count > MAX_VCPUS)
                return format(why, why_capacity, "'%.*s': a domain has 1 to %u vCPUs", static_cast<int>(length), word,
                              MAX_VCPUS),
                       -BATON_EINVAL;
            out.vcpus = static_cast<u16>(count);
        } else if (length > 7 && word_equals(word, 7, "assign=")) {
            if (!parse_pci_address(word + 7, length - 7, out.device))
                return format(why, why_capacity, "'%.*s': a device is BB:DD.F in hex, as lspci prints it",
                              static_cast<int>(length), word),
                       -BATON_EINVAL;
            out.assigns_device = true;
        }
        // Any other word is for the guest, which receives the whole string.
    }
    if (first)
        return format(why, why_capacity, "module without a name (the string must start with one)"), -BATON_EINVAL;
    if (out.initrd_module[0] != '\0' && out.kind != GuestKind::pc)
        return format(why, why_capacity, "initrd= is for kind=pc guests"), -BATON_EINVAL;
    if (out.vcpus != 1 && out.kind == GuestKind::pc)
        return format(why, why_capacity, "vcpus=%u: a kind=pc guest has exactly one vCPU for now", out.vcpus),
               -BATON_EINVAL;
    if (out.domain_name[0] == '\0')
        copy_word(out.domain_name, out.module_name, __builtin_strlen(out.module_name));
    return 0;
}

const GuestModule *find_guest_module(const char *module_name)
{
    for (usize i = 0; i < module_count; i++) {
        if (word_equals(module_name, __builtin_strlen(module_name), modules[i].module_name))
            return &modules[i];
    }
    return nullptr;
}

int create_domain_from_module(const GuestModule &module, const char *name, u64 ram_bytes, char *why, usize why_capacity,
                              const pci::Address *device, u16 vcpus)
{
    DomainConfig config;
    config.name = name != nullptr ? name : module.domain_name;
    config.ram_bytes = ram_bytes != 0 ? ram_bytes : module.ram_bytes;
    config.image = phys_to_virt(module.range.start);
    config.image_size = module.range.size();
    config.command_line = module.string;
    config.kind = module.kind;
    config.vcpus = vcpus != 0 ? vcpus : module.vcpus;
    if (module.kind == GuestKind::pc) {
        config.command_line = module.kernel_command_line;
        if (module.initrd_module[0] != '\0') {
            const GuestModule *initrd = find_guest_module(module.initrd_module);
            if (initrd == nullptr)
                return format(why, why_capacity, "no module named '%s' for the initramfs", module.initrd_module),
                       -BATON_ENOENT;
            config.initrd = phys_to_virt(initrd->range.start);
            config.initrd_size = initrd->range.size();
        }
    }
    const int id = domain_create(config, why, why_capacity);
    if (device == nullptr && module.assigns_device)
        device = &module.device;
    if (id < 0 || device == nullptr)
        return id;
    // The guest has not run yet: the scheduler runs it only after this returns.
    if (int error = domain_assign_device(*domain_find(static_cast<u64>(id)), *device, why, why_capacity)) {
        // The domain exists (just created) and nothing else knows it: destroying cannot fail.
        (void)domain_destroy(static_cast<u16>(id));
        return error;
    }
    return id;
}

void register_boot_modules(const BootInfo &boot_info)
{
    module_count = 0;
    for (usize i = 0; i < boot_info.module_count && module_count < MAX_GUEST_MODULES; i++) {
        char why[DOMAIN_MESSAGE_SIZE];
        GuestModule &module = modules[module_count];
        const BootModule &boot_module = boot_info.modules[i];
        u32 note_size = 0;
        if (elf_find_note(phys_to<u8>(boot_module.range.start), boot_module.range.size(), BATON_IMAGE_NOTE_OWNER,
                          BATON_IMAGE_NOTE_TYPE, note_size) != nullptr) {
            log_info("boot: module '%s' is a hypervisor image (for live updates and rollbacks), not a guest",
                     boot_module.string);
            continue;
        }
        if (parse_guest_module(boot_module, module, why, sizeof(why)) != 0) {
            log_error("boot: module %zu ('%s') ignored: %s", i, boot_info.modules[i].string, why);
            continue;
        }
        // One image may back many domains: a repeated name is another module line for
        // it (other options), and `create NAME` takes the first.
        const bool repeated = find_guest_module(module.module_name) != nullptr;
        module_count++;
        log_info("boot: guest module '%s' (%lu KiB)%s%s", module.module_name, module.range.size() / KiB,
                 repeated ? ", again (create uses the first)" : "", module.start_at_boot ? ", start" : "");
    }
}

usize start_boot_guests()
{
    usize started = 0;
    for (usize i = 0; i < module_count; i++) {
        const GuestModule &module = modules[i];
        if (!module.start_at_boot)
            continue;
        char why[DOMAIN_MESSAGE_SIZE];
        int id = create_domain_from_module(module, nullptr, 0, why, sizeof(why));
        if (id < 0)
            log_error("boot: cannot start '%s' as '%s': %s", module.module_name, module.domain_name, why);
        else
            started++;
    }
    return started;
}
