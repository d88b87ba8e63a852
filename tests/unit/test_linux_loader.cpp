// SPDX-License-Identifier: MIT
// Loading a Linux vmlinux through PVH: what lands where in guest RAM, and what is refused.
#include "abi/errno.h"
#include "arch/x86_64/platform/pc_layout.hpp"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "elf_builder.hpp"
#include "host_platform.hpp"
#include "mm/slab.hpp"
#include "test_mm_support.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

constexpr u64 KERNEL_GPA = 0x1000000;
constexpr u64 PVH_ENTRY = KERNEL_GPA + 0x850;
constexpr u64 GUEST_RAM = 64 * MiB;

// A stand-in vmlinux: one executable segment at 16 MiB and the PVH note.
std::vector<uint8_t> vmlinux(bool with_note = true) { return build_pvh_vmlinux(PVH_ENTRY, with_note); }

class LinuxLoaderTest : public ::testing::Test {
protected:
    LinuxLoaderTest() : ram_(256 * MiB)
    {
        // A new allocator under the heap: the heap starts over too (its slabs were the
        // last test's frames).
        kernel_heap().forget_all();
        EXPECT_EQ(frame_allocator().early_init(mm_test::qemu_layout()), 0);
        EXPECT_EQ(frame_allocator().init(), 0);
    }
    ~LinuxLoaderTest() override
    {
        for_each_domain([](Domain &domain) { EXPECT_EQ(domain_destroy(domain.id), 0); });
    }

    int create(const std::vector<uint8_t> &kernel, const std::vector<uint8_t> &initrd, const std::string &cmdline,
               u64 ram = GUEST_RAM)
    {
        DomainConfig config;
        config.name = "linux";
        config.kind = GuestKind::pc;
        config.ram_bytes = ram;
        config.image = kernel.data();
        config.image_size = kernel.size();
        config.initrd = initrd.empty() ? nullptr : initrd.data();
        config.initrd_size = initrd.size();
        config.command_line = cmdline.c_str();
        why_[0] = '\0';
        return domain_create(config, why_, sizeof(why_));
    }

    template <typename T>
    T read(const Domain &domain, u64 gpa)
    {
        T value{};
        EXPECT_EQ(copy_from_guest(domain.p2m, &value, gpa, sizeof(T)), 0) << std::hex << gpa;
        return value;
    }

    SimulatedRam ram_;
    char why_[DOMAIN_MESSAGE_SIZE] = {};
};

} // namespace

TEST_F(LinuxLoaderTest, WritesWhatThePvhEntryExpects)
{
    std::vector<uint8_t> initrd(3 * PAGE_SIZE + 17, 0x5a);
    const int id = create(vmlinux(), initrd, "console=ttyS0 quiet");
    ASSERT_GT(id, 0) << why_;
    const Domain &domain = *domain_find(static_cast<u64>(id));
    EXPECT_EQ(domain.kind, GuestKind::pc);

    const auto info = read<pvh::StartInfo>(domain, pc_layout::START_INFO_GPA);
    EXPECT_EQ(info.magic, pvh::START_INFO_MAGIC);
    EXPECT_EQ(info.version, 1u);
    EXPECT_EQ(info.rsdp_paddr, 0u) << "no ACPI: the kernel finds the MP table";
    char cmdline[64] = {};
    ASSERT_EQ(copy_from_guest(domain.p2m, cmdline, info.cmdline_paddr, sizeof(cmdline)), 0);
    EXPECT_EQ(std::string(cmdline), "console=ttyS0 quiet tsc_early_khz=" + std::to_string(HOST_TSC_KHZ))
        << "the TSC's rate is added: the kernel cannot calibrate against the emulated PIT in time";

    ASSERT_EQ(info.module_count, 1u);
    const auto module = read<pvh::ModuleEntry>(domain, info.modlist_paddr);
    EXPECT_EQ(module.size, initrd.size());
    EXPECT_EQ(module.paddr % PAGE_SIZE, 0u);
    EXPECT_LE(module.paddr + module.size, GUEST_RAM) << "the initramfs sits at the top of RAM";
    EXPECT_GE(module.paddr, KERNEL_GPA + 0x200000) << "clear of the kernel";
    std::vector<uint8_t> copied(initrd.size());
    ASSERT_EQ(copy_from_guest(domain.p2m, copied.data(), module.paddr, copied.size()), 0);
    EXPECT_EQ(copied, initrd);

    ASSERT_EQ(info.memmap_entries, pc_layout::MEMMAP_ENTRIES);
    u64 ram_total = 0;
    for (u32 i = 0; i < info.memmap_entries; i++) {
        const auto entry = read<pvh::MemmapEntry>(domain, info.memmap_paddr + i * sizeof(pvh::MemmapEntry));
        if (entry.type == pvh::MemType::ram)
            ram_total += entry.size;
        const bool device = entry.addr == pc_layout::LAPIC_BASE || entry.addr == pc_layout::IOAPIC_BASE;
        EXPECT_TRUE(!device || entry.type == pvh::MemType::reserved) << "device pages are not RAM";
    }
    EXPECT_EQ(ram_total, GUEST_RAM - (pc_layout::KERNEL_RAM - pc_layout::BASE_RAM_END));

    char signature[5] = {};
    ASSERT_EQ(copy_from_guest(domain.p2m, signature, pc_layout::BIOS_AREA, 4), 0);
    EXPECT_STREQ(signature, "_MP_");
    EXPECT_EQ(read<u8>(domain, KERNEL_GPA), 0x90) << "the segment is in place";
    EXPECT_EQ(read<u8>(domain, KERNEL_GPA + 0x1fffff), 0) << "and its bss zeroed";
}

TEST_F(LinuxLoaderTest, AKernelCommandLineThatNamesTheTscRateKeepsIt)
{
    const int id = create(vmlinux(), {}, "tsc_early_khz=1234");
    ASSERT_GT(id, 0) << why_;
    const Domain &domain = *domain_find(static_cast<u64>(id));
    const auto info = read<pvh::StartInfo>(domain, pc_layout::START_INFO_GPA);
    EXPECT_EQ(info.module_count, 0u);
    char cmdline[32] = {};
    ASSERT_EQ(copy_from_guest(domain.p2m, cmdline, info.cmdline_paddr, sizeof(cmdline)), 0);
    EXPECT_STREQ(cmdline, "tsc_early_khz=1234");
}

TEST_F(LinuxLoaderTest, RefusesWhatItCannotEnter)
{
    EXPECT_EQ(create(vmlinux(false), {}, ""), -BATON_EINVAL);
    EXPECT_NE(std::string(why_).find("no PVH entry"), std::string::npos) << why_;

    std::vector<uint8_t> bzimage(0x1000, 0);
    std::memcpy(bzimage.data() + 0x202, "HdrS", 4);
    EXPECT_EQ(create(bzimage, {}, ""), -BATON_EINVAL);
    EXPECT_NE(std::string(why_).find("bzImage"), std::string::npos) << why_;

    EXPECT_EQ(create(vmlinux(), {}, std::string(2048, 'x')), -BATON_E2BIG);
    EXPECT_NE(std::string(why_).find("2047"), std::string::npos) << why_;

    std::vector<uint8_t> huge(GUEST_RAM - 0x1000000, 1);
    EXPECT_EQ(create(vmlinux(), huge, ""), -BATON_ENOSPC);
    EXPECT_NE(std::string(why_).find("does not fit"), std::string::npos) << why_;

    EXPECT_EQ(create(vmlinux(), {}, "", 8 * MiB), -BATON_EINVAL) << "the kernel lies above 8 MiB of RAM";
    u64 domains = 0;
    for_each_domain([&](Domain &) { domains++; });
    EXPECT_EQ(domains, 0u) << "a refused domain leaves nothing behind";
}

TEST_F(LinuxLoaderTest, DestroyingAPcGuestReturnsItsPlatformAndEveryFrame)
{
    // One round first: the heap keeps one empty page per size class (slab.cpp), so the
    // counts are compared from the second round on.
    const int warm = create(vmlinux(), std::vector<uint8_t>(PAGE_SIZE, 1), "quiet");
    ASSERT_GT(warm, 0) << why_;
    ASSERT_EQ(domain_destroy(static_cast<u16>(warm)), 0);
    const u64 free_before = (frame_allocator().free_frame_count(MemClass::ephemeral) +
                             frame_allocator().free_frame_count(MemClass::preserved));
    std::vector<u64> heap_before;
    for (unsigned c = 0; c < SLAB_CLASS_COUNT; c++)
        heap_before.push_back(kernel_heap().slab_pages(c));
    heap_before.push_back(kernel_heap().large_blocks());
    const int id = create(vmlinux(), std::vector<uint8_t>(PAGE_SIZE, 1), "quiet");
    ASSERT_GT(id, 0) << why_;
    EXPECT_NE(domain_find(static_cast<u64>(id))->platform, nullptr);
    ASSERT_EQ(domain_destroy(static_cast<u16>(id)), 0);
    std::vector<u64> heap_after;
    for (unsigned c = 0; c < SLAB_CLASS_COUNT; c++)
        heap_after.push_back(kernel_heap().slab_pages(c));
    heap_after.push_back(kernel_heap().large_blocks());
    EXPECT_EQ(heap_after, heap_before) << "slab pages per class, then large blocks";
    EXPECT_EQ((frame_allocator().free_frame_count(MemClass::ephemeral) +
               frame_allocator().free_frame_count(MemClass::preserved)),
              free_before);
}
