// SPDX-License-Identifier: MIT
// PCI configuration access (mechanism #1) and the scan of bus 0 with BAR sizing.
#include "arch/x86_64/pci/pci.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

namespace pci {

namespace {

constexpr u16 CONFIG_ADDRESS_PORT = 0xcf8, CONFIG_DATA_PORT = 0xcfc;
constexpr usize MAX_DEVICES = 64;

Device devices[MAX_DEVICES];
usize devices_found;

u32 config_address(Address address, u16 offset)
{
    return 1u << 31 | u32{address.bus} << 16 | u32{address.device & 0x1fu} << 11 | u32{address.function & 7u} << 8 |
           (offset & 0xfcu);
}

// Sizes BAR `slot`: writes all ones, reads back the writable bits, restores the value.
// Returns the slots it used (2 for a 64-bit BAR).
unsigned size_bar(Address address, unsigned slot, Bar &bar)
{
    const u16 offset = static_cast<u16>(CONFIG_BAR0 + 4 * slot);
    const u32 original = read32(address, offset);
    write32(address, offset, 0xffffffff);
    const u32 mask = read32(address, offset);
    write32(address, offset, original);
    bar = {};
    if ((original & 1) != 0) {
        bar.io = true;
        bar.base = original & ~u32{3};
        const u32 size_mask = (mask & ~u32{3}) | 0xffff0000; // IO BARs decode 16 bits
        bar.size = mask == 0 ? 0 : u64{~size_mask + 1};
        return 1;
    }
    bar.prefetchable = (original & 8) != 0;
    bar.wide = ((original >> 1) & 3) == 2;
    u64 base = original & ~u32{0xf};
    u64 size_mask = 0xffffffff00000000 | (mask & ~u32{0xf});
    if (bar.wide && slot + 1 < MAX_BARS) {
        const u16 high = static_cast<u16>(offset + 4);
        const u32 original_high = read32(address, high);
        write32(address, high, 0xffffffff);
        const u32 mask_high = read32(address, high);
        write32(address, high, original_high);
        base |= u64{original_high} << 32;
        size_mask = u64{mask_high} << 32 | (mask & ~u32{0xf});
    }
    bar.base = base;
    bar.size = (mask & ~u32{0xf}) == 0 && !bar.wide ? 0 : ~size_mask + 1;
    return bar.wide ? 2 : 1;
}

void log_device(const Device &found)
{
    char bars[256] = {};
    usize used = 0;
    for (unsigned i = 0; i < found.bar_slots; i++) {
        const Bar &bar = found.bars[i];
        if (bar.size == 0)
            continue;
        char size[24];
        format_size(size, sizeof(size), bar.size);
        used += format(bars + used, sizeof(bars) - used, " bar%u=%s:0x%lx+%s", i,
                       bar.io     ? "io"
                       : bar.wide ? "mem64"
                                  : "mem32",
                       bar.base, size);
        if (used >= sizeof(bars))
            break;
    }
    log_info("pci: %02x:%02x.%u %04x:%04x class %06x (%s)%s", found.address.bus, found.address.device,
             found.address.function, found.vendor, found.device_id, found.class_code, class_name(found.class_code),
             bars);
}

void size_device(Device &found)
{
    const Address address = found.address;
    // Sizing writes the BARs: the device must not decode half-written addresses.
    const u16 command = read16(address, CONFIG_COMMAND);
    if (found.bar_slots != 0)
        write16(address, CONFIG_COMMAND, command & static_cast<u16>(~(COMMAND_IO | COMMAND_MEMORY)));
    for (unsigned slot = 0; slot < found.bar_slots;)
        slot += size_bar(address, slot, found.bars[slot]);
    if (found.bar_slots != 0)
        write16(address, CONFIG_COMMAND, command);
    found.sized = true;
    log_device(found);
}

void add_function(Address address, BarSizing sizing)
{
    if (devices_found == MAX_DEVICES) {
        log_warn("pci: more than %zu functions on bus 0; %02x:%02x.%u and later are not listed", MAX_DEVICES,
                 address.bus, address.device, address.function);
        return;
    }
    Device &found = devices[devices_found++];
    found = {};
    found.address = address;
    found.vendor = read16(address, CONFIG_VENDOR);
    found.device_id = read16(address, CONFIG_DEVICE);
    const u32 class_revision = read32(address, CONFIG_REVISION);
    found.revision = static_cast<u8>(class_revision);
    found.class_code = class_revision >> 8;
    found.header_type = read8(address, CONFIG_HEADER_TYPE);
    found.bar_slots = (found.header_type & 0x7f) == 0 ? 6 : (found.header_type & 0x7f) == 1 ? 2 : 0;
    // Bridges are not sized: switching off the decoding of the host or LPC bridge, even
    // briefly, could cut off the legacy ports (the console UART) behind it.
    if ((found.class_code >> 16) == 0x06)
        found.bar_slots = 0;
    if (sizing == BarSizing::now)
        size_device(found);
}

} // namespace

u32 read32(Address address, u16 offset)
{
    cpu::outl(CONFIG_ADDRESS_PORT, config_address(address, offset));
    return cpu::inl(CONFIG_DATA_PORT);
}

u16 read16(Address address, u16 offset) { return static_cast<u16>(read32(address, offset) >> (8 * (offset & 2))); }
u8 read8(Address address, u16 offset) { return static_cast<u8>(read32(address, offset) >> (8 * (offset & 3))); }

void write32(Address address, u16 offset, u32 value)
{
    cpu::outl(CONFIG_ADDRESS_PORT, config_address(address, offset));
    cpu::outl(CONFIG_DATA_PORT, value);
}

void write16(Address address, u16 offset, u16 value)
{
    cpu::outl(CONFIG_ADDRESS_PORT, config_address(address, offset));
    cpu::outw(static_cast<u16>(CONFIG_DATA_PORT + (offset & 2)), value);
}

const char *class_name(u32 class_code)
{
    switch (class_code >> 16) {
    case 0x00: return "unclassified";
    case 0x01: return "storage";
    case 0x02: return "network";
    case 0x03: return "display";
    case 0x04: return "multimedia";
    case 0x05: return "memory";
    case 0x06: return "bridge";
    case 0x07: return "communication";
    case 0x08: return "system";
    case 0x09: return "input";
    case 0x0c: return "serial-bus";
    default: return "other";
    }
}

void enumerate_bus0(BarSizing sizing)
{
    devices_found = 0;
    for (u8 slot = 0; slot < 32; slot++) {
        const Address first{0, slot, 0};
        if (read16(first, CONFIG_VENDOR) == NO_VENDOR)
            continue;
        add_function(first, sizing);
        if ((read8(first, CONFIG_HEADER_TYPE) & 0x80) == 0)
            continue; // single-function device
        for (u8 function = 1; function < 8; function++)
            if (const Address address{0, slot, function}; read16(address, CONFIG_VENDOR) != NO_VENDOR)
                add_function(address, sizing);
    }
    if (sizing == BarSizing::now)
        log_info("pci: %zu functions on bus 0", devices_found);
    else
        log_info("pci: %zu functions on bus 0; their BARs are sized once the guests run again", devices_found);
}

bool size_bars(Address address)
{
    for (usize i = 0; i < devices_found; i++) {
        if (devices[i].address != address)
            continue;
        if (!devices[i].sized)
            size_device(devices[i]);
        return true;
    }
    return false;
}

usize size_remaining_bars(usize at_most)
{
    usize sized = 0;
    for (usize i = 0; i < devices_found && sized < at_most; i++) {
        if (!devices[i].sized) {
            size_device(devices[i]);
            sized++;
        }
    }
    return sized;
}

usize device_count() { return devices_found; }
const Device &device(usize index) { return devices[index]; }

const Device *find(Address address)
{
    for (usize i = 0; i < devices_found; i++)
        if (devices[i].address == address)
            return &devices[i];
    return nullptr;
}

} // namespace pci
