// SPDX-License-Identifier: MIT
// Memory-manager test support: simulated physical memory and a QEMU-like machine layout.
#pragma once
#include "mm/frames.hpp"
#include <gtest/gtest.h>
#include <memory>
#include <sys/mman.h>

// Anonymous memory standing in for physical address 0 upward; the direct map points at
// it. Pages are committed only when touched, so a large simulated machine is cheap.
class SimulatedRam final {
public:
    explicit SimulatedRam(u64 bytes) : bytes_(bytes)
    {
        base_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base_ == MAP_FAILED)
            abort();
        direct_map_offset = reinterpret_cast<u64>(base_);
    }
    ~SimulatedRam() { munmap(base_, bytes_); }
    SimulatedRam(const SimulatedRam &) = delete;
    SimulatedRam &operator=(const SimulatedRam &) = delete;

private:
    void *base_;
    u64 bytes_;
};

// What QEMU's firmware reports for -m 128M (plus the BIOS ROM), and where GRUB puts
// the kernel, its boot information and one module.
namespace mm_test {

inline constexpr u64 RAM_TOP = 0x7fe0000;
inline constexpr PhysRange KERNEL_IMAGE{0x100000, 0x300000};
inline constexpr PhysRange BOOT_INFO{0x300000, 0x301234};
inline constexpr PhysRange MODULE{0x302000, 0x352000};
// Default region for this machine: 16 MiB (the minimum) at the 16 MiB floor.
inline constexpr PhysRange DEFAULT_REGION{16 * MiB, 32 * MiB};

inline const MemoryMapEntry QEMU_MAP[] = {
    {0x0, 0x9fc00, 1},     {0x9fc00, 0x400, 2},      {0xf0000, 0x10000, 2}, {0x100000, RAM_TOP - 0x100000, 1},
    {RAM_TOP, 0x20000, 2}, {0xfffc0000, 0x40000, 2},
};

inline const ReservedRange RESERVED[] = {
    {KERNEL_IMAGE, FrameType::kernel_image, "the kernel image"},
    {BOOT_INFO, FrameType::boot_info, "the boot information"},
    {MODULE, FrameType::boot_module, "boot module 0"},
};

inline MemoryLayout qemu_layout(BootmemRequest bootmem = {}, bool confine = false)
{
    MemoryLayout layout;
    layout.memory_map = QEMU_MAP;
    layout.memory_map_count = sizeof(QEMU_MAP) / sizeof(QEMU_MAP[0]);
    layout.reserved = RESERVED;
    layout.reserved_count = sizeof(RESERVED) / sizeof(RESERVED[0]);
    layout.bootmem = bootmem;
    layout.confine_boot_allocator = confine;
    return layout;
}

inline constexpr u64 usable_bytes() { return 0x9f000 + (RAM_TOP - 0x100000); }

} // namespace mm_test

// A fresh allocator over simulated RAM for every test.
class MmTest : public ::testing::Test {
protected:
    MmTest() : ram_(256 * MiB), frames_(std::make_unique<FrameAllocator>()) {}

    // Both phases on the QEMU layout; fails the test if either does.
    void boot(const PreservedRange *preserved = nullptr, usize count = 0, BootmemRequest bootmem = {})
    {
        ASSERT_EQ(frames_->early_init(mm_test::qemu_layout(bootmem)), 0);
        ASSERT_EQ(frames_->init(preserved, count), 0);
    }

    FrameEntry &entry_at(u64 phys) { return frames_->table()[addr_to_frame(phys)]; }

    SimulatedRam ram_;
    std::unique_ptr<FrameAllocator> frames_;
};
