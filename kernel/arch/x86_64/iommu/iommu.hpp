// SPDX-License-Identifier: MIT
// The IOMMU front: finds the remapping units, blocks every device, polls and logs faults.
#pragma once
#include "arch/x86_64/pci/pci.hpp"

struct BootInfo;

// One interface over the unit types: Intel VT-d (iommu_vtd.cpp, found through DMAR) and
// AMD-Vi (iommu_amdvi.cpp, found through IVRS).
namespace iommu {

enum class Kind : u8 { vtd, amd_vi };
const char *kind_name(Kind kind);

// One DMA the unit refused, as its fault log recorded it.
struct Fault {
    const char *unit = "";
    u16 segment = 0;
    u16 source = 0; // requester id: bus << 8 | device << 3 | function
    u64 address = 0; // page address of the request
    bool read = false;
    u8 reason = 0; // the unit's own reason code
    const char *reason_text = "";
    u64 time_ns = 0;
};

using FaultSink = void (*)(const Fault &fault);

// What a frame the unit reads besides its root table and the IO page tables is (handover).
enum class TableRole : u8 { context_table, command_buffer, event_log };
using FrameVisit = void (*)(void *context, TableRole role, u64 phys);

// A remapping unit. Calls come from the scheduling loop and the control channel, which
// never run at the same time (one CPU, no fault interrupt).
class Unit {
public:
    virtual Kind kind() const = 0;
    virtual const char *name() const = 0; // "vtd0"
    virtual u16 segment() const = 0;
    virtual u64 register_base() const = 0;
    virtual bool translating() const = 0;
    virtual u64 root_table() const = 0; // root (VT-d) or device (AMD-Vi) table
    virtual u64 root_table_frames() const = 0; // contiguous frames at root_table()
    virtual unsigned table_levels() const = 0; // IO page-table levels a domain would get
    virtual u64 table_frames() const = 0; // preserved frames the unit reads
    virtual u32 fault_slots() const = 0; // fault records (VT-d) or log entries
    // Whether requests from `device` go through this unit.
    virtual bool covers(pci::Address device) const = 0;
    // Leaves `device` without any translation: every DMA it does faults. 0 or -errno.
    [[nodiscard]] virtual int block(pci::Address device) = 0;
    // How many domain ids the unit tags its caches with (ids 1..domain_ids()-1 are usable).
    virtual u32 domain_ids() const = 0;
    // Translates `device`'s DMA through the IO page table at `table_root` (`levels`
    // levels, table_levels() of this unit) in domain id `domain_id`, and invalidates the
    // context cache and the IOTLB. 0, -BATON_EINVAL (bad id or levels), -BATON_EIO.
    [[nodiscard]] virtual int attach(pci::Address device, u64 table_root, unsigned levels, u16 domain_id) = 0;
    // The IO page table of `domain_id` changed at IO frames [io_frame, io_frame + count)
    // (count ~0: anywhere): writes back tables the unit does not snoop and invalidates its
    // IOTLB for them (page-selective where the unit can, else the whole domain).
    [[nodiscard]] virtual int invalidate(u16 domain_id, u64 io_frame, u64 count) = 0;
    // What the unit's context entry for `device` says (handover, diagnostics).
    [[nodiscard]] virtual bool context_of(pci::Address device, u16 &domain_id, u64 &table_root,
                                          unsigned &levels) const = 0;
    // Reads, reports (to `sink`) and clears every pending fault; returns how many.
    virtual u32 drain_faults(FaultSink sink) = 0;
    // Calls visit(context, role, phys) for every frame the unit reads besides its root
    // table and the domains' IO page tables (VT-d: context tables; AMD-Vi: command buffer
    // and event log). False when one is not a preserved page_table frame of the hypervisor.
    [[nodiscard]] virtual bool for_each_unit_frame(FrameVisit visit, void *context) const = 0;

protected:
    ~Unit() = default;
};

// What a device's DMA meets: no unit at all, a unit that blocks it, or a unit that
// translates it for the domain it is assigned to (iommu_assign.hpp).
enum class DeviceState : u8 { unprotected, blocked, assigned };
const char *device_state_name(DeviceState state);

inline constexpr usize MAX_UNITS = 8;
inline constexpr usize RECENT_FAULTS = 8;

// Finds the units from ACPI (DMAR, else IVRS), programs each with every device blocked and turns
// translation on; logs what it found, or that there is no IOMMU. Needs the frame
// allocator, the timer and pci::enumerate_bus0().
void init(const BootInfo &boot_info);
// Drains every unit's faults, logging one line per fault. Cheap: one register read per
// unit when nothing is pending.
void poll_faults();
// poll_faults() at most once per scheduler tick: for the scheduling loop, which passes
// far more often than that while guests exit.
void poll_faults_each_tick();

usize unit_count();
Unit &unit(usize index);
// The unit that `device`'s DMA goes through, or nullptr.
Unit *unit_for(pci::Address device);
DeviceState device_state(pci::Address device);
u64 fault_count();
// Copies up to `capacity` of the latest faults, oldest first; returns how many.
usize recent_faults(Fault *out, usize capacity);

} // namespace iommu
