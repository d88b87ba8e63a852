// SPDX-License-Identifier: MIT
// TSC and LAPIC timer calibration against the PIT, and the periodic scheduler tick.
#include "arch/x86_64/devices/timer.hpp"
#include "arch/x86_64/cpu/cpu.hpp"
#include "lib/log.hpp"
#include "lib/this_cpu.hpp"
#include "lib/time.hpp"
#include "mm/phys.hpp"

namespace {

constexpr u32 LAPIC_EOI = 0xb0, LAPIC_SVR = 0xf0, LAPIC_LVT_TIMER = 0x320, LAPIC_TIMER_INITIAL = 0x380,
              LAPIC_TIMER_CURRENT = 0x390, LAPIC_TIMER_DIVIDE = 0x3e0;
constexpr u32 LVT_MASKED = 1u << 16, LVT_PERIODIC = 1u << 17;
constexpr u16 PIT_CHANNEL2 = 0x42, PIT_COMMAND = 0x43, PIT_GATE = 0x61;
constexpr u64 PIT_HZ = 1193182;
// A LAPIC timer rate handed over by the previous image is kept only within these bounds
// (bus clocks of real parts are tens of MHz to a few GHz; QEMU's is 1 GHz).
constexpr u64 LAPIC_KHZ_MIN = 1000, LAPIC_KHZ_MAX = 10'000'000;

volatile u32 *lapic;
u64 tsc_per_ms;
u64 lapic_per_ms;
u64 first_boot_tsc;
volatile u64 tick_count;

u32 lapic_read(u32 reg) { return lapic[reg / 4]; }
void lapic_write(u32 reg, u32 value) { lapic[reg / 4] = value; }

void mask_legacy_pics()
{
    cpu::outb(0x21, 0xff);
    cpu::outb(0xa1, 0xff);
}

// Runs PIT channel 2 one-shot for `ms` milliseconds and returns the TSC ticks and LAPIC
// timer ticks that passed meanwhile.
void measure(u32 ms, u64 *tsc_ticks, u64 *lapic_ticks)
{
    u32 count = static_cast<u32>(PIT_HZ * ms / 1000);
    u8 gate = cpu::inb(PIT_GATE);
    cpu::outb(PIT_GATE, static_cast<u8>((gate & ~0x02) | 0x01)); // gate on, speaker off
    cpu::outb(PIT_COMMAND, 0xb0); // channel 2, lobyte/hibyte, mode 0
    cpu::outb(PIT_CHANNEL2, static_cast<u8>(count));
    cpu::outb(PIT_CHANNEL2, static_cast<u8>(count >> 8));
    // Restarting the gate reloads the counter.
    gate = cpu::inb(PIT_GATE);
    cpu::outb(PIT_GATE, static_cast<u8>(gate & ~0x01u));
    cpu::outb(PIT_GATE, gate | 0x01);

    lapic_write(LAPIC_TIMER_INITIAL, 0xffffffff);
    u64 tsc_start = cpu::rdtsc();
    u32 lapic_start = lapic_read(LAPIC_TIMER_CURRENT);
    while ((cpu::inb(PIT_GATE) & 0x20) == 0)
        cpu::pause();
    *tsc_ticks = cpu::rdtsc() - tsc_start;
    *lapic_ticks = lapic_start - lapic_read(LAPIC_TIMER_CURRENT);
    lapic_write(LAPIC_TIMER_INITIAL, 0);
}

} // namespace

void timer::init(u64 origin_tsc, u64 known_tsc_khz, u64 known_lapic_khz)
{
    first_boot_tsc = origin_tsc;
    mask_legacy_pics();
    u64 base = cpu::rdmsr(cpu::MSR_APIC_BASE);
    cpu::wrmsr(cpu::MSR_APIC_BASE, base | cpu::APIC_BASE_ENABLE); // xAPIC enabled
    lapic = static_cast<volatile u32 *>(phys_to_virt(base & 0xffffff000ul));
    lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
    lapic_write(LAPIC_TIMER_DIVIDE, 0xb); // divide by 1
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | TICK_VECTOR);

    if (known_lapic_khz != 0 && (known_lapic_khz < LAPIC_KHZ_MIN || known_lapic_khz > LAPIC_KHZ_MAX)) {
        log_warn("timer: the handed-over LAPIC timer rate %lu kHz is implausible; measuring it", known_lapic_khz);
        known_lapic_khz = 0;
    }
    if (known_tsc_khz != 0 && known_lapic_khz != 0) {
        // After a live update (record v7): the same CPU, the same rates; measuring the LAPIC
        // timer against the PIT again would cost about 6 ms of the blackout.
        tsc_per_ms = known_tsc_khz;
        lapic_per_ms = known_lapic_khz;
    } else if (known_tsc_khz != 0) {
        // Only the LAPIC timer is measured, still against the PIT (measuring it against
        // the TSC gave 2.5x too fast now and then under TCG), over a shorter window.
        u64 tsc_ticks = 0, lapic_ticks = 0;
        measure(1, &tsc_ticks, &lapic_ticks);
        measure(5, &tsc_ticks, &lapic_ticks);
        tsc_per_ms = known_tsc_khz;
        lapic_per_ms = lapic_ticks / 5;
    } else {
        // Two rounds: the first warms up TCG's translation of this loop.
        u64 tsc_ticks = 0, lapic_ticks = 0;
        measure(5, &tsc_ticks, &lapic_ticks);
        measure(20, &tsc_ticks, &lapic_ticks);
        tsc_per_ms = tsc_ticks / 20;
        lapic_per_ms = lapic_ticks / 20;
    }
    if (tsc_per_ms == 0 || lapic_per_ms == 0)
        panic("timer: calibration failed (TSC %lu kHz, LAPIC %lu kHz)", tsc_per_ms, lapic_per_ms);
    log_info("timer: TSC %lu kHz, LAPIC timer %lu kHz", tsc_per_ms, lapic_per_ms);
}

void timer::start_tick(u64 period_ns)
{
    u64 initial = lapic_per_ms * period_ns / NS_PER_MS;
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | TICK_VECTOR);
    lapic_write(LAPIC_TIMER_INITIAL, static_cast<u32>(initial > 0xffffffff ? 0xffffffff : initial));
}

void timer::handle_tick()
{
    if (this_cpu_index() == 0) // every CPU ticks; ticks() counts the bootstrap CPU's
        tick_count = tick_count + 1;
    lapic_write(LAPIC_EOI, 0);
}

void timer::quiesce()
{
    if (lapic != nullptr) { // a rollback can start before the timer was set up
        lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | TICK_VECTOR);
        lapic_write(LAPIC_TIMER_INITIAL, 0);
        lapic_write(LAPIC_EOI, 0);
    }
    mask_legacy_pics();
}

u64 timer::tsc_khz() { return tsc_per_ms; }
u64 timer::lapic_khz() { return lapic_per_ms; }
u64 timer::origin_tsc() { return first_boot_tsc; }
u64 timer::ticks() { return tick_count; }

u64 time_now_ns()
{
    if (tsc_per_ms == 0)
        return 0;
    u64 elapsed = cpu::rdtsc() - first_boot_tsc;
    // Split to avoid overflowing elapsed * 10^6 for long uptimes.
    return elapsed / tsc_per_ms * NS_PER_MS + elapsed % tsc_per_ms * NS_PER_MS / tsc_per_ms;
}
