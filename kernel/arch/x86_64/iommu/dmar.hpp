// SPDX-License-Identifier: MIT
// The ACPI DMAR table: Intel VT-d remapping units (DRHD), their device scopes, RMRRs.
#pragma once
#include "lib/types.hpp"

// Pure logic over a table already found and checksummed (acpi::find_table): compiles for
// host tests, which feed it hand-built tables. Layout: Intel VT-d specification, ch. 8.
namespace dmar {

inline constexpr usize MAX_UNITS = 8;
inline constexpr usize MAX_SCOPES = 16; // per unit; more are counted, not kept
inline constexpr usize MAX_PATH = 4; // bridge hops below the start bus
inline constexpr usize MAX_RESERVED = 8; // RMRRs

// Remapping structure types (the u16 at the start of each structure).
enum class StructureType : u16 { drhd = 0, rmrr = 1, atsr = 2, rhsa = 3, andd = 4, satc = 5 };
// Device scope entry types.
enum class ScopeType : u8 { pci_endpoint = 1, pci_bridge = 2, ioapic = 3, hpet = 4, acpi_namespace = 5 };
const char *scope_type_name(ScopeType type);

// DMAR flags (byte 37).
inline constexpr u8 FLAG_INTR_REMAP = 1u << 0;
inline constexpr u8 FLAG_X2APIC_OPT_OUT = 1u << 1;
inline constexpr u8 FLAG_DMA_CTRL_PLATFORM_OPT_IN = 1u << 2;
// DRHD flags.
inline constexpr u8 DRHD_INCLUDE_PCI_ALL = 1u << 0;

struct PathStep {
    u8 device = 0;
    u8 function = 0;
};

// One device a unit (or an RMRR) names: a start bus and a path of device/function steps
// through bridges; a path of one step is a device on the start bus itself.
struct DeviceScope {
    ScopeType type = ScopeType::pci_endpoint;
    u8 enumeration_id = 0; // IOAPIC/HPET id
    u8 start_bus = 0;
    u8 path_length = 0;
    PathStep path[MAX_PATH];

    // The scope names exactly bus:device.function with no bridge in between.
    constexpr bool names(u8 bus, u8 device, u8 function) const
    {
        return path_length == 1 && start_bus == bus && path[0].device == device && path[0].function == function;
    }
};

// A DMA remapping hardware unit definition (DRHD).
struct RemappingUnit {
    u64 register_base = 0;
    u16 segment = 0;
    u8 flags = 0;
    u8 size_field = 0; // register set size: 2^size_field pages (0 on old firmware: one page)
    DeviceScope scopes[MAX_SCOPES];
    usize scope_count = 0;
    usize scopes_dropped = 0; // beyond MAX_SCOPES or with a path longer than MAX_PATH

    constexpr bool include_pci_all() const { return (flags & DRHD_INCLUDE_PCI_ALL) != 0; }
    constexpr u64 register_bytes() const { return PAGE_SIZE << (size_field & 0xf); }
};

// A reserved memory region (RMRR): memory a device may DMA to before any OS runs
// (USB legacy emulation, integrated graphics). Blocking such a device can break it.
struct ReservedRegion {
    u16 segment = 0;
    u64 base = 0;
    u64 limit = 0; // last byte, inclusive
    usize scope_count = 0;
};

struct Info {
    u8 host_address_width = 0; // bits of DMA address the platform supports (field + 1)
    u8 flags = 0;
    RemappingUnit units[MAX_UNITS];
    usize unit_count = 0;
    ReservedRegion reserved[MAX_RESERVED];
    usize reserved_count = 0;
    usize other_structures = 0; // ATSR, RHSA, ANDD, SATC, unknown: skipped
};

// Parses the DMAR table `table` of `length` bytes (header included). Checks every length
// against its container, the register bases (nonzero, page aligned) and that a segment
// has at most one INCLUDE_PCI_ALL unit, listed after its other units. Returns 0 or
// -BATON_EINVAL (malformed) / -BATON_E2BIG (more units or RMRRs than Info holds) with a
// one-line reason in `why`.
[[nodiscard]] int parse(const u8 *table, usize length, Info &out, char *why, usize why_capacity);

// The unit that translates requests from segment:bus:device.function: the one whose
// scope names the device, else the segment's INCLUDE_PCI_ALL unit; nullptr if none.
// Only devices on a scope's start bus are matched by path (no bridge walk yet).
const RemappingUnit *unit_for(const Info &info, u16 segment, u8 bus, u8 device, u8 function);

} // namespace dmar
