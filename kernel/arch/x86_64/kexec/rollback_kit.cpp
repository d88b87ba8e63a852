// SPDX-License-Identifier: MIT
// The rollback kit: the old image's way back, written before the jump, entered on failure.
#include "arch/x86_64/kexec/rollback_kit.hpp"
#include "abi/errno.h"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/devices/watchdog.hpp"
#include "arch/x86_64/kexec/jump.hpp"
#include "arch/x86_64/smp/smp.hpp"
#include "control/transfer_codec.hpp"
#include "lib/format.hpp"
#include "mm/phys.hpp"

namespace {

constexpr u64 KIT_MAGIC = 0x54494b4b43414221; // "!BACKKIT"
constexpr u32 KIT_VERSION = 1;

// Pages of the kit, in order.
enum KitPage : u64 {
    HEADER_PAGE = 0,
    TRAMPOLINE_PAGE = 1,
    PARAMS_PAGE = 2,
    INFO_PAGE = 3, // two pages
    PML4_PAGE = 5,
    PDPT_LOW_PAGE = 6, // the identity map of the first 4 GiB
    PDPT_HIGH_PAGE = 7, // the kernel window as linked (-> physical 0); rollback_kit_enter points PML4's at its own
    PD_PAGE = 8, // four pages: 2 MiB pages over the first 4 GiB, shared by both
    KIT_PAGES = 12,
};
static_assert(KIT_PAGES <= 1u << ROLLBACK_KIT_ORDER);

struct KitHeader {
    u64 magic;
    u32 version;
    u32 checksum; // CRC-32 of pages TRAMPOLINE_PAGE.. and of this header up to `report`
    u64 kit_phys;
    WatchdogSite watchdog;
    u64 watchdog_ms; // how long the next image has to commit
    RollbackReport report; // written by the failing image; outside the checksum
};
static_assert(sizeof(KitHeader) <= PAGE_SIZE);

KitHeader &header_of(u64 kit) { return *phys_to<KitHeader>(kit); }

u64 page(u64 kit, u64 index) { return kit + index * PAGE_SIZE; }

JumpPlace place_of(u64 kit)
{
    return JumpPlace{page(kit, TRAMPOLINE_PAGE), page(kit, PARAMS_PAGE), page(kit, INFO_PAGE), 2 * PAGE_SIZE};
}

u32 checksum_of(u64 kit)
{
    KitHeader header = header_of(kit);
    header.checksum = 0; // what it was when the checksum was taken
    u32 crc = crc32(reinterpret_cast<const u8 *>(&header), __builtin_offsetof(KitHeader, report));
    return crc32(phys_to<u8>(page(kit, TRAMPOLINE_PAGE)), (KIT_PAGES - TRAMPOLINE_PAGE) * PAGE_SIZE, crc);
}

void build_page_tables(u64 kit)
{
    constexpr u64 PRESENT_WRITABLE = 3, LARGE = 0x80;
    u64 *pml4 = phys_to<u64>(page(kit, PML4_PAGE));
    u64 *low = phys_to<u64>(page(kit, PDPT_LOW_PAGE));
    u64 *high = phys_to<u64>(page(kit, PDPT_HIGH_PAGE));
    u64 *directories = phys_to<u64>(page(kit, PD_PAGE));
    for (unsigned i = 0; i < 512; i++)
        pml4[i] = low[i] = high[i] = 0;
    pml4[0] = page(kit, PDPT_LOW_PAGE) | PRESENT_WRITABLE;
    pml4[511] = page(kit, PDPT_HIGH_PAGE) | PRESENT_WRITABLE;
    for (unsigned i = 0; i < 4; i++)
        low[i] = page(kit, PD_PAGE + i) | PRESENT_WRITABLE;
    high[510] = page(kit, PD_PAGE) | PRESENT_WRITABLE; // 0xffffffff80000000: the first GiB
    high[511] = page(kit, PD_PAGE + 1) | PRESENT_WRITABLE;
    for (u64 i = 0; i < 4 * 512; i++)
        directories[i] = (i << 21) | PRESENT_WRITABLE | LARGE;
}

} // namespace

int rollback_kit_build(u64 kit, const KexecRequest &self, u64 watchdog_ms, char *why, usize why_capacity)
{
    if (kit == 0 || kit % PAGE_SIZE != 0 || kit + (PAGE_SIZE << ROLLBACK_KIT_ORDER) > 4 * GiB)
        return format_refusal(why, why_capacity, BATON_ERANGE, "rollback: the kit at 0x%lx is not below 4 GiB", kit);
    if (self.image_phys + self.image_size > 4 * GiB)
        return format_refusal(why, why_capacity, BATON_ERANGE, "rollback: this image's copy lies above 4 GiB");
    // The copy must land exactly where this image runs, which may be a load slot away from
    // its ELF addresses: nothing else is known to be free. This copy is not in the
    // blackout of a successful update; only the way back pays for it.
    KexecRequest back = self;
    back.load_delta = paging::load_delta();
    back.placed = false;
    const PhysRange running{paging::image_phys_start(), paging::image_phys_end()};
    const ElfImage &elf = self.info->elf;
    for (usize i = 0; i < elf.segment_count; i++) {
        const ElfSegment &s = elf.segments[i];
        const u64 target = s.physical_address + back.load_delta;
        if (!running.contains(target) || target + s.memory_size > running.end)
            return format_refusal(why, why_capacity, BATON_EINVAL,
                                  "rollback: this image's copy has segment %zu at 0x%lx-0x%lx, outside where it runs",
                                  i, target, target + s.memory_size);
    }
    KitHeader &header = header_of(kit);
    header = KitHeader{};
    char watchdog_why[128];
    if (!watchdog_locate(*self.boot_info, header.watchdog, watchdog_why, sizeof(watchdog_why)))
        return format_refusal(why, why_capacity, BATON_ENODEV,
                              "rollback: no watchdog to catch a hanging image (%s); refusing the update", watchdog_why);
    header.watchdog_ms = watchdog_ms;
    if (int error = write_jump(place_of(kit), back, why, why_capacity))
        return error;
    build_page_tables(kit);
    header.magic = KIT_MAGIC;
    header.version = KIT_VERSION;
    header.kit_phys = kit;
    header.checksum = checksum_of(kit);
    return 0;
}

void rollback_kit_arm_watchdog(u64 kit)
{
    const KitHeader &header = header_of(kit);
    watchdog_arm(header.watchdog, header.watchdog_ms);
}

bool rollback_kit_valid(u64 kit, char *why, usize why_capacity)
{
    if (kit == 0 || kit % PAGE_SIZE != 0 || kit + (PAGE_SIZE << ROLLBACK_KIT_ORDER) > 4 * GiB)
        return format(why, why_capacity, "kit address 0x%lx is not a page below 4 GiB", kit), false;
    const KitHeader &header = header_of(kit);
    if (header.magic != KIT_MAGIC || header.version != KIT_VERSION || header.kit_phys != kit)
        return format(why, why_capacity, "no rollback kit at 0x%lx (magic 0x%lx, version %u)", kit, header.magic,
                      header.version),
               false;
    const u32 checksum = checksum_of(kit);
    if (checksum != header.checksum)
        return format(why, why_capacity, "the rollback kit at 0x%lx is damaged (checksum 0x%x, expected 0x%x)", kit,
                      checksum, header.checksum),
               false;
    return true;
}

RollbackReport &rollback_kit_report(u64 kit) { return header_of(kit).report; }

void rollback_kit_stop_watchdog(u64 kit) { watchdog_disarm(header_of(kit).watchdog); }

void rollback_kit_enter(u64 kit)
{
    cpu::disable_interrupts();
    smp::park_application_processors(); // in wait-for-SIPI before the old image is copied back
    rollback_kit_stop_watchdog(kit);
    timer::quiesce();
    cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) & ~cpu::EFER_SVME);
    // enter_jump runs on in the kernel window after switching to the kit's tables, and this
    // image may run in a load slot, not where the kit's own window points: the kit's
    // window becomes this image's (after the kit was checked; the old image reads only the
    // report from it again). The tables it points to are not touched before paging is off.
    constexpr unsigned KERNEL_WINDOW_INDEX = 511;
    phys_to<u64>(page(kit, PML4_PAGE))[KERNEL_WINDOW_INDEX] =
        phys_to<u64>(cpu::read_cr3() & ~0xffful)[KERNEL_WINDOW_INDEX];
    enter_jump(page(kit, PML4_PAGE), place_of(kit));
}
