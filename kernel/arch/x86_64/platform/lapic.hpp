// SPDX-License-Identifier: MIT
// The local APIC of one vCPU in xAPIC mode: registers, priorities, timer, IPIs, INIT/SIPI.
#pragma once
#include "arch/x86_64/platform/apic_bus.hpp"
#include "arch/x86_64/platform/device_model.hpp"
#include "lib/types.hpp"

// Intel SDM vol. 3, chapter "Advanced Programmable Interrupt Controller" (xAPIC only: we do
// not advertise x2APIC, and the MSR refuses it). The caller decodes the MMIO access at
// 0xFEE00000, refuses anything but aligned 32-bit accesses and passes the page offset.
//
// Interrupt flow: messages arrive with accept() (IRR, TMR); before each VMRUN the platform
// asks pending_vector() and, when it injects that vector, calls acknowledge() (IRR -> ISR).
// The guest's EOI write retires the highest in-service vector; a level-triggered one is
// reported to the EoiSink. Every access first runs advance(now), so the timer is current.
//
// Choices where hardware is vague or varies (each a documented decision, not an accident):
// - Reads of undefined or reserved offsets return 0, writes to them are dropped; both set
//   ESR "illegal register address" like P6/Pentium 4 xAPICs. Writes to read-only
//   registers are ignored silently.
// - A software-disabled APIC (SVR bit 8 clear) drops fixed and lowest-priority messages
//   (as KVM does) and holds what is already in IRR/ISR without presenting it.
// - Clearing the global enable bit resets every register but the ID to its power-up value
//   (the SDM allows it: "prior initialization ... may be lost"); while globally disabled
//   the model accepts nothing, reads 0 and ignores writes.
// - The APIC ID register is writable (bits 31:24), as on the xAPICs and in KVM; routing
//   uses the current value.
// - The timer counts at `bus_hz`, 1 GHz unless configured: the rate KVM and QEMU give their
//   guests (one count per nanosecond), which Linux calibrates against the PIT like any
//   other; 2^32 counts at divide 1 still span 4.3 s.
class Lapic final {
public:
    // Register offsets (SDM table "Local APIC Register Address Map"). 16-byte spaced.
    static constexpr u32 REG_ID = 0x020;
    static constexpr u32 REG_VERSION = 0x030;
    static constexpr u32 REG_TPR = 0x080;
    static constexpr u32 REG_APR = 0x090;
    static constexpr u32 REG_PPR = 0x0a0;
    static constexpr u32 REG_EOI = 0x0b0;
    static constexpr u32 REG_RRD = 0x0c0;
    static constexpr u32 REG_LDR = 0x0d0;
    static constexpr u32 REG_DFR = 0x0e0;
    static constexpr u32 REG_SVR = 0x0f0;
    static constexpr u32 REG_ISR = 0x100; // 8 registers, vectors 32*i .. 32*i+31
    static constexpr u32 REG_TMR = 0x180;
    static constexpr u32 REG_IRR = 0x200;
    static constexpr u32 REG_ESR = 0x280;
    static constexpr u32 REG_LVT_CMCI = 0x2f0;
    static constexpr u32 REG_ICR_LOW = 0x300;
    static constexpr u32 REG_ICR_HIGH = 0x310;
    static constexpr u32 REG_LVT_TIMER = 0x320;
    static constexpr u32 REG_LVT_THERMAL = 0x330;
    static constexpr u32 REG_LVT_PERF = 0x340;
    static constexpr u32 REG_LVT_LINT0 = 0x350;
    static constexpr u32 REG_LVT_LINT1 = 0x360;
    static constexpr u32 REG_LVT_ERROR = 0x370;
    static constexpr u32 REG_TIMER_INITIAL = 0x380;
    static constexpr u32 REG_TIMER_CURRENT = 0x390;
    static constexpr u32 REG_TIMER_DIVIDE = 0x3e0;
    static constexpr u32 VECTOR_WORDS = 8; // ISR/TMR/IRR: 256 bits each

    // Version register: integrated APIC (0x14), highest LVT index 6 (CMCI is present, so
    // Linux masks it too), no EOI-broadcast suppression.
    static constexpr u32 VERSION = 0x14;
    static constexpr u32 MAX_LVT = 6;
    static constexpr u32 VERSION_VALUE = VERSION | (MAX_LVT << 16);

    // LVT indices into State::lvt, in the order of the register map.
    static constexpr u32 LVT_TIMER = 0;
    static constexpr u32 LVT_THERMAL = 1;
    static constexpr u32 LVT_PERF = 2;
    static constexpr u32 LVT_LINT0 = 3;
    static constexpr u32 LVT_LINT1 = 4;
    static constexpr u32 LVT_ERROR = 5;
    static constexpr u32 LVT_CMCI = 6;
    static constexpr u32 LVT_COUNT = 7;

    // LVT, ICR and message fields.
    static constexpr u32 VECTOR_MASK = 0xff;
    static constexpr u32 DELIVERY_MODE_SHIFT = 8;
    static constexpr u32 DELIVERY_MODE_MASK = 0x7 << DELIVERY_MODE_SHIFT;
    static constexpr u32 DEST_LOGICAL = u32{1} << 11; // ICR
    static constexpr u32 DELIVERY_PENDING = u32{1} << 12; // always reads idle here
    static constexpr u32 LINT_POLARITY_LOW = u32{1} << 13;
    static constexpr u32 LINT_REMOTE_IRR = u32{1} << 14;
    static constexpr u32 ICR_LEVEL_ASSERT = u32{1} << 14;
    static constexpr u32 TRIGGER_LEVEL = u32{1} << 15;
    static constexpr u32 LVT_MASKED = u32{1} << 16;
    static constexpr u32 TIMER_MODE_SHIFT = 17;
    static constexpr u32 TIMER_MODE_MASK = 0x3 << TIMER_MODE_SHIFT;
    static constexpr u32 TIMER_ONE_SHOT = 0;
    static constexpr u32 TIMER_PERIODIC = 1;
    static constexpr u32 TIMER_TSC_DEADLINE = 2; // 3 is reserved
    static constexpr u32 ICR_SHORTHAND_SHIFT = 18;
    static constexpr u32 ICR_SHORTHAND_MASK = 0x3 << ICR_SHORTHAND_SHIFT;
    static constexpr u32 ICR_DEST_SHIFT = 24; // in ICR high

    // Writable bits per register (what a guest write can change).
    static constexpr u32 LVT_TIMER_BITS = VECTOR_MASK | LVT_MASKED | TIMER_MODE_MASK;
    static constexpr u32 LVT_LOCAL_BITS = VECTOR_MASK | DELIVERY_MODE_MASK | LVT_MASKED; // thermal, perf, CMCI
    static constexpr u32 LVT_LINT_BITS =
        VECTOR_MASK | DELIVERY_MODE_MASK | LINT_POLARITY_LOW | TRIGGER_LEVEL | LVT_MASKED;
    static constexpr u32 LVT_ERROR_BITS = VECTOR_MASK | LVT_MASKED;
    static constexpr u32 ICR_LOW_BITS =
        VECTOR_MASK | DELIVERY_MODE_MASK | DEST_LOGICAL | ICR_LEVEL_ASSERT | TRIGGER_LEVEL | ICR_SHORTHAND_MASK;
    static constexpr u32 HIGH_BYTE = 0xff000000; // ID, LDR, ICR high
    static constexpr u32 TPR_BITS = 0xff;
    static constexpr u32 DIVIDE_BITS = 0xb; // bits 0, 1 and 3

    // DFR: bits 31:28 select the model, the rest read as ones.
    static constexpr u32 DFR_MODEL_SHIFT = 28;
    static constexpr u32 DFR_ONES = 0x0fffffff;
    static constexpr u32 DFR_FLAT = 0xf;
    static constexpr u32 DFR_CLUSTER = 0x0;

    // SVR: spurious vector, software enable, focus checking disable.
    static constexpr u32 SVR_ENABLED = u32{1} << 8;
    static constexpr u32 SVR_FOCUS_DISABLED = u32{1} << 9;
    static constexpr u32 SVR_BITS = VECTOR_MASK | SVR_ENABLED | SVR_FOCUS_DISABLED;
    static constexpr u32 SVR_RESET = 0xff;

    // ESR bits this model reports.
    static constexpr u32 ESR_SEND_ILLEGAL_VECTOR = u32{1} << 5;
    static constexpr u32 ESR_RECEIVE_ILLEGAL_VECTOR = u32{1} << 6;
    static constexpr u32 ESR_ILLEGAL_REGISTER = u32{1} << 7;
    static constexpr u32 ESR_BITS = ESR_SEND_ILLEGAL_VECTOR | ESR_RECEIVE_ILLEGAL_VECTOR | ESR_ILLEGAL_REGISTER;

    // IA32_APIC_BASE (MSR 0x1b).
    static constexpr u64 BASE_BSP = u64{1} << 8;
    static constexpr u64 BASE_X2APIC = u64{1} << 10;
    static constexpr u64 BASE_ENABLED = u64{1} << 11;
    static constexpr u64 BASE_ADDRESS = 0xfee00000;

    static constexpr u64 DEFAULT_BUS_HZ = 1'000'000'000;
    static constexpr u32 FIRST_LEGAL_VECTOR = 16; // 0..15 are reserved for exceptions

    struct Config {
        TscClock clock;
        u64 bus_hz = DEFAULT_BUS_HZ; // the timer's input clock; with 0 (or no TSC rate) it stands still
        u8 apic_id = 0; // initial values; the state holds the current ones
        bool bsp = false;
    };

    // Everything the model is. The timer counts down from `timer_count` at guest TSC
    // `timer_base` (one-shot and periodic; 0: stopped); the deadline follows from these,
    // the divide value and the clock, so it cannot disagree with them.
    struct State {
        u64 apic_base = 0; // IA32_APIC_BASE
        u64 tsc_deadline = 0; // IA32_TSC_DEADLINE, armed when nonzero (TSC-deadline mode)
        u64 timer_base = 0;
        u32 timer_count = 0;
        u32 timer_initial = 0;
        u32 timer_divide = 0; // divide configuration register
        u32 id = 0; // ID register: APIC ID in bits 31:24
        u32 tpr = 0;
        u32 ldr = 0;
        u32 dfr = 0;
        u32 svr = 0;
        u32 esr = 0; // what ESR reads: latched by the last ESR write
        u32 esr_pending = 0; // errors since the last ESR write
        u32 icr_low = 0;
        u32 icr_high = 0;
        u32 lvt[LVT_COUNT] = {};
        u32 isr[VECTOR_WORDS] = {};
        u32 tmr[VECTOR_WORDS] = {};
        u32 irr[VECTOR_WORDS] = {};
        u8 wait_for_sipi = 0; // an AP after INIT: it does not run until a SIPI
        u8 sipi_pending = 0; // a SIPI arrived and the platform has not taken it yet
        u8 sipi_vector = 0;
        u8 reserved = 0;
        constexpr bool operator==(const State &) const = default;
    };

    // Power-up state for `config.apic_id`; the sinks must outlive the model.
    Lapic(const Config &config, IpiSink &ipis, EoiSink &eois);

    // Power-up (RESET) values: enabled in xAPIC mode at the default base, every LVT
    // masked, SVR 0xFF (software-disabled), DFR flat. An AP then waits for a SIPI.
    void reset(u8 apic_id, bool bsp);

    // MMIO. `offset` is within the 4 KiB page; see above for undefined offsets.
    u32 read(u32 offset, u64 now);
    void write(u32 offset, u32 value, u64 now);
    // Whether `offset` names a register (for the caller's diagnostics).
    static bool defined_register(u32 offset);

    // IA32_APIC_BASE. Returns -BATON_EINVAL for reserved bits or x2APIC enable and
    // -BATON_ENOSYS for a move away from 0xFEE00000 (both become #GP); the model is then
    // unchanged. The BSP bit is the hardware's: a write cannot change it.
    u64 apic_base_msr() const { return state_.apic_base; }
    [[nodiscard]] int write_apic_base_msr(u64 value);

    // IA32_TSC_DEADLINE: reads 0 and ignores writes outside TSC-deadline mode; 0 disarms.
    u64 read_tsc_deadline() const;
    void write_tsc_deadline(u64 value, u64 now);

    // The timer: the next guest TSC at which advance() has something to do.
    u64 next_deadline() const;
    void advance(u64 now);

    // A fixed or lowest-priority message for this APIC (the platform matched it).
    void accept(u8 vector, bool level_triggered);
    // The vector to inject now: the highest in IRR whose priority class is above PPR's;
    // -1 when there is none or the APIC is disabled.
    int pending_vector() const;
    // The vCPU took `vector` (normally pending_vector()): IRR -> ISR.
    void acknowledge(u8 vector);

    u8 ppr() const;
    u8 apr() const; // arbitration priority, for the platform's lowest-priority choice
    bool enabled() const { return (state_.apic_base & BASE_ENABLED) != 0; }
    bool software_enabled() const { return enabled() && (state_.svr & SVR_ENABLED) != 0; }
    u8 apic_id() const { return static_cast<u8>(state_.id >> 24); }
    // PIC interrupts reach the CPU: LINT0 unmasked in ExtINT mode (virtual wire), or the
    // APIC globally disabled, which makes LINT0 the plain INTR pin. After RESET LINT0 is
    // masked: PC firmware sets up virtual wire (SVR enabled, LINT0 ExtINT, LINT1 NMI)
    // before an OS runs, and a platform without firmware does the same through write().
    bool lint0_extint() const;
    // An NMI on LINT1 reaches the CPU: LINT1 unmasked in NMI mode, or the APIC disabled.
    bool lint1_nmi() const;

    // INIT resets every register but the ID (IA32_APIC_BASE keeps its value); an AP then
    // waits for a SIPI. A SIPI is taken only while waiting; take_sipi() hands its vector
    // to the platform once (-1: none), which starts the vCPU at vector << 12.
    void receive_init();
    bool receive_sipi(u8 vector);
    bool waiting_for_sipi() const { return state_.wait_for_sipi != 0; }
    int take_sipi();

    // Live update. load() refuses values the model never holds (reserved bits, vectors
    // 0..15 pending, a count above the initial count, ...) with -BATON_EINVAL and leaves
    // the model as it was.
    const State &state() const { return state_; }
    [[nodiscard]] int load(const State &state);
    const Config &config() const { return config_; }

private:
    void reset_registers();
    bool clocked() const;
    u32 timer_mode() const;
    u32 divide() const;
    u64 timer_deadline() const;
    u32 current_count(u64 now) const;
    void write_lvt(u32 index, u32 value);
    void write_divide(u32 value, u64 now);
    void write_icr(u32 value);
    void write_eoi();
    void deliver_local(u32 lvt_entry);
    void record_error(u32 bit);
    void set_irr(u8 vector, bool level_triggered);

    Config config_;
    IpiSink *ipis_;
    EoiSink *eois_;
    State state_;
};

// Whether the APIC with `state` is a destination of a message with `destination` in
// physical (APIC ID) or logical (LDR under the DFR model, flat or cluster) mode. 0xFF is a
// broadcast in both. A globally disabled APIC matches nothing.
bool lapic_matches_destination(const Lapic::State &state, u8 destination, bool logical);

// Whether `ipi` reaches the APIC with `target` (the shorthand first, else the destination);
// `target_is_sender` says whether `target` belongs to the sending vCPU.
bool ipi_reaches(const Ipi &ipi, const Lapic::State &target, bool target_is_sender);

// The record holds the state as bytes: no pointers, no hidden padding.
static_assert(__is_trivially_copyable(Lapic::State));
static_assert(sizeof(Lapic::State) == 3 * 8 + (12 + Lapic::LVT_COUNT + 3 * Lapic::VECTOR_WORDS) * 4 + 4);
