// SPDX-License-Identifier: MIT
// Application processors: MADT, INIT-SIPI-SIPI, per-CPU set-up, idling, parking.
#include "arch/x86_64/smp/smp.hpp"
#include "arch/x86_64/acpi/acpi.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "arch/x86_64/cpu/fpu.hpp"
#include "arch/x86_64/cpu/idt.hpp"
#include "arch/x86_64/cpu/paging.hpp"
#include "arch/x86_64/devices/local_apic.hpp"
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/smp/call_function.hpp"
#include "arch/x86_64/svm/svm.hpp"
#include "arch/x86_64/svm/vcpu_loop.hpp"
#include "dom/scheduler.hpp"
#include "dom/tlb_shootdown.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/time.hpp"
#include "mm/frames.hpp"

extern "C" const u8 ap_trampoline_start[], ap_trampoline_end[];
extern "C" void ap_long_mode_entry();
extern "C" [[noreturn]] void smp_ap_main(u32 ticket);
// A ticket's stack, read by ap_long_mode_entry (ap_trampoline.S) before any C++ runs.
extern "C" u64 smp_ap_stack_tops[smp::MAX_CPUS];
u64 smp_ap_stack_tops[smp::MAX_CPUS];

namespace smp {

namespace {

// The trampoline's parameters (AP_P_* in ap_trampoline.S).
constexpr u64 PARAM_CR3 = 0xf00, PARAM_ENTRY = 0xf08, PARAM_TICKET = 0xf10, PARAM_LIMIT = 0xf14;
constexpr u64 PML4_PHYS = AP_TABLES_PHYS, PDPT_PHYS = AP_TABLES_PHYS + PAGE_SIZE, PD_PHYS = PDPT_PHYS + PAGE_SIZE;
static_assert(PD_PHYS + PAGE_SIZE == AP_TRAMPOLINE_PHYS);
static_assert(local_apic::startup_page_ok(AP_TRAMPOLINE_PHYS));
constexpr u64 PTE_PRESENT = 1u << 0, PTE_WRITE = 1u << 1, PTE_LARGE = 1u << 7;
constexpr usize PML4_ENTRIES = 512, PML4_KERNEL_HALF = 256;

// Each AP's frames: the SVM host save area, its host VMCB, three IST stacks, then its
// kernel stack.
constexpr unsigned AP_MEMORY_ORDER = 4; // 64 KiB
constexpr u64 AP_MEMORY_SIZE = PAGE_SIZE << AP_MEMORY_ORDER;
constexpr u64 AP_HOST_VMCB_OFFSET = PAGE_SIZE;
constexpr u64 AP_IST_SIZE = 3 * PAGE_SIZE;
constexpr u64 AP_IST_OFFSET = 2 * PAGE_SIZE;
static_assert(AP_IST_OFFSET + gdt::IST_COUNT * AP_IST_SIZE + 16 * 1024 <= AP_MEMORY_SIZE);

// INIT-SIPI-SIPI delays (Intel SDM vol. 3A, 8.4.4.1): 10 ms after INIT, 200 us between
// the start-up IPIs. How long the local APIC may take to accept one IPI.
constexpr u64 INIT_DELAY_NS = 10 * NS_PER_MS;
constexpr u64 SIPI_DELAY_NS = 200 * 1000;
constexpr u64 IPI_ACCEPT_NS = 1 * NS_PER_MS;

// cpus[0]: the bootstrap CPU; cpus[t + 1]: the AP that took ticket t.
PerCpu cpus[MAX_CPUS];
usize prepared; // blocks set up for APs (tickets given out at most)
bool per_cpu_ready; // GS points at a per-CPU block on every CPU that runs (from init_bootstrap on)
u32 bootstrap_apic_id;

// What the bootstrap CPU runs with, for the APs to copy.
struct ControlRegisters {
    u64 cr0, cr3, cr4, efer, pat;
};
ControlRegisters bootstrap_registers;

template <typename T>
T &low(u64 phys)
{
    return *phys_to<T>(phys);
}

bool find_madt(const BootInfo &boot, madt::Info &info, char *why, usize why_capacity)
{
    const bool v2 = boot.has_acpi_rsdp_v2;
    if (!v2 && !boot.has_acpi_rsdp_v1)
        return format(why, why_capacity, "the loader passed no ACPI RSDP"), false;
    acpi::Table table;
    if (acpi::find_table(v2 ? boot.acpi_rsdp_v2 : boot.acpi_rsdp_v1, v2 ? ACPI_RSDP_V2_SIZE : ACPI_RSDP_V1_SIZE, "APIC",
                         paging::direct_map_end(), table, nullptr, why, why_capacity) != 0)
        return false;
    return madt::parse(table.bytes, table.length, info, why, why_capacity) == 0;
}

// The PML4 the trampoline enables paging with: the first 2 MiB identity-mapped (it runs
// there) and the kernel's upper half (the kernel and the direct map), until the AP loads
// the kernel's own root.
void build_low_tables(u64 kernel_root)
{
    u64 *pml4 = phys_to<u64>(PML4_PHYS);
    const u64 *kernel = phys_to<const u64>(kernel_root);
    for (usize i = 0; i < PML4_ENTRIES; i++)
        pml4[i] = i >= PML4_KERNEL_HALF ? kernel[i] : 0;
    u64 *pdpt = phys_to<u64>(PDPT_PHYS), *pd = phys_to<u64>(PD_PHYS);
    for (usize i = 0; i < PML4_ENTRIES; i++)
        pdpt[i] = pd[i] = 0;
    pml4[0] = PDPT_PHYS | PTE_PRESENT | PTE_WRITE;
    pdpt[0] = PD_PHYS | PTE_PRESENT | PTE_WRITE;
    pd[0] = PTE_PRESENT | PTE_WRITE | PTE_LARGE;
}

void install_trampoline(usize tickets)
{
    u8 *page = phys_to<u8>(AP_TRAMPOLINE_PHYS);
    const usize size = static_cast<usize>(ap_trampoline_end - ap_trampoline_start);
    if (size > PARAM_CR3) // the assembler cannot check this (its jumps are sized late)
        panic("smp: the AP trampoline (%zu bytes) runs into its parameters at 0x%lx", size, PARAM_CR3);
    for (usize i = 0; i < size; i++)
        page[i] = ap_trampoline_start[i];
    low<u64>(AP_TRAMPOLINE_PHYS + PARAM_CR3) = PML4_PHYS;
    low<u64>(AP_TRAMPOLINE_PHYS + PARAM_ENTRY) = reinterpret_cast<u64>(&ap_long_mode_entry);
    low<u32>(AP_TRAMPOLINE_PHYS + PARAM_TICKET) = 0;
    low<u32>(AP_TRAMPOLINE_PHYS + PARAM_LIMIT) = static_cast<u32>(tickets);
}

// A block for the next AP: its frames, stacks and (with SVM on) host save area.
bool prepare_block(bool svm_on)
{
    const u64 memory =
        frame_allocator().alloc_frames(AP_MEMORY_ORDER, MemClass::ephemeral, OWNER_HYPERVISOR, FrameType::heap);
    if (memory == 0)
        return false;
    PerCpu &cpu = cpus[prepared + 1];
    cpu = PerCpu{};
    cpu.self = &cpu;
    cpu.memory_pa = memory;
    cpu.stack_top = reinterpret_cast<u64>(phys_to<u8>(memory + AP_MEMORY_SIZE));
    if (svm_on) {
        u64 *pages = phys_to<u64>(memory); // the host save area and the host VMCB
        for (usize i = 0; i < 2 * PAGE_SIZE / sizeof(u64); i++)
            pages[i] = 0;
        cpu.host_save_pa = memory;
    }
    smp_ap_stack_tops[prepared] = cpu.stack_top;
    prepared++;
    return true;
}

bool reported(u32 apic_id)
{
    for (usize i = 1; i <= prepared; i++)
        if (cpus[i].load_state() == CpuState::up && cpus[i].apic_id == apic_id)
            return true;
    return false;
}

usize count_up()
{
    usize count = 0;
    for (usize i = 1; i <= prepared; i++)
        if (cpus[i].load_state() == CpuState::up)
            count++;
    return count;
}

} // namespace

void init_bootstrap()
{
    bootstrap_apic_id = local_apic::id();
    PerCpu &cpu = cpus[0];
    cpu.self = &cpu;
    cpu.apic_id = bootstrap_apic_id;
    cpu.store_state(CpuState::up);
    cpu::wrmsr(cpu::MSR_GS_BASE, reinterpret_cast<u64>(&cpu));
    __atomic_store_n(&per_cpu_ready, true, __ATOMIC_RELEASE);
}

void handle_tlb_shootdown() { local_apic::eoi(); }
void handle_reschedule() { local_apic::eoi(); }

namespace {

// The start-up in steps, so that after a live update the guests run while the APs come
// up: INIT, INIT_DELAY_NS, two start-up IPIs SIPI_DELAY_NS apart, then up to
// START_TIMEOUT_MS for every AP to report.
enum class StartStep : u8 { none, init_sent };
struct StartUp {
    StartStep step = StartStep::none;
    u32 targets[MAX_CPUS] = {};
    usize target_count = 0;
    u64 started_ns = 0, step_ns = 0;
    usize processors_listed = 0; // by the MADT
    u32 smp_limit = 0; // options.smp_cpus
};
StartUp start_up;

void send_startup_ipis()
{
    const u32 startup = local_apic::DELIVERY_STARTUP | local_apic::startup_vector(AP_TRAMPOLINE_PHYS);
    for (usize i = 0; i < start_up.target_count; i++)
        if (!reported(start_up.targets[i]))
            (void)local_apic::send_ipi(start_up.targets[i], startup, IPI_ACCEPT_NS);
}

// The end of a start-up: laggards back to wait-for-SIPI, and the one line saying who runs.
void finish_start()
{
    // No ticket for a late AP; one that did not report goes back to wait-for-SIPI.
    if (start_up.target_count != 0)
        low<u32>(AP_TRAMPOLINE_PHYS + PARAM_LIMIT) = 0;
    for (usize i = 0; i < start_up.target_count; i++) {
        if (reported(start_up.targets[i]))
            continue;
        log_warn("smp: CPU %zu (APIC id %u) did not start", i + 1, start_up.targets[i]);
        (void)local_apic::send_ipi(start_up.targets[i], local_apic::DELIVERY_INIT | local_apic::ICR_ASSERT,
                                   IPI_ACCEPT_NS);
    }
    // The ids in ascending order: the APs report in whatever order they won their tickets.
    u32 up[MAX_CPUS];
    usize up_count = 0;
    for (usize i = 1; i <= prepared; i++) {
        if (cpus[i].load_state() != CpuState::up)
            continue;
        usize at = up_count++;
        for (; at > 0 && up[at - 1] > cpus[i].apic_id; at--)
            up[at] = up[at - 1];
        up[at] = cpus[i].apic_id;
    }
    char ids[4 * MAX_CPUS + 8];
    usize length = format(ids, sizeof(ids), "%u", bootstrap_apic_id);
    for (usize i = 0; i < up_count; i++)
        length += format(ids + length, sizeof(ids) - length, " %u", up[i]);
    char limit[48] = "";
    if (start_up.smp_limit != 0 && start_up.smp_limit < start_up.processors_listed)
        format(limit, sizeof(limit), "; smp=%u leaves %zu out", start_up.smp_limit,
               start_up.processors_listed - start_up.smp_limit);
    log_info("smp: %zu of %zu CPUs up (APIC ids %s), %lu ms%s", online_count(), start_up.processors_listed, ids,
             (time_now_ns() - start_up.started_ns) / NS_PER_MS, limit);
    start_up.step = StartStep::none;
    check_tsc_in_step();
}

} // namespace

bool begin_starting_application_processors(const BootInfo &boot, const KernelOptions &options)
{
    start_up = StartUp{};
    start_up.started_ns = time_now_ns();
    start_up.smp_limit = options.smp_cpus;
    if (local_apic::in_x2apic_mode())
        return log_warn("smp: the firmware left the local APIC in x2APIC mode, which this xAPIC driver cannot "
                        "drive; running on the bootstrap CPU only"),
               false;
    local_apic::init();
    init_bootstrap();
    static madt::Info info; // 300 bytes: kept off the small kernel stack
    char why[160];
    if (!find_madt(boot, info, why, sizeof(why)))
        return log_warn("smp: %s; running on the bootstrap CPU only", why), false;
    if (info.local_apic_address != local_apic::base_phys())
        log_warn("smp: the MADT puts the local APIC at 0x%lx, IA32_APIC_BASE at 0x%lx; using the latter",
                 info.local_apic_address, local_apic::base_phys());
    if (info.processors_dropped + info.processors_unreachable != 0)
        log_warn("smp: %zu processors beyond the first %zu and %zu with x2APIC ids are left out",
                 info.processors_dropped, MAX_CPUS, info.processors_unreachable);
    start_up.processors_listed = info.processor_count;
    const usize wanted = options.smp_cpus == 0 ? MAX_CPUS : options.smp_cpus;
    const bool svm_on = (cpu::rdmsr(cpu::MSR_EFER) & cpu::EFER_SVME) != 0;
    if (wanted > 1 && !frame_allocator().usable_ram().covers(AP_LOW_PAGES))
        return log_warn("smp: low pages 0x%lx-0x%lx are not RAM; running on the bootstrap CPU only", AP_LOW_PAGES.start,
                        AP_LOW_PAGES.end),
               false;

    // The targets: MADT order, the bootstrap CPU skipped, as many as allowed and allocated.
    for (usize i = 0; i < info.processor_count && start_up.target_count + 1 < wanted; i++) {
        if (info.apic_ids[i] == bootstrap_apic_id)
            continue;
        if (!prepare_block(svm_on)) {
            log_warn("smp: out of memory for CPU %zu's stacks; it is left out", i);
            break;
        }
        start_up.targets[start_up.target_count++] = info.apic_ids[i];
    }
    if (start_up.target_count == 0) {
        finish_start();
        return false;
    }
    bootstrap_registers = {cpu::read_cr0(), cpu::read_cr3(), cpu::read_cr4(), cpu::rdmsr(cpu::MSR_EFER),
                           cpu::rdmsr(cpu::MSR_PAT)};
    build_low_tables(bootstrap_registers.cr3);
    install_trampoline(prepared);
    for (usize i = 0; i < start_up.target_count; i++)
        (void)local_apic::send_ipi(start_up.targets[i], local_apic::DELIVERY_INIT | local_apic::ICR_ASSERT,
                                   IPI_ACCEPT_NS);
    start_up.step = StartStep::init_sent;
    start_up.step_ns = time_now_ns();
    return true;
}

bool continue_starting_application_processors()
{
    if (start_up.step == StartStep::none)
        return false;
    if (time_now_ns() - start_up.step_ns < INIT_DELAY_NS)
        return true;
    // From the start-up IPIs until every AP reported, the bootstrap CPU only waits: QEMU
    // 7.2's multi-threaded TCG crashed (a segmentation fault in its MMIO dispatch) when
    // this CPU went on with guests, and so with LAPIC writes, while APs came up.
    send_startup_ipis();
    const u64 first = time_now_ns();
    while (time_now_ns() - first < SIPI_DELAY_NS)
        cpu::pause();
    send_startup_ipis(); // a second one, in case the first was lost
    const u64 deadline = time_now_ns() + START_TIMEOUT_MS * NS_PER_MS;
    while (count_up() < start_up.target_count && time_now_ns() < deadline)
        cpu::pause();
    finish_start();
    return false;
}

void start_application_processors(const BootInfo &boot, const KernelOptions &options)
{
    if (!begin_starting_application_processors(boot, options))
        return;
    while (continue_starting_application_processors())
        cpu::pause();
}

usize online_count() { return 1 + count_up(); }

PerCpu *cpu_if_up(u32 index)
{
    return index < MAX_CPUS && cpus[index].load_state() == CpuState::up ? &cpus[index] : nullptr;
}

void park_application_processors()
{
    if (prepared == 0 || !local_apic::ready() || local_apic::id() != bootstrap_apic_id)
        return;
    // A start-up still under way ends first (110 ms at most): an AP must not be between
    // its start-up IPI and its report while the memory it runs from changes hands.
    while (continue_starting_application_processors())
        cpu::pause();
    const u64 started_ns = time_now_ns();
    usize running = 0;
    for (usize i = 1; i <= prepared; i++) {
        PerCpu &cpu = cpus[i];
        if (cpu.load_state() != CpuState::up)
            continue;
        cpu.store_state(CpuState::stop_requested);
        running++;
        (void)local_apic::send_ipi(cpu.apic_id, local_apic::DELIVERY_FIXED | local_apic::ICR_ASSERT | STOP_VECTOR,
                                   IPI_ACCEPT_NS);
    }
    const u64 deadline = time_now_ns() + STOP_TIMEOUT_MS * NS_PER_MS;
    usize parked = 0;
    for (usize i = 1; i <= prepared; i++) {
        PerCpu &cpu = cpus[i];
        if (cpu.load_state() != CpuState::stop_requested && cpu.load_state() != CpuState::stopped)
            continue;
        while (cpu.load_state() != CpuState::stopped && time_now_ns() < deadline)
            cpu::pause();
        if (cpu.load_state() != CpuState::stopped)
            log_warn("smp: CPU %zu (APIC id %u) did not acknowledge the stop request; INIT sent anyway", i,
                     cpu.apic_id);
        // INIT puts it in wait-for-SIPI: it runs nothing until the next image starts it.
        if (local_apic::send_ipi(cpu.apic_id, local_apic::DELIVERY_INIT | local_apic::ICR_ASSERT, IPI_ACCEPT_NS))
            parked++;
        cpu.store_state(CpuState::offline);
        scheduler_set_cpu_online(cpu.index, false);
    }
    prepared = 0;
    log_info("smp: %zu of %zu application processors parked in wait-for-SIPI, %lu us", parked, running,
             (time_now_ns() - started_ns) / 1000);
}

void handle_stop_request()
{
    local_apic::eoi();
    this_cpu().store_state(CpuState::stopped);
    cpu::halt_forever(); // interrupts off; INIT follows
}

} // namespace smp

// lib/this_cpu.hpp's hook. Before init_bootstrap only the bootstrap CPU runs and GS may
// point anywhere (a fresh boot, a new image after a jump): index 0.
u32 this_cpu_index() { return __atomic_load_n(&smp::per_cpu_ready, __ATOMIC_ACQUIRE) ? smp::this_cpu().index : 0; }

namespace {
// A fixed IPI to CPU `index`. Not to this CPU, which is running this code and so is
// neither in guest mode nor halted, nor to a CPU that is not up.
void kick(u32 index, u8 vector, const char *what)
{
    using namespace smp;
    if (index >= MAX_CPUS || index == this_cpu_index() || cpus[index].load_state() != CpuState::up)
        return;
    if (!local_apic::send_ipi(cpus[index].apic_id, local_apic::DELIVERY_FIXED | local_apic::ICR_ASSERT | vector,
                              IPI_ACCEPT_NS))
        log_warn("smp: CPU %u (APIC id %u) did not accept the %s IPI", index, cpus[index].apic_id, what);
}
} // namespace

// dom/tlb_shootdown.hpp's hook: a CPU in guest mode leaves it.
void arch_tlb_shootdown_kick(u32 index) { kick(index, smp::TLB_SHOOTDOWN_VECTOR, "TLB shootdown"); }
// dom/scheduler.hpp's hook: a CPU in guest mode leaves it, a halted one wakes and picks.
void arch_reschedule_kick(u32 index) { kick(index, smp::RESCHEDULE_VECTOR, "reschedule"); }

// The C++ half of an AP's start, on its own stack, still on the trampoline's page tables.
extern "C" void smp_ap_main(u32 ticket)
{
    using namespace smp;
    PerCpu &cpu = cpus[ticket + 1];
    cpu.store_state(CpuState::starting);
    cpu.index = ticket + 1; // before anything reads this_cpu_index()
    const ControlRegisters &bsp = bootstrap_registers;
    cpu::write_cr3(bsp.cr3);
    cpu::write_cr4(bsp.cr4);
    cpu::write_cr0(bsp.cr0);
    cpu::wrmsr(cpu::MSR_EFER, bsp.efer & ~cpu::EFER_SVME);
    cpu::wrmsr(cpu::MSR_PAT, bsp.pat);
    u64 ist_tops[gdt::IST_COUNT];
    for (usize i = 0; i < gdt::IST_COUNT; i++)
        ist_tops[i] = reinterpret_cast<u64>(phys_to<u8>(cpu.memory_pa + AP_IST_OFFSET + (i + 1) * AP_IST_SIZE));
    gdt::load(cpu.tables, ist_tops);
    idt::load();
    cpu::wrmsr(cpu::MSR_GS_BASE, reinterpret_cast<u64>(&cpu));
    local_apic::enable_this_cpu(timer::SPURIOUS_VECTOR);
    cpu.apic_id = local_apic::id();
    cpu.store_state(CpuState::up);
    if (cpu.host_save_pa != 0) { // ready to run vCPUs, as svm::enable left the bootstrap CPU
        svm::enable_on_ap(cpu.index, cpu.host_save_pa, cpu.host_save_pa + AP_HOST_VMCB_OFFSET);
        fpu::init();
        run_guests_on_ap(); // STOP_VECTOR ends it in its handler
    }
    for (;;) // no SVM: nothing to run here
        asm volatile("sti; hlt" ::: "memory");
}
