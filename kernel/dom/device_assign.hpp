// SPDX-License-Identifier: MIT
// Device assignment as the domain layer asks for it; the IOMMU code (arch) provides it.
#pragma once
#include "arch/arch.hpp"

class Domain;

// Implemented by iommu_assign.cpp; absent in host tests and in images without an IOMMU
// driver, where every assignment is refused.
class DeviceAssigner {
public:
    // Gives `device` to `domain`: its DMA is translated through the domain's IO page
    // table, its BARs appear in the p2m, the guest sees its configuration space. 0 or
    // -errno with the reason in `why`.
    [[nodiscard]] virtual int assign(Domain &domain, pci::Address device, char *why, usize why_capacity) = 0;
    // Blocks `device` again and takes it away from `domain`.
    [[nodiscard]] virtual int deassign(Domain &domain, pci::Address device, char *why, usize why_capacity) = 0;

protected:
    ~DeviceAssigner() = default;
};

void set_device_assigner(DeviceAssigner *assigner);
// Through the registered assigner; -BATON_ENOSYS (and why) when there is none.
[[nodiscard]] int domain_assign_device(Domain &domain, pci::Address device, char *why, usize why_capacity);
[[nodiscard]] int domain_deassign_device(Domain &domain, pci::Address device, char *why, usize why_capacity);

// "BB:DD.F" in hex as lspci prints it (bus 00-ff, device 00-1f, function 0-7), exactly
// `length` characters.
[[nodiscard]] bool parse_pci_address(const char *text, usize length, pci::Address &out);
