// SPDX-License-Identifier: MIT
// Unit tests for the memory report.
#include "host_platform.hpp"
#include "mm/memory_report.hpp"
#include "mm/slab.hpp"
#include "test_mm_support.hpp"
#include <gtest/gtest.h>
#include <string>

using namespace mm_test;

namespace {

std::string printed(const MemoryReport &report)
{
    console_capture_begin();
    print_memory_report(report);
    return console_capture_end();
}

u64 accounted(const MemoryReport &r)
{
    return r.free_bytes + r.ephemeral_bytes + r.boot_bytes + r.preserved_bytes + r.kernel_image_bytes +
           r.boot_info_bytes + r.boot_module_bytes + r.reserved_ram_bytes;
}

} // namespace

TEST_F(MmTest, ReportAtBootAccountsForAllRam)
{
    boot();
    MemoryReport report = memory_report(*frames_);
    EXPECT_EQ(report.total_bytes, usable_bytes());
    EXPECT_EQ(accounted(report), report.total_bytes);
    EXPECT_EQ(report.bootmem.start, DEFAULT_REGION.start);
    EXPECT_EQ(report.bootmem.end, DEFAULT_REGION.end);
    EXPECT_EQ(report.frame_count, addr_to_frame(RAM_TOP));
    EXPECT_EQ(report.frame_table_bytes, FrameTable::bytes_for(report.frame_count));
    EXPECT_EQ(report.preserved_index_bytes, 2 * PAGE_SIZE); // 32736 bits (4 KiB) and 9 words above them
    EXPECT_EQ(report.boot_bytes, report.frame_table_bytes + report.preserved_index_bytes);
    EXPECT_EQ(report.bootmem_used_bytes, report.boot_bytes);
    EXPECT_EQ(report.kernel_image_bytes, KERNEL_IMAGE.size());
    EXPECT_EQ(report.boot_info_bytes, 2 * PAGE_SIZE);
    EXPECT_EQ(report.boot_module_bytes, MODULE.size());
    EXPECT_EQ(report.reserved_ram_bytes, 0x9f000u); // usable low memory
    EXPECT_EQ(report.ephemeral_bytes, 0u);
    EXPECT_EQ(report.preserved_bytes, 0u);
    EXPECT_EQ(report.free_preserved_bytes, report.free_bytes - report.bootmem_free_bytes);

    std::string log = printed(report);
    EXPECT_NE(log.find("[I] mem: total 130556 KiB, free "), std::string::npos) << log;
    EXPECT_NE(log.find("[I] mem: lu_bootmem 0x1000000-0x2000000 (16 MiB), ephemeral used 520 KiB, free 15864 KiB\n"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("[I] mem: ephemeral 0 B in 0 frames, boot-time 520 KiB in 130 frames\n"), std::string::npos)
        << log;
    EXPECT_NE(log.find("[I] mem: preserved 0 B in 0 frames, extra pages 0\n"), std::string::npos) << log;
    EXPECT_NE(log.find("[I] mem: kept out of the heap: kernel image 2 MiB, boot info 8 KiB, boot modules 320 KiB, "
                       "reserved 636 KiB\n"),
              std::string::npos)
        << log;
    EXPECT_NE(
        log.find(
            "[I] mem: frame table 512 KiB for 32736 frames (16 B each), preserved-block index and section map 8 KiB\n"),
        std::string::npos)
        << log;
}

TEST_F(MmTest, ReportFollowsAllocationsByClass)
{
    const PreservedRange preserved{{40 * MiB, 42 * MiB}, 1, FrameType::guest_ram, 0};
    boot(&preserved, 1);
    MemoryReport before = memory_report(*frames_);
    EXPECT_EQ(before.preserved_bytes, 2 * MiB);

    SlabHeap heap(frames_.get());
    void *object = heap.alloc(64);
    ASSERT_NE(frames_->alloc_frames(8, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::page_table), 0u);
    ASSERT_NE(frames_->alloc_frames(9, MemClass::preserved, 1, FrameType::guest_ram), 0u);
    ASSERT_NE(frames_->alloc_frames(0, MemClass::preserved, 1, FrameType::extra), 0u);

    MemoryReport after = memory_report(*frames_);
    EXPECT_EQ(after.ephemeral_frames, 1u + 256u);
    EXPECT_EQ(after.ephemeral_bytes, (1 + 256) * PAGE_SIZE);
    EXPECT_EQ(after.preserved_frames, 512u + 512u + 1u);
    EXPECT_EQ(after.extra_frames, 1u);
    EXPECT_EQ(after.bootmem_used_bytes, before.bootmem_used_bytes + (1 + 256) * PAGE_SIZE);
    EXPECT_EQ(after.free_bytes, before.free_bytes - (1 + 256 + 512 + 1) * PAGE_SIZE);
    EXPECT_EQ(accounted(after), after.total_bytes);

    std::string log = printed(after);
    EXPECT_NE(log.find("mem: ephemeral 1028 KiB in 257 frames, boot-time 520 KiB in 130 frames"), std::string::npos)
        << log;
    EXPECT_NE(log.find("mem: preserved 4100 KiB in 1025 frames, extra pages 1"), std::string::npos) << log;
    heap.free(object);
}
