// SPDX-License-Identifier: MIT
// Filtered PCI configuration space for guests: identity, command, BARs; nothing else.
#include "arch/x86_64/pci/guest_pci.hpp"
#include "arch/x86_64/iommu/iommu_assign.hpp"
#include "dom/domain.hpp"

namespace guest_pci {

namespace {

// The address latch each domain last wrote to 0xCF8 (ids 1..MAX_DOMAINS).
u32 config_address[MAX_DOMAINS + 1];

constexpr u32 ENABLE = 1u << 31;
constexpr u16 GUEST_COMMAND_BITS = pci::COMMAND_MEMORY | pci::COMMAND_BUS_MASTER;
constexpr u16 CONFIG_CLASS = 0x08, CONFIG_BAR5_END = 0x28, CONFIG_SUBSYSTEM = 0x2c, CONFIG_HEADER_END = 0x40;
constexpr u32 STATUS_CAPABILITIES = 1u << 20; // in the command/status dword

pci::Address address_of(u32 latch)
{
    return {static_cast<u8>(latch >> 16), static_cast<u8>((latch >> 11) & 0x1f), static_cast<u8>((latch >> 8) & 7)};
}

// The dword at `offset` (aligned) as the guest sees it.
u32 read_dword(const iommu::Assignment &a, u16 offset)
{
    const u32 real = pci::read32(a.device, offset);
    if (offset < CONFIG_CLASS) {
        if (offset != pci::CONFIG_COMMAND)
            return real; // vendor and device ids
        // Command: what the guest set; status: the device's, without a capability list
        // (MSI and power management are not the guest's to drive).
        return (real & 0xffff0000 & ~STATUS_CAPABILITIES) | a.guest_command;
    }
    if (offset < pci::CONFIG_BAR0)
        return real; // class, revision, header type, cache line, latency
    if (offset < CONFIG_BAR5_END) {
        const unsigned slot = (offset - pci::CONFIG_BAR0) / 4u;
        const pci::Device *device = pci::find(a.device);
        if (device == nullptr || slot >= device->bar_slots)
            return 0;
        if ((a.bars_sizing >> slot & 1) == 0)
            return real; // host-physical = guest-physical: the BAR is mapped where it is
        // Sizing: the mask of the BAR this slot belongs to (or the upper half of a 64-bit one).
        const bool upper = slot > 0 && device->bars[slot - 1].wide && device->bars[slot].size == 0;
        const pci::Bar &bar = upper ? device->bars[slot - 1] : device->bars[slot];
        if (bar.size == 0)
            return 0;
        const u64 mask = ~(bar.size - 1);
        return upper ? static_cast<u32>(mask >> 32) : (static_cast<u32>(mask) & ~0xfu) | (real & 0xf);
    }
    if (offset == CONFIG_SUBSYSTEM)
        return real;
    return 0; // CardBus, expansion ROM, capability pointer, interrupt line/pin, the rest
}

void write_dword_part(iommu::Assignment &a, u16 offset, unsigned shift, unsigned size, u32 value)
{
    if (offset == pci::CONFIG_COMMAND && shift < 16) {
        // Only Memory and Bus Master reach the device; status bits are not the guest's.
        const u16 bits = static_cast<u16>((value << shift) & GUEST_COMMAND_BITS);
        const u16 kept = shift == 0 ? 0 : static_cast<u16>(a.guest_command & 0xff);
        a.guest_command = static_cast<u16>(bits | (kept & GUEST_COMMAND_BITS));
        const u16 host = pci::read16(a.device, pci::CONFIG_COMMAND);
        pci::write16(a.device, pci::CONFIG_COMMAND, static_cast<u16>((host & ~GUEST_COMMAND_BITS) | a.guest_command));
        return;
    }
    if (offset >= pci::CONFIG_BAR0 && offset < CONFIG_BAR5_END && size == 4) {
        // The BAR never moves (the p2m maps it at the host address); writing all ones
        // asks for its size, anything else ends the sizing.
        const unsigned slot = (offset - pci::CONFIG_BAR0) / 4u;
        if (value == 0xffffffff)
            a.bars_sizing = static_cast<u8>(a.bars_sizing | 1u << slot);
        else
            a.bars_sizing = static_cast<u8>(a.bars_sizing & ~(1u << slot));
    }
    // Every other write is ignored.
}

} // namespace

void access(Domain &domain, u16 port, unsigned size, bool in, u32 &value)
{
    u32 &latch = config_address[domain.id <= MAX_DOMAINS ? domain.id : 0];
    const u32 ones = size == 4 ? 0xffffffff : (1u << (8 * size)) - 1;
    if (port == CONFIG_ADDRESS_PORT) {
        if (size != 4) {
            if (in)
                value = ones;
            return;
        }
        if (in)
            value = latch;
        else
            latch = value;
        return;
    }
    iommu::Assignment *a = (latch & ENABLE) != 0 ? iommu::find_assignment(address_of(latch)) : nullptr;
    if (a != nullptr && a->domain != domain.id)
        a = nullptr;
    const u16 offset = static_cast<u16>((latch & 0xfc) + (port - CONFIG_DATA_FIRST));
    const u16 dword = offset & 0xfc;
    const unsigned shift = 8 * (offset & 3);
    if (in) {
        value = a == nullptr || dword >= CONFIG_HEADER_END ? ones : (read_dword(*a, dword) >> shift) & ones;
        return;
    }
    if (a != nullptr && dword < CONFIG_HEADER_END)
        write_dword_part(*a, dword, shift, size, value & ones);
}

} // namespace guest_pci
