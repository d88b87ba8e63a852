// SPDX-License-Identifier: MIT
// The local APIC of one vCPU: register file, priorities, timer, IPIs and INIT/SIPI.
#include "arch/x86_64/platform/lapic.hpp"
#include "abi/errno.h"
#include "arch/x86_64/platform/mul_div.hpp"

namespace {

using Words = u32[Lapic::VECTOR_WORDS];

constexpr u32 REGISTER_SPACING = 0x10;
constexpr u32 REGISTER_LIMIT = 0x400; // nothing is defined above the divide register
constexpr u32 PRIORITY_CLASS = 0xf0;
constexpr u32 ADDRESS_LIMIT_SHIFT = 52; // IA32_APIC_BASE holds the base in bits 51:12
constexpr u64 BASE_ADDRESS_FIELD = ((u64{1} << ADDRESS_LIMIT_SHIFT) - 1) & ~u64{0xfff};

// Which bits a guest can write, per LVT index.
constexpr u32 LVT_BITS[Lapic::LVT_COUNT] = {
    Lapic::LVT_TIMER_BITS, Lapic::LVT_LOCAL_BITS, Lapic::LVT_LOCAL_BITS, Lapic::LVT_LINT_BITS,
    Lapic::LVT_LINT_BITS,  Lapic::LVT_ERROR_BITS, Lapic::LVT_LOCAL_BITS,
};

bool test_bit(const Words &words, u32 vector) { return ((words[vector / 32] >> (vector % 32)) & 1) != 0; }
void set_bit(Words &words, u32 vector) { words[vector / 32] |= u32{1} << (vector % 32); }
void clear_bit(Words &words, u32 vector) { words[vector / 32] &= ~(u32{1} << (vector % 32)); }

// The highest vector set, -1 for none.
int highest_bit(const Words &words)
{
    for (u32 i = Lapic::VECTOR_WORDS; i-- > 0;) {
        if (words[i] != 0)
            return static_cast<int>(i * 32 + 31 - static_cast<u32>(__builtin_clz(words[i])));
    }
    return -1;
}

u32 priority_class(int vector) { return vector < 0 ? 0 : static_cast<u32>(vector) & PRIORITY_CLASS; }
u32 max_u32(u32 a, u32 b) { return a > b ? a : b; }

u32 delivery_mode(u32 value) { return (value & Lapic::DELIVERY_MODE_MASK) >> Lapic::DELIVERY_MODE_SHIFT; }
u32 timer_mode_of(u32 lvt) { return (lvt & Lapic::TIMER_MODE_MASK) >> Lapic::TIMER_MODE_SHIFT; }

// Offset of an LVT register -> index into State::lvt, or LVT_COUNT.
u32 lvt_index(u32 offset)
{
    if (offset == Lapic::REG_LVT_CMCI)
        return Lapic::LVT_CMCI;
    if (offset >= Lapic::REG_LVT_TIMER && offset <= Lapic::REG_LVT_ERROR)
        return (offset - Lapic::REG_LVT_TIMER) / REGISTER_SPACING;
    return Lapic::LVT_COUNT;
}

// Offset inside one of the 256-bit banks: returns the word index, or VECTOR_WORDS.
u32 bank_word(u32 offset, u32 bank)
{
    if (offset < bank || offset >= bank + Lapic::VECTOR_WORDS * REGISTER_SPACING)
        return Lapic::VECTOR_WORDS;
    return (offset - bank) / REGISTER_SPACING;
}

} // namespace

Lapic::Lapic(const Config &config, IpiSink &ipis, EoiSink &eois) : config_(config), ipis_(&ipis), eois_(&eois)
{
    reset(config.apic_id, config.bsp);
}

void Lapic::reset(u8 apic_id, bool bsp)
{
    state_ = State{};
    state_.apic_base = BASE_ADDRESS | BASE_ENABLED | (bsp ? BASE_BSP : 0);
    state_.id = u32{apic_id} << 24;
    reset_registers();
    // After RESET the APs wait for INIT-SIPI-SIPI; only the BSP runs.
    state_.wait_for_sipi = bsp ? 0 : 1;
}

void Lapic::reset_registers()
{
    const State kept = state_;
    state_ = State{};
    state_.apic_base = kept.apic_base;
    state_.id = kept.id;
    state_.wait_for_sipi = kept.wait_for_sipi;
    state_.sipi_pending = kept.sipi_pending;
    state_.sipi_vector = kept.sipi_vector;
    state_.dfr = ~u32{0};
    state_.svr = SVR_RESET;
    for (u32 &lvt : state_.lvt)
        lvt = LVT_MASKED;
}

bool Lapic::defined_register(u32 offset)
{
    if (offset % REGISTER_SPACING != 0 || offset >= REGISTER_LIMIT)
        return false;
    if (lvt_index(offset) != LVT_COUNT || bank_word(offset, REG_ISR) != VECTOR_WORDS ||
        bank_word(offset, REG_TMR) != VECTOR_WORDS || bank_word(offset, REG_IRR) != VECTOR_WORDS)
        return true;
    switch (offset) {
    case REG_ID:
    case REG_VERSION:
    case REG_TPR:
    case REG_APR:
    case REG_PPR:
    case REG_EOI:
    case REG_RRD:
    case REG_LDR:
    case REG_DFR:
    case REG_SVR:
    case REG_ESR:
    case REG_ICR_LOW:
    case REG_ICR_HIGH:
    case REG_TIMER_INITIAL:
    case REG_TIMER_CURRENT:
    case REG_TIMER_DIVIDE: return true;
    default: return false;
    }
}

u32 Lapic::read(u32 offset, u64 now)
{
    advance(now);
    if (!enabled())
        return 0;
    if (!defined_register(offset)) {
        record_error(ESR_ILLEGAL_REGISTER);
        return 0;
    }
    if (u32 word = bank_word(offset, REG_ISR); word != VECTOR_WORDS)
        return state_.isr[word];
    if (u32 word = bank_word(offset, REG_TMR); word != VECTOR_WORDS)
        return state_.tmr[word];
    if (u32 word = bank_word(offset, REG_IRR); word != VECTOR_WORDS)
        return state_.irr[word];
    if (u32 index = lvt_index(offset); index != LVT_COUNT)
        return state_.lvt[index];
    switch (offset) {
    case REG_ID: return state_.id;
    case REG_VERSION: return VERSION_VALUE;
    case REG_TPR: return state_.tpr;
    case REG_APR: return apr();
    case REG_PPR: return ppr();
    case REG_LDR: return state_.ldr;
    case REG_DFR: return state_.dfr;
    case REG_SVR: return state_.svr;
    case REG_ESR: return state_.esr;
    case REG_ICR_LOW: return state_.icr_low; // delivery status: always idle
    case REG_ICR_HIGH: return state_.icr_high;
    case REG_TIMER_INITIAL: return state_.timer_initial;
    case REG_TIMER_CURRENT: return current_count(now);
    case REG_TIMER_DIVIDE: return state_.timer_divide;
    default: return 0; // EOI is write-only, remote read is not implemented
    }
}

void Lapic::write(u32 offset, u32 value, u64 now)
{
    advance(now);
    if (!enabled())
        return;
    if (!defined_register(offset)) {
        record_error(ESR_ILLEGAL_REGISTER);
        return;
    }
    if (u32 index = lvt_index(offset); index != LVT_COUNT) {
        write_lvt(index, value);
        return;
    }
    switch (offset) {
    case REG_ID: state_.id = value & HIGH_BYTE; break;
    case REG_TPR: state_.tpr = value & TPR_BITS; break;
    case REG_EOI: write_eoi(); break;
    case REG_LDR: state_.ldr = value & HIGH_BYTE; break;
    case REG_DFR: state_.dfr = value | DFR_ONES; break;
    case REG_SVR:
        state_.svr = value & SVR_BITS;
        // Software disable sets every LVT mask bit (SDM "Local APIC State After It Has
        // Been Software Disabled"); re-enabling leaves them set.
        if ((state_.svr & SVR_ENABLED) == 0) {
            for (u32 &lvt : state_.lvt)
                lvt |= LVT_MASKED;
        }
        break;
    case REG_ESR:
        // Write-then-read: the write latches what happened since the previous one.
        state_.esr = state_.esr_pending;
        state_.esr_pending = 0;
        break;
    case REG_ICR_LOW: write_icr(value); break;
    case REG_ICR_HIGH: state_.icr_high = value & HIGH_BYTE; break;
    case REG_TIMER_INITIAL:
        // Ignored in TSC-deadline mode; otherwise (re)starts the count, 0 stops it.
        if (timer_mode() != TIMER_TSC_DEADLINE) {
            state_.timer_initial = value;
            state_.timer_count = value;
            state_.timer_base = now;
        }
        break;
    case REG_TIMER_DIVIDE: write_divide(value, now); break;
    default: break; // read-only: version, APR, PPR, RRD, ISR, TMR, IRR, current count
    }
}

void Lapic::write_lvt(u32 index, u32 value)
{
    u32 lvt = value & LVT_BITS[index];
    if ((state_.svr & SVR_ENABLED) == 0)
        lvt |= LVT_MASKED; // "attempts to reset these bits are ignored"
    if (index == LVT_TIMER) {
        const u32 old = state_.lvt[LVT_TIMER];
        if (timer_mode_of(lvt) == 3) // reserved: the timer keeps its mode
            lvt = (lvt & ~TIMER_MODE_MASK) | (old & TIMER_MODE_MASK);
        // Entering or leaving TSC-deadline mode disarms the timer (SDM "TSC-Deadline Mode").
        if ((timer_mode_of(old) == TIMER_TSC_DEADLINE) != (timer_mode_of(lvt) == TIMER_TSC_DEADLINE)) {
            state_.tsc_deadline = 0;
            state_.timer_initial = 0;
            state_.timer_count = 0;
        }
    }
    state_.lvt[index] = lvt;
}

void Lapic::write_divide(u32 value, u64 now)
{
    // A running count keeps its value and goes on at the new rate (as KVM does), rather
    // than jumping to what the new divisor would have made of the time already elapsed.
    const u32 current = current_count(now);
    state_.timer_divide = value & DIVIDE_BITS;
    if (timer_mode() != TIMER_TSC_DEADLINE && current != 0) {
        state_.timer_count = current;
        state_.timer_base = now;
    }
}

void Lapic::write_icr(u32 value)
{
    state_.icr_low = value & ICR_LOW_BITS;
    Ipi ipi;
    ipi.message.vector = static_cast<u8>(value & VECTOR_MASK);
    ipi.message.mode = static_cast<DeliveryMode>(delivery_mode(value));
    ipi.message.logical = (value & DEST_LOGICAL) != 0;
    ipi.message.destination = static_cast<u8>(state_.icr_high >> ICR_DEST_SHIFT);
    ipi.message.level_triggered = (value & TRIGGER_LEVEL) != 0;
    ipi.shorthand = static_cast<Shorthand>((value & ICR_SHORTHAND_MASK) >> ICR_SHORTHAND_SHIFT);
    ipi.assert_level = (value & ICR_LEVEL_ASSERT) != 0;
    ipi.source_id = static_cast<u8>(state_.id >> 24);
    switch (ipi.message.mode) {
    case DeliveryMode::Fixed:
    case DeliveryMode::LowestPriority:
        if (ipi.message.vector < FIRST_LEGAL_VECTOR) {
            record_error(ESR_SEND_ILLEGAL_VECTOR);
            return;
        }
        break;
    case DeliveryMode::Init:
        if (ipi.message.level_triggered && !ipi.assert_level)
            return; // INIT level de-assert: no effect since the Pentium 4
        break;
    case DeliveryMode::Smi:
    case DeliveryMode::Nmi:
    case DeliveryMode::Startup: break;
    default: return; // 3 is reserved, ExtINT is not an ICR mode
    }
    ipis_->ipi(ipi);
}

void Lapic::write_eoi()
{
    const int vector = highest_bit(state_.isr);
    if (vector < 0)
        return;
    const u32 v = static_cast<u32>(vector);
    clear_bit(state_.isr, v);
    if (test_bit(state_.tmr, v))
        eois_->eoi(static_cast<u8>(v));
}

int Lapic::write_apic_base_msr(u64 value)
{
    constexpr u64 reserved = ~(BASE_BSP | BASE_ENABLED | BASE_ADDRESS_FIELD);
    if ((value & reserved) != 0)
        return -BATON_EINVAL; // x2APIC enable is among these: we do not advertise it
    if ((value & BASE_ADDRESS_FIELD) != BASE_ADDRESS)
        return -BATON_ENOSYS; // legal on hardware, but the platform maps the APIC at one place
    const bool enable = (value & BASE_ENABLED) != 0;
    if (!enable && enabled())
        reset_registers();
    state_.apic_base = BASE_ADDRESS | (state_.apic_base & BASE_BSP) | (enable ? BASE_ENABLED : 0);
    return 0;
}

// Without both rates the count never moves (a configuration error; nothing divides by 0).
bool Lapic::clocked() const { return config_.clock.tsc_hz != 0 && config_.bus_hz != 0; }

u32 Lapic::timer_mode() const { return timer_mode_of(state_.lvt[LVT_TIMER]); }

u32 Lapic::divide() const
{
    const u32 code = (state_.timer_divide & 0x3) | ((state_.timer_divide >> 1) & 0x4);
    return code == 7 ? 1 : u32{2} << code;
}

u64 Lapic::timer_deadline() const
{
    if (timer_mode() == TIMER_TSC_DEADLINE || state_.timer_count == 0 || !clocked())
        return PLATFORM_NO_DEADLINE;
    const u64 ticks = mul_div(u64{state_.timer_count} * divide(), config_.clock.tsc_hz, config_.bus_hz);
    u64 deadline = 0;
    if (add_overflows(state_.timer_base, ticks, &deadline))
        return PLATFORM_NO_DEADLINE; // beyond the guest TSC's range: never
    return deadline;
}

u32 Lapic::current_count(u64 now) const
{
    if (timer_mode() == TIMER_TSC_DEADLINE || state_.timer_count == 0)
        return 0;
    if (!clocked() || now <= state_.timer_base)
        return state_.timer_count;
    const u64 counted = mul_div(now - state_.timer_base, config_.bus_hz, config_.clock.tsc_hz) / divide();
    return counted >= state_.timer_count ? 0 : state_.timer_count - static_cast<u32>(counted);
}

u64 Lapic::read_tsc_deadline() const
{
    if (!enabled() || timer_mode() != TIMER_TSC_DEADLINE)
        return 0;
    return state_.tsc_deadline;
}

void Lapic::write_tsc_deadline(u64 value, u64 now)
{
    if (!enabled() || timer_mode() != TIMER_TSC_DEADLINE)
        return;
    state_.tsc_deadline = value;
    advance(now); // a deadline already past fires at once
}

u64 Lapic::next_deadline() const
{
    if (!enabled())
        return PLATFORM_NO_DEADLINE;
    if (timer_mode() == TIMER_TSC_DEADLINE)
        return state_.tsc_deadline != 0 ? state_.tsc_deadline : PLATFORM_NO_DEADLINE;
    return timer_deadline();
}

void Lapic::advance(u64 now)
{
    if (!enabled())
        return;
    if (timer_mode() == TIMER_TSC_DEADLINE) {
        if (state_.tsc_deadline != 0 && now >= state_.tsc_deadline) {
            state_.tsc_deadline = 0; // the timer disarms itself when it fires
            deliver_local(state_.lvt[LVT_TIMER]);
        }
        return;
    }
    const u64 deadline = timer_deadline();
    if (deadline == PLATFORM_NO_DEADLINE || now < deadline)
        return;
    deliver_local(state_.lvt[LVT_TIMER]);
    if (timer_mode() == TIMER_PERIODIC && state_.timer_initial != 0) {
        u64 period = mul_div(u64{state_.timer_initial} * divide(), config_.clock.tsc_hz, config_.bus_hz);
        if (period == 0)
            period = 1;
        // Periods missed while the vCPU did not run (a live-update blackout, a host that
        // was busy) coalesce into the one interrupt above: a burst of stale ticks helps no
        // guest, and the next deadline lies in the future, keeping the original phase.
        const u64 base = deadline + (now - deadline) / period * period;
        state_.timer_base = base;
        state_.timer_count = state_.timer_initial;
    } else {
        state_.timer_base = deadline;
        state_.timer_count = 0;
    }
}

void Lapic::deliver_local(u32 lvt)
{
    if ((lvt & LVT_MASKED) != 0)
        return;
    const u32 vector = lvt & VECTOR_MASK;
    if (vector < FIRST_LEGAL_VECTOR)
        record_error(ESR_RECEIVE_ILLEGAL_VECTOR);
    else
        set_irr(static_cast<u8>(vector), false);
}

void Lapic::record_error(u32 bit)
{
    state_.esr_pending |= bit;
    const u32 lvt = state_.lvt[LVT_ERROR];
    if ((lvt & LVT_MASKED) != 0)
        return;
    // An illegal error vector is itself an error, but is not signalled again.
    const u32 vector = lvt & VECTOR_MASK;
    if (vector < FIRST_LEGAL_VECTOR)
        state_.esr_pending |= ESR_RECEIVE_ILLEGAL_VECTOR;
    else
        set_irr(static_cast<u8>(vector), false);
}

void Lapic::set_irr(u8 vector, bool level_triggered)
{
    set_bit(state_.irr, vector);
    if (level_triggered)
        set_bit(state_.tmr, vector);
    else
        clear_bit(state_.tmr, vector);
}

void Lapic::accept(u8 vector, bool level_triggered)
{
    if (!software_enabled())
        return;
    if (vector < FIRST_LEGAL_VECTOR) {
        record_error(ESR_RECEIVE_ILLEGAL_VECTOR);
        return;
    }
    set_irr(vector, level_triggered);
}

u8 Lapic::ppr() const
{
    const u32 isr_class = priority_class(highest_bit(state_.isr));
    return static_cast<u8>((state_.tpr & PRIORITY_CLASS) >= isr_class ? state_.tpr : isr_class);
}

u8 Lapic::apr() const
{
    const u32 other = max_u32(priority_class(highest_bit(state_.isr)), priority_class(highest_bit(state_.irr)));
    return static_cast<u8>((state_.tpr & PRIORITY_CLASS) >= other ? state_.tpr : other);
}

int Lapic::pending_vector() const
{
    if (!software_enabled())
        return -1;
    const int vector = highest_bit(state_.irr);
    if (vector < 0 || priority_class(vector) <= (ppr() & PRIORITY_CLASS))
        return -1;
    return vector;
}

void Lapic::acknowledge(u8 vector)
{
    if (!test_bit(state_.irr, vector))
        return;
    clear_bit(state_.irr, vector);
    set_bit(state_.isr, vector);
}

bool Lapic::lint0_extint() const
{
    if (!enabled())
        return true;
    const u32 lvt = state_.lvt[LVT_LINT0];
    return (lvt & LVT_MASKED) == 0 && delivery_mode(lvt) == static_cast<u32>(DeliveryMode::ExtInt);
}

bool Lapic::lint1_nmi() const
{
    if (!enabled())
        return true;
    const u32 lvt = state_.lvt[LVT_LINT1];
    return (lvt & LVT_MASKED) == 0 && delivery_mode(lvt) == static_cast<u32>(DeliveryMode::Nmi);
}

void Lapic::receive_init()
{
    reset_registers();
    state_.sipi_pending = 0;
    state_.wait_for_sipi = (state_.apic_base & BASE_BSP) != 0 ? 0 : 1;
}

bool Lapic::receive_sipi(u8 vector)
{
    if (state_.wait_for_sipi == 0)
        return false; // a SIPI outside wait-for-SIPI is ignored
    state_.wait_for_sipi = 0;
    state_.sipi_pending = 1;
    state_.sipi_vector = vector;
    return true;
}

int Lapic::take_sipi()
{
    if (state_.sipi_pending == 0)
        return -1;
    state_.sipi_pending = 0;
    return state_.sipi_vector;
}

int Lapic::load(const State &s)
{
    if ((s.apic_base & ~(BASE_BSP | BASE_ENABLED)) != BASE_ADDRESS)
        return -BATON_EINVAL;
    if ((s.id & ~HIGH_BYTE) != 0 || (s.ldr & ~HIGH_BYTE) != 0 || (s.icr_high & ~HIGH_BYTE) != 0)
        return -BATON_EINVAL;
    if ((s.tpr & ~TPR_BITS) != 0 || (s.dfr & DFR_ONES) != DFR_ONES || (s.svr & ~SVR_BITS) != 0)
        return -BATON_EINVAL;
    if ((s.esr & ~ESR_BITS) != 0 || (s.esr_pending & ~ESR_BITS) != 0 || (s.icr_low & ~ICR_LOW_BITS) != 0)
        return -BATON_EINVAL;
    for (u32 i = 0; i < LVT_COUNT; i++) {
        if ((s.lvt[i] & ~LVT_BITS[i]) != 0)
            return -BATON_EINVAL;
        if ((s.svr & SVR_ENABLED) == 0 && (s.lvt[i] & LVT_MASKED) == 0)
            return -BATON_EINVAL;
    }
    // Vectors 0..15 are never accepted, so they are never pending or in service.
    constexpr u32 exception_vectors = 0xffff;
    if (((s.isr[0] | s.tmr[0] | s.irr[0]) & exception_vectors) != 0)
        return -BATON_EINVAL;
    const u32 mode = timer_mode_of(s.lvt[LVT_TIMER]);
    if (mode == 3 || (s.timer_divide & ~DIVIDE_BITS) != 0 || s.timer_count > s.timer_initial)
        return -BATON_EINVAL;
    if (mode == TIMER_TSC_DEADLINE ? s.timer_initial != 0 : s.tsc_deadline != 0)
        return -BATON_EINVAL;
    if (s.wait_for_sipi > 1 || s.sipi_pending > 1 || (s.wait_for_sipi != 0 && s.sipi_pending != 0) || s.reserved != 0)
        return -BATON_EINVAL;
    state_ = s;
    return 0;
}

bool lapic_matches_destination(const Lapic::State &state, u8 destination, bool logical)
{
    constexpr u8 broadcast = 0xff;
    if ((state.apic_base & Lapic::BASE_ENABLED) == 0)
        return false;
    if (destination == broadcast)
        return true;
    if (!logical)
        return destination == static_cast<u8>(state.id >> 24);
    const u32 ldr = state.ldr >> 24;
    switch (state.dfr >> Lapic::DFR_MODEL_SHIFT) {
    case Lapic::DFR_FLAT: return (ldr & destination) != 0; // one bit per APIC, up to 8
    case Lapic::DFR_CLUSTER: // high nibble: cluster, low nibble: a bit per member
        return (ldr >> 4) == (u32{destination} >> 4) && (ldr & destination & 0xf) != 0;
    default: return false; // reserved models match nothing
    }
}

bool ipi_reaches(const Ipi &ipi, const Lapic::State &target, bool target_is_sender)
{
    const bool enabled = (target.apic_base & Lapic::BASE_ENABLED) != 0;
    switch (ipi.shorthand) {
    case Shorthand::Self: return target_is_sender;
    case Shorthand::AllIncludingSelf: return enabled;
    case Shorthand::AllExcludingSelf: return enabled && !target_is_sender;
    case Shorthand::None: break;
    }
    return lapic_matches_destination(target, ipi.message.destination, ipi.message.logical);
}
