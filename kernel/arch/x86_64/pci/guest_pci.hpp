// SPDX-License-Identifier: MIT
// A guest's view of PCI configuration space through ports 0xCF8/0xCFC: assigned devices only.
#pragma once
#include "lib/types.hpp"

class Domain;

namespace guest_pci {

inline constexpr u16 CONFIG_ADDRESS_PORT = 0xcf8, CONFIG_DATA_FIRST = 0xcfc, CONFIG_DATA_LAST = 0xcff;

constexpr bool handles(u16 port) { return port >= CONFIG_ADDRESS_PORT && port <= CONFIG_DATA_LAST; }

// Emulates one access of `size` bytes (1, 2, 4) to `port` (handles() is true): `value` is
// what an OUT wrote, or receives what an IN reads. The guest sees the devices assigned to
// it at their own addresses, filtered (docs/iommu.md, "What the guest sees"); every other
// address reads as no device (all ones) and ignores writes.
void access(Domain &domain, u16 port, unsigned size, bool in, u32 &value);

} // namespace guest_pci
