// SPDX-License-Identifier: MIT
// Guest images that arrived as multiboot2 modules, found by name, and their options.
#pragma once
#include "boot/boot_info.hpp"
#include "dom/device_assign.hpp"
#include "dom/domain.hpp"

// A module string reads `NAME [start] [name=DOMAIN-NAME] [ram=SIZE] [vcpus=N] [assign=BB:DD.F]
// [kind=baton|pc] [initrd=MODULE] [-- KERNEL COMMAND LINE]`: NAME is how the control
// channel's `create` refers to the image, `start` creates a domain at boot, and the rest
// are that domain's defaults (assign: a PCI device given to it, docs/iommu.md). A Baton
// guest receives the whole string. `kind=pc` runs an unmodified Linux vmlinux on the
// emulated PC (docs/guest-platform.md): `initrd=` names the module holding its
// initramfs, and what follows `--` is its kernel command line.
struct GuestModule {
    char module_name[DOMAIN_NAME_SIZE] = {};
    char domain_name[DOMAIN_NAME_SIZE] = {};
    u64 ram_bytes = 16 * MiB;
    u16 vcpus = 1; // 1..MAX_VCPUS (docs/vcpus.md); a kind=pc guest has 1
    bool start_at_boot = false;
    GuestKind kind = GuestKind::baton;
    char initrd_module[DOMAIN_NAME_SIZE] = {}; // empty: none
    const char *kernel_command_line = ""; // after `--`
    bool assigns_device = false;
    pci::Address device;
    PhysRange range;
    const char *string = "";
};

inline constexpr usize MAX_GUEST_MODULES = 16;

// Reads the options of one module string. Returns 0, or -BATON_EINVAL with the reason.
[[nodiscard]] int parse_guest_module(const BootModule &module, GuestModule &out, char *why, usize why_capacity);

// Registers every boot module, reporting the ones with bad strings. Every boot does
// this, a live-update boot too: the previous image passes its modules on, so `create`
// works after any number of updates. Two modules may share a name (one image, several
// domains); find_guest_module() returns the first.
void register_boot_modules(const BootInfo &boot_info);

// Creates the domains of the registered modules marked `start` (first boot only).
// Returns how many domains were started.
usize start_boot_guests();

const GuestModule *find_guest_module(const char *module_name);
// Creates a domain from a registered module; name/ram/vcpus of 0 take the module's defaults.
// `device` (else the module's assign=) is assigned before the guest runs; if that fails
// the domain is destroyed again and the error is the assignment's.
[[nodiscard]] int create_domain_from_module(const GuestModule &module, const char *name, u64 ram_bytes, char *why,
                                            usize why_capacity, const pci::Address *device = nullptr, u16 vcpus = 0);
