// SPDX-License-Identifier: MIT
// Kernel entry: bring up the console and CPU tables, parse the boot information,
// set up memory, report.
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/cpu/fpu.hpp"
#include "arch/x86_64/cpu/gdt.hpp"
#include "arch/x86_64/cpu/idt.hpp"
#include "arch/x86_64/cpu/selftest.hpp"
#include "arch/x86_64/devices/debug_exit.hpp"
#include "arch/x86_64/devices/serial.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/iommu/iommu.hpp"
#include "arch/x86_64/iommu/iommu_adopt.hpp"
#include "arch/x86_64/pci/pci.hpp"
#include "arch/x86_64/smp/smp.hpp"
#include "arch/x86_64/svm/svm.hpp"
#include "arch/x86_64/svm/vcpu_loop.hpp"
#include "boot/boot_info.hpp"
#include "boot/boot_state.hpp"
#include "boot/cmdline.hpp"
#include "boot/version.hpp"
#include "control/backend/control_port.hpp"
#include "control/backend/hypervisor_control.hpp"
#include "dom/guest_modules.hpp"
#include "init/memory_setup.hpp"
#include "lib/log.hpp"
#include "mm/frames.hpp"
#include "mm/phys.hpp"
#include "update/live_update.hpp"
#include "update/rollback.hpp"
#include "update/self_image.hpp"

extern "C" void kernel_main(u32 magic, u32 info_phys);

namespace {

using Constructor = void (*)();
extern "C" Constructor __init_array_start[], __init_array_end[];

// Large and needed only during boot: kept out of the small kernel stack.
BootInfo boot_info;
CmdlineResult cmdline;
HypervisorControl control;
IncomingRecord incoming;

void run_constructors()
{
    for (Constructor *c = __init_array_start; c != __init_array_end; c++)
        (*c)();
}

void parse_boot_information(u32 magic, u32 info_phys)
{
    if (magic != MULTIBOOT2_BOOTLOADER_MAGIC)
        panic("boot: not started by a multiboot2 loader (magic 0x%x)", magic);
    // The block is at most a few KiB; the bound only keeps a corrupt total_size from
    // sending the parser across the whole direct map.
    constexpr usize max_info_size = 1 * MiB;
    char why[BOOT_INFO_MESSAGE_SIZE];
    if (parse_multiboot2(phys_to_virt(info_phys), info_phys, max_info_size, boot_info, why, sizeof(why)) != 0)
        panic("%s", why);

    parse_kernel_command_line(boot_info.command_line, cmdline);
    log_set_level(cmdline.options.loglevel);
    if (cmdline.options.lu_record_given)
        log_hold(); // until the guests run again: lib/log.hpp
    log_cmdline_diagnostics(cmdline);
    if (cmdline.has_fatal)
        panic("boot: the command line leaves no way to continue (see above)");
    if (!cmdline.options.lu_require_signature)
        log_warn("WARNING: lu_require_signature=no: next images that are unsigned, signed by an untrusted key or "
                 "badly signed WILL BE ACCEPTED for kexec and live update (only their digest is checked)");
    log_boot_info(boot_info);
}

void give_deferred_memory()
{
    static bool over = false;
    static u64 started_ns = 0, pending_at_start = 0;
    if (over)
        return;
    FrameAllocator &frames = frame_allocator();
    if (started_ns == 0) {
        started_ns = time_now_ns() | 1;
        pending_at_start = frames.pending_frames();
    }
    // After a live update, free memory reaches the heap while the guests run, `pace`
    // 2 MiB sections per pass of the scheduling loop (16: well under a millisecond under
    // TCG); with 0 only allocations that need memory give it.
    const u32 pace = cmdline.options.mem_defer_pace;
    if (pace == 0 || frames.give_pending(pace))
        return;
    over = true;
    if (pending_at_start != 0)
        log_info("mem: deferred start-up over: %lu MiB given to the heap while the guests ran, in %lu ms",
                 frame_to_addr(pending_at_start) / MiB, (time_now_ns() - started_ns) / 1000000);
}

// What a live-update boot leaves until its guests have run again, outside the blackout
// and out of their way: after AFTER_UPDATE_DELAY_TICKS scheduler ticks (1 ms each), so
// that each of a few runnable guests gets its slice first, then a piece per pass of the
// scheduling loop (a PCI device's BARs, about 2 ms each under QEMU; the image check).
constexpr u64 AFTER_UPDATE_DELAY_TICKS = 5;
bool after_update_pending;
bool aps_starting; // after a live update the APs come up while the guests run

void finish_after_update_step()
{
    if (pci::size_remaining_bars(1) != 0)
        return;
    // The APs start only now: sizing a BAR changes the machine's memory map, and QEMU 7.2's
    // multi-threaded TCG can crash when that happens while another CPU accesses MMIO (its
    // LAPIC) (docs/smp.md, "QEMU").
    aps_starting = smp::begin_starting_application_processors(boot_info, cmdline.options);
    self_image_check();
    register_boot_modules(boot_info);
    after_update_pending = false;
}

// The scheduling loop's work between guests: the APs' start-up and the work an update
// left, one held log line,
// IOMMU faults (once per tick), the control channel (only once the update's work is
// done: a live update needs this image's checked copy), then the deferred start-up's
// next sections.
void poll_devices_and_control()
{
    if (aps_starting)
        aps_starting = smp::continue_starting_application_processors();
    if (after_update_pending && timer::ticks() >= AFTER_UPDATE_DELAY_TICKS)
        finish_after_update_step();
    (void)log_drain_one();
    iommu::poll_faults_each_tick();
    if (!after_update_pending)
        control_port_poll();
    give_deferred_memory();
}

} // namespace

const BootInfo &boot_information() { return boot_info; }
const KernelOptions &boot_options() { return cmdline.options; }

extern "C" void kernel_main(u32 magic, u32 info_phys)
{
    u64 boot_tsc = cpu::rdtsc();
    direct_map_offset = DIRECT_MAP_BASE;
    // Without a console UART the log has nowhere to go; the hypervisor runs anyway (it is
    // still driven through the control port), so its absence is not an error here.
    (void)console_uart().init();
    run_constructors();
    log_info("Baton %s (build %s) starting", baton_version, baton_build_id);
    gdt::init();
    idt::init();
    parse_boot_information(magic, info_phys);
    // From here until the commit, a failure of this image goes back to the old one.
    rollback_arm(cmdline.options);
    if (injected_fault() == InjectedFault::panic_early)
        panic("update: injected fault panic_early");
    setup_memory(boot_info, cmdline.options, incoming);
    u64 parsed_tsc = cpu::rdtsc();
    rollback_reached(UpdatePhase::record_parsed);
    // After a live update time continues from the first boot, at the same rate.
    if (incoming.usable)
        timer::init(incoming.root.time_origin_tsc(), incoming.root.tsc_khz(), incoming.root.lapic_timer_khz());
    else
        timer::init(boot_tsc);
    // Before anything allocates: after a live update the unit may still point at tables
    // the previous image left, and its DMA must stay blocked (docs/iommu.md).
    // After a live update the BARs are sized once the guests run (finish_after_update),
    // but for the devices they drive (adopt_assignment).
    pci::enumerate_bus0(incoming.usable ? pci::BarSizing::later : pci::BarSizing::now);
    static iommu::Handover iommu_handover;
    if (incoming.usable) {
        iommu::read_handover(incoming.root, iommu_handover);
        iommu::set_pending_handover(&iommu_handover);
    }
    iommu::init(boot_info);
    const char *why_no_svm = nullptr;
    if (!svm::supported(&why_no_svm))
        log_error("svm: %s; guests cannot run", why_no_svm);
    else if (svm::enable() != 0)
        panic("svm: out of memory while enabling SVM");
    fpu::init(); // guests' x87/SSE state is theirs; this image never uses the FPU itself

    // A live-update boot never starts the boot modules' guests: its guests come from
    // the record, or not at all. Every boot knows the modules, for `create`; after an
    // update they are registered, and this image's copy checked, once the guests have run
    // again (poll_devices_and_control).
    const bool first_boot = why_no_svm == nullptr && !incoming.usable && !cmdline.options.lu_record_given;
    if (why_no_svm == nullptr && incoming.usable) {
        resume_after_update(incoming, cmdline.options, boot_tsc, parsed_tsc);
        after_update_pending = true;
    } else {
        if (cmdline.options.lu_record_given) {
            rollback_if_pending("no guest can be restored: %s", why_no_svm ? why_no_svm : incoming.why);
            log_error("update: no guest is started (%s)", why_no_svm ? why_no_svm : incoming.why);
        }
        self_image_find(incoming, false);
        register_boot_modules(boot_info);
    }
    // After an update: in steps while the guests run again, once the PCI BARs are sized
    // (finish_after_update_step, docs/smp.md).
    if (!after_update_pending)
        smp::start_application_processors(boot_info, cmdline.options);
    log_release(); // what is still kept is written a line per scheduling round
    if (first_boot)
        start_boot_guests();
    if (control_port_init(control))
        log_info("control: listening on COM2");
    else
        log_info("control: no UART at COM2; the control channel is off");
    log_info("boot: done");
    run_selftest(cmdline.options.selftest);
    run_guests(poll_devices_and_control, cmdline.options.after_boot == AfterBoot::exit);
}
