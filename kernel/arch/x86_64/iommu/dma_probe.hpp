// SPDX-License-Identifier: MIT
// Diagnostic: make one QEMU `edu` device do one DMA, to show what the IOMMU does with it.
#pragma once
#include "arch/x86_64/pci/pci.hpp"

// Not a driver and not for guests: the hypervisor programs the device itself, once, so
// a test can prove that a blocked device's DMA is refused (the proof is the fault line
// the IOMMU driver logs, not this result).
struct DmaProbeResult {
    u64 address = 0; // the bus address the device was told to use
    u32 bytes = 0;
    bool write = false; // true: device to memory
    bool completed = false; // the device reported the transfer done within the timeout
    u32 bytes_changed = 0; // write probes: bytes of the target that changed (0 if blocked)
    u64 faults_before = 0; // the IOMMU fault count before and after
    u64 faults_after = 0;
    u64 elapsed_us = 0;
};

// `device` must be an edu device (1234:11e8) with a memory BAR0. The target is a page
// inside the hypervisor's image (below edu's 28-bit DMA limit), filled with a pattern
// first, so a DMA that does land harms nothing. Waits up to one second; IOMMU faults
// are polled (and logged) before returning. 0, or -errno with a reason in `why`.
[[nodiscard]] int dma_probe(pci::Address device, bool write, DmaProbeResult &result, char *why, usize why_capacity);
