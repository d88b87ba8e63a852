// SPDX-License-Identifier: MIT
// Diagnostic edu DMA: program one transfer to or from a page of the image, wait, report.
#include "arch/x86_64/iommu/dma_probe.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "arch/x86_64/iommu/iommu.hpp"
#include "lib/format.hpp"
#include "lib/time.hpp"
#include "mm/phys.hpp"

namespace {

constexpr u16 EDU_VENDOR = 0x1234, EDU_DEVICE = 0x11e8;
// edu registers (BAR0): identification, DMA source, destination, count, command.
constexpr u32 EDU_ID = 0x00, EDU_DMA_SOURCE = 0x80, EDU_DMA_DESTINATION = 0x88, EDU_DMA_COUNT = 0x90,
              EDU_DMA_COMMAND = 0x98;
constexpr u64 EDU_COMMAND_START = 1u << 0, EDU_COMMAND_TO_MEMORY = 1u << 1;
constexpr u64 EDU_BUFFER = 0x40000; // the device's own 4 KiB buffer, in its DMA address space
constexpr u64 EDU_DMA_LIMIT = u64{1} << 28; // edu clamps addresses to 28 bits
constexpr u32 PROBE_BYTES = 64;
constexpr u8 PROBE_PATTERN = 0xa5;
constexpr u64 PROBE_TIMEOUT_NS = 1000 * NS_PER_MS; // one edu DMA takes about 100 ms

// The target: part of the image, so it is never handed to a guest or the heap.
alignas(PAGE_SIZE) u8 probe_page[PAGE_SIZE];

} // namespace

int dma_probe(pci::Address device, bool write, DmaProbeResult &result, char *why, usize why_capacity)
{
    result = {};
    const pci::Device *found = pci::find(device);
    if (found == nullptr)
        return format_refusal(why, why_capacity, BATON_ENOENT, "dma-probe: no device %02x:%02x.%u on bus 0", device.bus,
                              device.device, device.function);
    if (found->vendor != EDU_VENDOR || found->device_id != EDU_DEVICE)
        return format_refusal(why, why_capacity, BATON_EINVAL,
                              "dma-probe: %02x:%02x.%u is %04x:%04x; the probe knows only QEMU's edu (1234:11e8)",
                              device.bus, device.device, device.function, found->vendor, found->device_id);
    const pci::Bar &bar = found->bars[0];
    if (bar.io || bar.size < PAGE_SIZE || bar.base == 0 || bar.base + bar.size > paging::direct_map_end())
        return format_refusal(why, why_capacity, BATON_EIO, "dma-probe: edu BAR0 0x%lx+0x%lx is not usable", bar.base,
                              bar.size);
    volatile u8 *registers = phys_to<volatile u8>(bar.base);
    auto reg64 = [&](u32 offset) -> volatile u64 & { return *reinterpret_cast<volatile u64 *>(registers + offset); };
    const u32 id = *reinterpret_cast<volatile u32 *>(registers + EDU_ID);
    if ((id & 0xff) != 0xed)
        return format_refusal(why, why_capacity, BATON_EIO, "dma-probe: edu identification reads 0x%x", id);

    const u64 target = paging::image_phys_of(probe_page);
    if (target + PAGE_SIZE > EDU_DMA_LIMIT)
        return format_refusal(why, why_capacity, BATON_ERANGE, "dma-probe: target 0x%lx is beyond edu's reach", target);
    for (u8 &byte : probe_page)
        byte = PROBE_PATTERN;

    const u16 command = pci::read16(device, pci::CONFIG_COMMAND);
    pci::write16(device, pci::CONFIG_COMMAND, command | pci::COMMAND_MEMORY | pci::COMMAND_BUS_MASTER);
    iommu::poll_faults(); // earlier faults are not this probe's
    result.faults_before = iommu::fault_count();
    result.address = target;
    result.bytes = PROBE_BYTES;
    result.write = write;

    const u64 started = time_now_ns();
    reg64(EDU_DMA_SOURCE) = write ? EDU_BUFFER : target;
    reg64(EDU_DMA_DESTINATION) = write ? target : EDU_BUFFER;
    reg64(EDU_DMA_COUNT) = PROBE_BYTES;
    reg64(EDU_DMA_COMMAND) = EDU_COMMAND_START | (write ? EDU_COMMAND_TO_MEMORY : 0);
    while ((reg64(EDU_DMA_COMMAND) & EDU_COMMAND_START) != 0 && time_now_ns() - started < PROBE_TIMEOUT_NS)
        cpu::pause();
    result.completed = (reg64(EDU_DMA_COMMAND) & EDU_COMMAND_START) == 0;
    result.elapsed_us = (time_now_ns() - started) / 1000;
    pci::write16(device, pci::CONFIG_COMMAND, command);

    asm volatile("" ::: "memory"); // the device wrote behind the compiler's back
    for (const u8 &byte : probe_page)
        if (*static_cast<const volatile u8 *>(&byte) != PROBE_PATTERN)
            result.bytes_changed++;
    iommu::poll_faults();
    result.faults_after = iommu::fault_count();
    return 0;
}
