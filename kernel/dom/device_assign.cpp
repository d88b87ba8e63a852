// SPDX-License-Identifier: MIT
// Device assignment: the registered assigner, and device addresses as text.
#include "dom/device_assign.hpp"
#include "abi/errno.h"
#include "lib/format.hpp"
#include "lib/pci_address_text.hpp"

namespace {

DeviceAssigner *registered;

} // namespace

void set_device_assigner(DeviceAssigner *assigner) { registered = assigner; }

int domain_assign_device(Domain &domain, pci::Address device, char *why, usize why_capacity)
{
    if (registered == nullptr)
        return format_refusal(why, why_capacity, BATON_ENOSYS, "this hypervisor has no IOMMU to assign devices with");
    return registered->assign(domain, device, why, why_capacity);
}

int domain_deassign_device(Domain &domain, pci::Address device, char *why, usize why_capacity)
{
    if (registered == nullptr)
        return format_refusal(why, why_capacity, BATON_ENOSYS, "this hypervisor has no IOMMU to assign devices with");
    return registered->deassign(domain, device, why, why_capacity);
}

bool parse_pci_address(const char *text, usize length, pci::Address &out)
{
    return parse_pci_address_text(text, length, out.bus, out.device, out.function);
}
