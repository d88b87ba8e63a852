// SPDX-License-Identifier: MIT
// AMD-Vi unit driver: take-over or adoption, command-buffer invalidation, event draining.
#include "arch/x86_64/iommu/iommu_amdvi.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "arch/x86_64/iommu/vtd_walk.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/time.hpp"

using namespace amdvi;

namespace {

// Commands and ring state changes complete within microseconds on hardware and under
// QEMU; a unit that takes longer is broken, and is reported instead of waited on forever.
constexpr u64 COMMAND_TIMEOUT_NS = 100 * NS_PER_MS;
// Without INVALIDATE_IOMMU_ALL, a cold start flushes the domain ids Baton can use.
constexpr u16 FLUSHED_DOMAIN_IDS = 256;

u64 load(const u64 *at) { return __atomic_load_n(at, __ATOMIC_ACQUIRE); }

// A zeroed preserved page_table frame of the hypervisor (a ring), or 0.
u64 alloc_ring()
{
    const u64 phys = frame_allocator().alloc_frames(0, MemClass::preserved, OWNER_HYPERVISOR, FrameType::page_table);
    if (phys != 0)
        __builtin_memset(phys_to_virt(phys), 0, PAGE_SIZE);
    return phys;
}

template <typename Done>
bool wait_until(Done &&done)
{
    const u64 deadline = time_now_ns() + COMMAND_TIMEOUT_NS;
    while (!done()) {
        if (time_now_ns() > deadline)
            return false;
        cpu::pause();
    }
    return true;
}

} // namespace

u64 AmdViUnit::read64(u32 reg) const { return *reinterpret_cast<volatile const u64 *>(registers_ + reg); }
void AmdViUnit::write64(u32 reg, u64 value) { *reinterpret_cast<volatile u64 *>(registers_ + reg) = value; }

bool AmdViUnit::translating() const
{
    return registers_ != nullptr && (read64(REG_CONTROL) & CONTROL_IOMMU_ENABLE) != 0;
}

bool AmdViUnit::covers(pci::Address device) const { return ivhd_->covers(device.requester_id()); }

int AmdViUnit::submit(const Command &command)
{
    const u64 next = next_offset(command_tail_);
    if (!wait_until([&] { return (read64(REG_COMMAND_HEAD) & RING_OFFSET_MASK) != next; })) {
        log_error("iommu: %s: the command buffer does not drain (head 0x%lx)", name_,
                  read64(REG_COMMAND_HEAD) & RING_OFFSET_MASK);
        return -BATON_EIO;
    }
    u64 *slot = phys_to<u64>(command_buffer_ + command_tail_);
    __atomic_store_n(&slot[0], command.low, __ATOMIC_RELAXED);
    __atomic_store_n(&slot[1], command.high, __ATOMIC_RELEASE); // before the tail moves
    command_tail_ = next;
    write64(REG_COMMAND_TAIL, command_tail_);
    return 0;
}

int AmdViUnit::wait_for_commands()
{
    sequence_++;
    completion_ = 0;
    const u64 store = paging::image_phys_of(const_cast<const u64 *>(&completion_));
    if (int error = submit(completion_wait(store, sequence_)))
        return error;
    if (!wait_until([&] { return completion_ == sequence_; })) {
        log_error("iommu: %s: COMPLETION_WAIT %lu did not complete (status 0x%lx)", name_, sequence_,
                  read64(REG_STATUS));
        return -BATON_EIO;
    }
    return 0;
}

int AmdViUnit::invalidate_everything()
{
    if ((features_ & FEATURE_INVALIDATE_ALL) != 0) {
        if (int error = submit(invalidate_all()))
            return error;
        return wait_for_commands();
    }
    for (u32 device = 0; device < DEVICE_TABLE_ENTRIES; device++)
        if (int error = submit(invalidate_devtab_entry(static_cast<u16>(device))))
            return error;
    for (u32 domain = 0; domain < FLUSHED_DOMAIN_IDS; domain++)
        if (int error = submit(invalidate_domain(static_cast<u16>(domain))))
            return error;
    return wait_for_commands();
}

int AmdViUnit::start(char *why, usize why_capacity)
{
    const u64 control = read64(REG_CONTROL);
    // The rings may only be moved while stopped; IommuEn stays as it is, so a unit left
    // translating never lets a DMA through untranslated in between.
    const u64 stopped = control & ~(CONTROL_COMMAND_BUFFER_ENABLE | CONTROL_EVENT_LOG_ENABLE | CONTROL_EVENT_INTERRUPT |
                                    CONTROL_COMPLETION_INTERRUPT);
    write64(REG_CONTROL, stopped);
    if (!wait_until(
            [&] { return (read64(REG_STATUS) & (STATUS_COMMAND_BUFFER_RUNNING | STATUS_EVENT_LOG_RUNNING)) == 0; }))
        return format_refusal(why, why_capacity, BATON_EIO, "iommu: %s: its rings do not stop", name_);
    write64(REG_EXCLUSION_BASE, 0);
    write64(REG_DEVICE_TABLE, device_table_register(table_.phys()));
    write64(REG_COMMAND_BASE, ring_base(command_buffer_));
    write64(REG_COMMAND_HEAD, 0);
    write64(REG_COMMAND_TAIL, 0);
    command_tail_ = 0;
    write64(REG_EVENT_BASE, ring_base(event_log_));
    write64(REG_EVENT_HEAD, 0);
    write64(REG_EVENT_TAIL, 0);
    write64(REG_STATUS, STATUS_CLEAR);
    // Faults are polled, never signalled: this hypervisor has no vector for them.
    write64(REG_CONTROL, stopped | CONTROL_COMMAND_BUFFER_ENABLE | CONTROL_EVENT_LOG_ENABLE | CONTROL_IOMMU_ENABLE);
    if (int error = invalidate_everything())
        return format_refusal(why, why_capacity, -error, "iommu: %s: invalidation failed", name_);
    return 0;
}

int AmdViUnit::init(const ivrs::Unit &ivhd, unsigned index, const iommu::AdoptedUnit *adopted, char *why,
                    usize why_capacity)
{
    ivhd_ = &ivhd;
    format(name_, sizeof(name_), "amdvi%u", index);
    // The register page lies in the MMIO hole, which the direct map covers (paging.hpp).
    registers_ = phys_to<u8>(ivhd.register_base);
    const u64 control = read64(REG_CONTROL);
    features_ = read64(REG_EXTENDED_FEATURES);
    if (control == ~u64{0})
        return format_refusal(why, why_capacity, BATON_EIO, "iommu: %s at 0x%lx does not answer like AMD-Vi", name_,
                              ivhd.register_base);
    log_info("iommu: %s at 0x%lx segment %u: AMD-Vi (PCI %02x:%02x.%u, capability at 0x%x), %u-level tables, "
             "features 0x%lx%s",
             name_, ivhd.register_base, ivhd.segment, ivhd.device_id >> 8, (ivhd.device_id >> 3) & 0x1f,
             ivhd.device_id & 7, ivhd.capability_offset, LEVELS, features_,
             (features_ & FEATURE_INVALIDATE_ALL) != 0 ? ", INVALIDATE_IOMMU_ALL" : "");

    const u64 current_table = read64(REG_DEVICE_TABLE) & BASE_ADDRESS_MASK;
    const bool on = (control & CONTROL_IOMMU_ENABLE) != 0;
    if (adopted != nullptr && on && current_table == adopted->root && adopted->command_buffer != 0 &&
        (read64(REG_COMMAND_BASE) & BASE_ADDRESS_MASK) == adopted->command_buffer &&
        (read64(REG_EVENT_BASE) & BASE_ADDRESS_MASK) == adopted->event_log) {
        if (int error = table_.adopt(adopted->root))
            return format_refusal(why, why_capacity, -error, "iommu: %s: tables cannot be adopted", name_);
        command_buffer_ = adopted->command_buffer;
        event_log_ = adopted->event_log;
        // The previous image waited for its last command, so head = tail: carry on there.
        command_tail_ = read64(REG_COMMAND_TAIL) & RING_OFFSET_MASK;
        log_info("iommu: %s: translation stayed on; device table 0x%lx, command buffer 0x%lx and event log 0x%lx "
                 "(%lu preserved frames) adopted from the previous image",
                 name_, table_.phys(), command_buffer_, event_log_, table_frames());
        return 0;
    }
    if (adopted != nullptr)
        log_warn("iommu: %s: the record's device table 0x%lx and rings are not what the unit uses (0x%lx, %s); "
                 "building new tables",
                 name_, adopted->root, current_table, on ? "on" : "off");
    if (int error = table_.init(&frame_allocator()); error != 0)
        return format_refusal(why, why_capacity, -error, "iommu: %s: no preserved frames for the device table", name_);
    command_buffer_ = alloc_ring();
    event_log_ = alloc_ring();
    if (command_buffer_ == 0 || event_log_ == 0)
        return format_refusal(why, why_capacity, BATON_ENOMEM, "iommu: %s: no preserved frame for a ring", name_);
    if (on)
        log_info("iommu: %s: translation was left on (device table 0x%lx); switching tables without turning it off",
                 name_, current_table);
    if (int error = start(why, why_capacity))
        return error;
    log_info("iommu: %s: translation on, device table 0x%lx (%u entries, %lu preserved frames with the rings); "
             "every device is blocked (V=1 TV=1 Mode=0, no IR/IW)",
             name_, table_.phys(), DEVICE_TABLE_ENTRIES, table_frames());
    return 0;
}

int AmdViUnit::commit_entry(u16 device, const DeviceEntry &old_entry, u16 new_domain)
{
    if (int error = submit(invalidate_devtab_entry(device)))
        return error;
    // Translations cached under the old domain id must go with the entry.
    if (entry_translates(old_entry) && entry_domain(old_entry) != new_domain)
        if (int error = submit(invalidate_domain(entry_domain(old_entry))))
            return error;
    if (new_domain != 0)
        if (int error = submit(invalidate_domain(new_domain)))
            return error;
    return wait_for_commands();
}

int AmdViUnit::block(pci::Address device)
{
    const u16 id = device.requester_id();
    if (!DeviceTable::holds(id))
        return -BATON_EINVAL;
    const DeviceEntry old_entry = table_.get(id);
    if (int error = table_.set(id, blocked_entry()))
        return error;
    return commit_entry(id, old_entry, 0);
}

int AmdViUnit::attach(pci::Address device, u64 table_root, unsigned levels, u16 domain_id)
{
    const u16 id = device.requester_id();
    if (domain_id == 0 || levels != LEVELS || table_root == 0 || !DeviceTable::holds(id))
        return -BATON_EINVAL;
    const DeviceEntry old_entry = table_.get(id);
    if (int error = table_.set(id, translated_entry(table_root, levels, domain_id)))
        return error;
    return commit_entry(id, old_entry, domain_id);
}

int AmdViUnit::invalidate(u16 domain_id, u64 io_frame, u64 count)
{
    // The unit snoops its table walks: nothing to write back. One page when the p2m
    // changed one, else the whole domain.
    if (int error = submit(count == 1 ? invalidate_page(domain_id, io_frame) : invalidate_domain(domain_id)))
        return error;
    return wait_for_commands();
}

bool AmdViUnit::context_of(pci::Address device, u16 &domain_id, u64 &table_root, unsigned &levels) const
{
    const DeviceEntry entry = table_.get(device.requester_id());
    if (!entry_translates(entry))
        return false;
    domain_id = entry_domain(entry);
    table_root = entry_table(entry);
    levels = entry_mode(entry);
    return true;
}

void AmdViUnit::restart_event_log()
{
    const u64 control = read64(REG_CONTROL);
    write64(REG_CONTROL, control & ~CONTROL_EVENT_LOG_ENABLE);
    if (!wait_until([&] { return (read64(REG_STATUS) & STATUS_EVENT_LOG_RUNNING) == 0; }))
        log_error("iommu: %s: the event log does not stop", name_);
    write64(REG_EVENT_HEAD, 0);
    write64(REG_EVENT_TAIL, 0);
    write64(REG_STATUS, STATUS_EVENT_OVERFLOW);
    write64(REG_CONTROL, control | CONTROL_EVENT_LOG_ENABLE);
}

u32 AmdViUnit::drain_faults(iommu::FaultSink sink)
{
    if (registers_ == nullptr || event_log_ == 0)
        return 0;
    const u64 status = read64(REG_STATUS);
    const u64 tail = read64(REG_EVENT_TAIL) & RING_OFFSET_MASK;
    u64 head = read64(REG_EVENT_HEAD) & RING_OFFSET_MASK;
    u32 drained = 0;
    for (u32 seen = 0; head != tail && seen < RING_ENTRIES; seen++) {
        const u64 *entry = phys_to<const u64>(event_log_ + head);
        const Event event = decode_event(load(&entry[0]), load(&entry[1]));
        head = next_offset(head);
        if (!event_is_dma(event.code)) {
            log_error("iommu: %s: %s (event 0x%x, flags 0x%x, address 0x%lx)", name_, event_text(event.code),
                      event.code, event.flags, event.address);
            continue;
        }
        iommu::Fault report;
        report.unit = name_;
        report.segment = ivhd_->segment;
        report.source = event.device;
        report.address = event.address & ~u64{PAGE_SIZE - 1};
        report.read = !event.write;
        report.reason = event.code;
        report.reason_text = event_text(event.code);
        report.time_ns = time_now_ns();
        sink(report);
        drained++;
    }
    if (head != (read64(REG_EVENT_HEAD) & RING_OFFSET_MASK))
        write64(REG_EVENT_HEAD, head);
    if ((status & STATUS_EVENT_OVERFLOW) != 0) {
        log_warn("iommu: %s: the event log overflowed; events after it were lost, restarting it", name_);
        restart_event_log();
    }
    if ((status & (STATUS_EVENT_INTERRUPT | STATUS_COMPLETION_INTERRUPT)) != 0)
        write64(REG_STATUS, status & (STATUS_EVENT_INTERRUPT | STATUS_COMPLETION_INTERRUPT));
    return drained;
}

bool AmdViUnit::for_each_unit_frame(iommu::FrameVisit visit, void *context) const
{
    const FrameTable &frames = frame_allocator().table();
    for (unsigned i = 0; i < DEVICE_TABLE_PAGES; i++)
        if (!vtd::preserved_table_frame(frames, table_.phys() + i * PAGE_SIZE, OWNER_HYPERVISOR))
            return false;
    if (!vtd::preserved_table_frame(frames, command_buffer_, OWNER_HYPERVISOR) ||
        !vtd::preserved_table_frame(frames, event_log_, OWNER_HYPERVISOR))
        return false;
    visit(context, iommu::TableRole::command_buffer, command_buffer_);
    visit(context, iommu::TableRole::event_log, event_log_);
    return true;
}
