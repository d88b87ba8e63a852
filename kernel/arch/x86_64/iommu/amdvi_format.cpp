// SPDX-License-Identifier: MIT
// AMD-Vi device table and event texts: blocked-by-default entries, ordered entry writes.
#include "arch/x86_64/iommu/amdvi_format.hpp"
#include "abi/errno.h"

namespace amdvi {

namespace {

// The unit may read any entry at any time: no torn or reordered stores.
u64 load(const u64 *at) { return __atomic_load_n(at, __ATOMIC_ACQUIRE); }
void store(u64 *at, u64 value) { __atomic_store_n(at, value, __ATOMIC_RELEASE); }

} // namespace

const char *event_text(u8 code)
{
    switch (code) {
    case EVENT_ILLEGAL_DEVICE_ENTRY: return "illegal device table entry";
    case EVENT_IO_PAGE_FAULT: return "IO page fault";
    case EVENT_DEVICE_TABLE_ERROR: return "device table hardware error";
    case EVENT_PAGE_TABLE_ERROR: return "page table hardware error";
    case EVENT_ILLEGAL_COMMAND: return "illegal command";
    case EVENT_COMMAND_ERROR: return "command hardware error";
    case EVENT_IOTLB_TIMEOUT: return "IOTLB invalidation timeout";
    case EVENT_INVALID_DEVICE_REQUEST: return "invalid device request";
    default: return "unknown event";
    }
}

int DeviceTable::init(FrameAllocator *frames)
{
    static_assert(DEVICE_TABLE_PAGES == 2, "the allocation order below");
    if (phys_ != 0)
        return -BATON_EBUSY;
    const u64 phys = frames->alloc_frames(1, MemClass::preserved, OWNER_HYPERVISOR, FrameType::page_table);
    if (phys == 0)
        return -BATON_ENOMEM;
    const DeviceEntry blocked = blocked_entry();
    auto *entries = phys_to<DeviceEntry>(phys);
    for (unsigned i = 0; i < DEVICE_TABLE_ENTRIES; i++)
        entries[i] = blocked;
    phys_ = phys;
    return 0;
}

int DeviceTable::adopt(u64 phys)
{
    if (phys_ != 0)
        return -BATON_EBUSY;
    phys_ = phys;
    return 0;
}

int DeviceTable::set(u16 device, const DeviceEntry &entry)
{
    if (phys_ == 0 || !holds(device))
        return -BATON_EINVAL;
    u64 *words = phys_to<DeviceEntry>(phys_)[device].words;
    // Blocking first when the entry stops translating, so the domain id or the table root
    // never change under a live translation; then the rest; the deciding word last when
    // it starts translating.
    const bool translating = entry_translates(entry);
    if (!translating)
        store(&words[0], entry.words[0]);
    for (unsigned i = 1; i < 4; i++)
        store(&words[i], entry.words[i]);
    if (translating)
        store(&words[0], entry.words[0]);
    return 0;
}

DeviceEntry DeviceTable::get(u16 device) const
{
    if (phys_ == 0 || !holds(device))
        return {};
    const u64 *words = phys_to<const DeviceEntry>(phys_)[device].words;
    return {{load(&words[0]), load(&words[1]), load(&words[2]), load(&words[3])}};
}

} // namespace amdvi
