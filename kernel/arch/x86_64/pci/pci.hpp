// SPDX-License-Identifier: MIT
// PCI configuration space through the legacy 0xCF8/0xCFC ports, and the devices of bus 0.
#pragma once
#include "lib/types.hpp"

namespace pci {

struct Address {
    u8 bus = 0;
    u8 device = 0; // 0-31
    u8 function = 0; // 0-7

    constexpr u8 devfn() const { return static_cast<u8>(device << 3 | function); }
    // The requester (source) id the device's DMA carries.
    constexpr u16 requester_id() const { return static_cast<u16>(bus << 8 | devfn()); }
    constexpr bool operator==(const Address &) const = default;
};

// Configuration registers this code reads.
inline constexpr u16 CONFIG_VENDOR = 0x00, CONFIG_DEVICE = 0x02, CONFIG_COMMAND = 0x04, CONFIG_STATUS = 0x06,
                     CONFIG_REVISION = 0x08, CONFIG_HEADER_TYPE = 0x0e, CONFIG_BAR0 = 0x10;
inline constexpr u16 COMMAND_IO = 1u << 0, COMMAND_MEMORY = 1u << 1, COMMAND_BUS_MASTER = 1u << 2;
inline constexpr u16 NO_VENDOR = 0xffff;

u32 read32(Address address, u16 offset);
u16 read16(Address address, u16 offset);
u8 read8(Address address, u16 offset);
void write32(Address address, u16 offset, u32 value);
void write16(Address address, u16 offset, u16 value);

struct Bar {
    u64 base = 0;
    u64 size = 0; // 0: not implemented
    bool io = false;
    bool wide = false; // 64-bit memory BAR (takes two slots)
    bool prefetchable = false;
};

inline constexpr usize MAX_BARS = 6;

struct Device {
    Address address;
    u16 vendor = 0;
    u16 device_id = 0;
    u32 class_code = 0; // class << 16 | subclass << 8 | programming interface
    u8 revision = 0;
    u8 header_type = 0; // low 7 bits: 0 device, 1 bridge
    Bar bars[MAX_BARS];
    u8 bar_slots = 0; // 6 for devices, 2 for bridges, 0 for bridges this code never sizes
    bool sized = false; // bars[] describe the device (false: not sized yet, all zero)
};

// A short name for the class byte ("bridge", "network", ...).
const char *class_name(u32 class_code);

// When the BARs are sized. Sizing writes them with decoding switched off, and under
// QEMU every such switch rebuilds the machine's memory map: about 12 ms for bus 0 of q35.
// After a live update that would sit in the blackout, so the scan only identifies the
// devices (reads only, under 0.5 ms) and the BARs are sized once the guests run again.
enum class BarSizing : u8 {
    now, // size every device while scanning and log it
    later, // identify only; size_bars() or size_remaining_bars() later
};

// Scans bus 0 (every device and function). Bridges are listed, not followed. With
// BarSizing::now logs one line per device.
void enumerate_bus0(BarSizing sizing);
// Sizes the BARs of the device at `address` if not done yet, and logs its line; false if
// bus 0 has no such device. The device must not be in use by anyone meanwhile: its
// decoding is off while it is sized (a device a guest drives is sized before it resumes).
bool size_bars(Address address);
// Sizes up to `at_most` devices not sized yet (after a live update, once the guests run
// again, a device per pass of the scheduling loop). Returns how many it sized: 0 once
// every device is.
usize size_remaining_bars(usize at_most);
usize device_count();
const Device &device(usize index);
// The device at `address`, or nullptr.
const Device *find(Address address);

} // namespace pci
