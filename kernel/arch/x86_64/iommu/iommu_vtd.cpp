// SPDX-License-Identifier: MIT
// Intel VT-d unit driver: take-over, table commit with invalidation, fault draining.
#include "arch/x86_64/iommu/iommu_vtd.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/iommu/vtd_walk.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/time.hpp"

namespace {

// Every register handshake completes within microseconds on hardware and under QEMU;
// a unit that takes longer is broken, and is left alone instead of waited on forever.
constexpr u64 REGISTER_TIMEOUT_NS = 100 * NS_PER_MS;
constexpr u32 REG_INVALIDATION_QUEUE_HEAD = 0x80;
constexpr unsigned CACHE_LINE = 64;

void flush_page(u64 phys)
{
    const u8 *page = phys_to<const u8>(phys);
    for (u64 offset = 0; offset < PAGE_SIZE; offset += CACHE_LINE)
        asm volatile("clflush %0" ::"m"(page[offset]) : "memory");
    asm volatile("mfence" ::: "memory");
}

} // namespace

u32 VtdUnit::read32(u32 reg) const { return *reinterpret_cast<volatile const u32 *>(registers_ + reg); }
u64 VtdUnit::read64(u32 reg) const { return *reinterpret_cast<volatile const u64 *>(registers_ + reg); }
void VtdUnit::write32(u32 reg, u32 value) { *reinterpret_cast<volatile u32 *>(registers_ + reg) = value; }
void VtdUnit::write64(u32 reg, u64 value) { *reinterpret_cast<volatile u64 *>(registers_ + reg) = value; }

bool VtdUnit::translating() const
{
    return registers_ != nullptr && (read32(vtd::REG_GLOBAL_STATUS) & vtd::GLOBAL_TRANSLATION) != 0;
}

bool VtdUnit::global_command(u32 command, u32 status_bit, bool want_set)
{
    write32(vtd::REG_GLOBAL_COMMAND, command);
    const u64 deadline = time_now_ns() + REGISTER_TIMEOUT_NS;
    while (((read32(vtd::REG_GLOBAL_STATUS) & status_bit) != 0) != want_set) {
        if (time_now_ns() > deadline)
            return false;
        cpu::pause();
    }
    return true;
}

u32 VtdUnit::command_with(u32 bit) const { return vtd::global_command(read32(vtd::REG_GLOBAL_STATUS), bit); }

bool VtdUnit::wait64(u32 reg, u64 bit, const char *what)
{
    const u64 deadline = time_now_ns() + REGISTER_TIMEOUT_NS;
    while ((read64(reg) & bit) != 0) {
        if (time_now_ns() > deadline) {
            log_error("iommu: %s: %s did not complete", name_, what);
            return false;
        }
        cpu::pause();
    }
    return true;
}

// Firmware (or an older image) may have left queued invalidation on; register-based
// invalidation is refused while it is, so drain the queue and turn it off.
bool VtdUnit::stop_queued_invalidation(char *why, usize why_capacity)
{
    if ((read32(vtd::REG_GLOBAL_STATUS) & vtd::GLOBAL_QUEUED_INVALIDATION) == 0)
        return true;
    const u64 deadline = time_now_ns() + REGISTER_TIMEOUT_NS;
    while (read64(REG_INVALIDATION_QUEUE_HEAD) != read64(vtd::REG_INVALIDATION_QUEUE_TAIL)) {
        if (time_now_ns() > deadline) {
            format(why, why_capacity, "iommu: %s: the invalidation queue left on does not drain", name_);
            return false;
        }
        cpu::pause();
    }
    if (!global_command(command_with(0) & ~vtd::GLOBAL_QUEUED_INVALIDATION, vtd::GLOBAL_QUEUED_INVALIDATION, false)) {
        format(why, why_capacity, "iommu: %s: queued invalidation does not turn off", name_);
        return false;
    }
    log_info("iommu: %s: queued invalidation was on; turned off for register-based invalidation", name_);
    return true;
}

int VtdUnit::commit(u64 changed_table)
{
    if (!caps_.coherent) {
        flush_page(tables_.root());
        if (changed_table != 0)
            flush_page(changed_table);
    }
    if (caps_.write_buffer_flush &&
        !global_command(command_with(vtd::GLOBAL_WRITE_BUFFER_FLUSH), vtd::GLOBAL_WRITE_BUFFER_FLUSH, false)) {
        log_error("iommu: %s: write-buffer flush did not complete", name_);
        return -BATON_EIO;
    }
    // Context cache first: IOTLB entries are tagged by what the context entries said.
    write64(vtd::REG_CONTEXT_COMMAND, vtd::CONTEXT_INVALIDATE | vtd::CONTEXT_GLOBAL);
    if (!wait64(vtd::REG_CONTEXT_COMMAND, vtd::CONTEXT_INVALIDATE, "context-cache invalidation"))
        return -BATON_EIO;
    return invalidate_iotlb(vtd::IOTLB_GLOBAL);
}

int VtdUnit::invalidate_iotlb(u64 command)
{
    const u32 iotlb = caps_.iotlb_offset + 8;
    write64(iotlb, vtd::IOTLB_INVALIDATE | vtd::IOTLB_DRAIN | command);
    if (!wait64(iotlb, vtd::IOTLB_INVALIDATE, "IOTLB invalidation"))
        return -BATON_EIO;
    return 0;
}

// IO page tables change a few entries at a time in many tables (assignment, the shared-info
// page, a global type change): rare enough that writing back every cache beats tracking
// which lines changed. Only units that do not snoop need it.
void VtdUnit::write_back_io_tables()
{
    if (!caps_.coherent)
        asm volatile("wbinvd" ::: "memory");
}

int VtdUnit::attach(pci::Address device, u64 table_root, unsigned levels, u16 domain_id)
{
    if (domain_id == 0 || domain_id >= caps_.domain_ids || levels != levels_ || table_root == 0)
        return -BATON_EINVAL;
    if (int error = tables_.add_bus(device.bus); error != 0)
        return error;
    write_back_io_tables(); // the table must be in memory before the entry points at it
    if (int error = tables_.set_context(device.bus, device.devfn(), vtd::context_entry(table_root, levels, domain_id));
        error != 0)
        return error;
    return commit(tables_.context_table(device.bus));
}

int VtdUnit::invalidate(u16 domain_id, u64 io_frame, u64 count)
{
    write_back_io_tables();
    if (caps_.write_buffer_flush &&
        !global_command(command_with(vtd::GLOBAL_WRITE_BUFFER_FLUSH), vtd::GLOBAL_WRITE_BUFFER_FLUSH, false))
        return -BATON_EIO;
    const u64 domain = vtd::iotlb_domain_field(domain_id);
    // Page-selective when one naturally aligned block of at most 2^MAMV pages covers the
    // span (a p2m change usually touches one page); the whole domain otherwise.
    if (caps_.page_selective && count != ~u64{0} && count != 0) {
        unsigned mask = 0;
        while (mask <= caps_.max_address_mask && (io_frame >> mask) != ((io_frame + count - 1) >> mask))
            mask++;
        if (mask <= caps_.max_address_mask) {
            const u64 first = (io_frame >> mask) << mask;
            write64(caps_.iotlb_offset, frame_to_addr(first) | mask);
            return invalidate_iotlb(vtd::IOTLB_PAGE | domain);
        }
    }
    return invalidate_iotlb(vtd::IOTLB_DOMAIN | domain);
}

bool VtdUnit::context_of(pci::Address device, u16 &domain_id, u64 &table_root, unsigned &levels) const
{
    if (!tables_.has_bus(device.bus))
        return false;
    const vtd::Entry128 entry = tables_.context(device.bus, device.devfn());
    if (!vtd::entry_present(entry))
        return false;
    domain_id = vtd::context_domain(entry);
    table_root = vtd::entry_address(entry);
    levels = static_cast<unsigned>((entry.high & 7) + 2);
    return true;
}

int VtdUnit::init(const dmar::Info &dmar, const dmar::RemappingUnit &drhd, unsigned index,
                  const iommu::AdoptedUnit *adopted, char *why, usize why_capacity)
{
    dmar_ = &dmar;
    drhd_ = &drhd;
    format(name_, sizeof(name_), "vtd%u", index);
    // The register page lies in the MMIO hole, which the direct map covers (paging.hpp).
    registers_ = phys_to<u8>(drhd.register_base);
    const u32 version = read32(vtd::REG_VERSION);
    caps_ = vtd::decode_capabilities(read64(vtd::REG_CAPABILITY), read64(vtd::REG_EXTENDED_CAPABILITY));
    if (version == 0xffffffff || caps_.fault_record_offset == 0 || caps_.iotlb_offset == 0)
        return format_refusal(why, why_capacity, BATON_EIO, "iommu: %s at 0x%lx does not answer like VT-d", name_,
                              drhd.register_base);
    levels_ = vtd::choose_levels(caps_.sagaw, 4);
    if (levels_ == 0)
        return format_refusal(why, why_capacity, BATON_EINVAL,
                              "iommu: %s supports neither 3- nor 4-level tables (SAGAW 0x%x)", name_, caps_.sagaw);
    log_info("iommu: %s at 0x%lx segment %u: VT-d %u.%u, %u-level tables (MGAW %u), %u fault records at 0x%x, "
             "IOTLB at 0x%x, %u domain ids%s%s%s",
             name_, drhd.register_base, drhd.segment, version >> 4 & 0xf, version & 0xf, levels_, caps_.mgaw,
             caps_.fault_records, caps_.fault_record_offset, caps_.iotlb_offset, caps_.domain_ids,
             caps_.coherent ? ", coherent" : ", not coherent (tables are flushed)",
             caps_.caching_mode ? ", caching mode" : "", caps_.queued_invalidation ? ", queued invalidation" : "");

    // Faults are polled, never signalled: this hypervisor has no vector for them.
    write32(vtd::REG_FAULT_EVENT_CONTROL, vtd::FAULT_EVENT_MASK);
    if (!stop_queued_invalidation(why, why_capacity))
        return -BATON_EIO;

    const u64 current_root = read64(vtd::REG_ROOT_TABLE) & vtd::ENTRY_ADDRESS_MASK;
    if (adopted != nullptr && translating() && current_root == adopted->root) {
        if (int error = tables_.adopt(&frame_allocator(), adopted->root, adopted->table_frames); error != 0)
            return format_refusal(why, why_capacity, -error, "iommu: %s: tables cannot be adopted", name_);
        log_info("iommu: %s: translation stayed on; root table 0x%lx and its context tables (%lu preserved frames) "
                 "adopted from the previous image",
                 name_, tables_.root(), tables_.table_frames());
        return 0; // block() gives a bus without a context table one when a device there needs it
    }
    if (adopted != nullptr)
        log_warn("iommu: %s: the record's root table 0x%lx is not what the unit uses (0x%lx, translation %s); "
                 "building new tables",
                 name_, adopted->root, current_root, translating() ? "on" : "off");
    if (int error = tables_.init(&frame_allocator()); error != 0)
        return format_refusal(why, why_capacity, -error, "iommu: %s: no preserved frame for the root table", name_);
    if (int error = tables_.add_bus(0); error != 0)
        return format_refusal(why, why_capacity, -error, "iommu: %s: no preserved frame for a context table", name_);

    const bool was_translating = translating();
    if (was_translating)
        log_info("iommu: %s: translation was left on (root table 0x%lx); switching tables without turning it off",
                 name_, read64(vtd::REG_ROOT_TABLE) & vtd::ENTRY_ADDRESS_MASK);
    // Legacy mode: the translation-table-mode bits (11:10) stay 0.
    write64(vtd::REG_ROOT_TABLE, tables_.root());
    if (!caps_.coherent)
        flush_page(tables_.root());
    if (!global_command(command_with(vtd::GLOBAL_ROOT_POINTER), vtd::GLOBAL_ROOT_POINTER, true))
        return format_refusal(why, why_capacity, BATON_EIO, "iommu: %s does not accept the root table", name_);
    if (int error = commit(tables_.context_table(0)); error != 0)
        return format_refusal(why, why_capacity, -error, "iommu: %s: invalidation failed", name_);
    if (!was_translating && !global_command(command_with(vtd::GLOBAL_TRANSLATION), vtd::GLOBAL_TRANSLATION, true))
        return format_refusal(why, why_capacity, BATON_EIO, "iommu: %s does not turn translation on", name_);
    log_info("iommu: %s: translation on, root table 0x%lx (%lu preserved frames); devices without a context entry "
             "are blocked",
             name_, tables_.root(), tables_.table_frames());
    return 0;
}

bool VtdUnit::covers(pci::Address device) const
{
    return dmar::unit_for(*dmar_, drhd_->segment, device.bus, device.device, device.function) == drhd_;
}

int VtdUnit::block(pci::Address device)
{
    if (int error = tables_.add_bus(device.bus); error != 0)
        return error;
    if (int error = tables_.set_context(device.bus, device.devfn(), vtd::Entry128{}); error != 0)
        return error;
    // A present entry the unit cached (or, in caching mode, an absent one) must go.
    return commit(tables_.context_table(device.bus));
}

u32 VtdUnit::drain_faults(iommu::FaultSink sink)
{
    if (registers_ == nullptr)
        return 0;
    const u32 status = read32(vtd::REG_FAULT_STATUS);
    u32 drained = 0;
    if ((status & vtd::FAULT_PENDING) != 0) {
        // Records form a ring starting at the index the status names; each is cleared
        // by writing 1 to its F bit (bit 127, in the record's last dword).
        unsigned index = vtd::fault_record_index(status);
        for (u32 seen = 0; seen < caps_.fault_records; seen++) {
            const u32 record = caps_.fault_record_offset + 16 * index;
            const u64 high = read64(record + 8);
            if ((high & vtd::FAULT_RECORD_VALID) == 0)
                break;
            const vtd::FaultRecord fault = vtd::decode_fault_record(read64(record), high);
            write32(record + 12, static_cast<u32>(vtd::FAULT_RECORD_VALID >> 32));
            iommu::Fault report;
            report.unit = name_;
            report.segment = drhd_->segment;
            report.source = fault.source;
            report.address = fault.address;
            report.read = fault.read;
            report.reason = fault.reason;
            report.reason_text = vtd::fault_reason_text(fault.reason);
            report.time_ns = time_now_ns();
            sink(report);
            drained++;
            index = (index + 1) % caps_.fault_records;
        }
    }
    if ((status & vtd::FAULT_OVERFLOW) != 0)
        log_warn("iommu: %s: fault records overflowed; faults after the first %u were not recorded", name_,
                 caps_.fault_records);
    if ((status & (vtd::FAULT_QUEUE_ERROR | vtd::FAULT_COMPLETION_ERROR | vtd::FAULT_TIMEOUT_ERROR)) != 0)
        log_error("iommu: %s: invalidation error (fault status 0x%x)", name_, status);
    if ((status & vtd::FAULT_STATUS_CLEAR) != 0)
        write32(vtd::REG_FAULT_STATUS, status & vtd::FAULT_STATUS_CLEAR);
    return drained;
}

bool VtdUnit::for_each_unit_frame(iommu::FrameVisit visit, void *context) const
{
    auto hypervisor_table = [](u64 phys) {
        return vtd::preserved_table_frame(frame_allocator().table(), phys, OWNER_HYPERVISOR);
    };
    return vtd::for_each_context_table(tables_.root(), hypervisor_table,
                                       [&](u8, u64 phys) { visit(context, iommu::TableRole::context_table, phys); });
}
