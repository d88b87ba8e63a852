// SPDX-License-Identifier: MIT
// A PC guest's emulated devices in the handover record: each model's State, field for field.
#include "abi/errno.h"
#include "arch/x86_64/guest/pc_platform.hpp"
#include "dom/domain.hpp"
#include "lib/format.hpp"
#include "update/platform_record.hpp"

namespace schema = handover::schema;

namespace {

constexpr u32 LAPICS = 1; // one vCPU per PC guest
constexpr u32 PIC_CHIPS = 2; // master, slave

// Each struct's fields once, as (record field, model field) pairs: the writer and the
// reader below expand the same list, so they cannot disagree.
// The lists stay one pair to a line (clang-format would join them, and not stably).
// clang-format off
#define PIT_CHANNEL_FIELDS(X)                                                                                          \
    X(start, start)                                                                                                    \
    X(held, held)                                                                                                      \
    X(irq_at, irq_at)                                                                                                  \
    X(count, count)                                                                                                    \
    X(element, element)                                                                                                \
    X(latch, latch)                                                                                                    \
    X(mode, mode)                                                                                                      \
    X(access, access)                                                                                                  \
    X(bcd, bcd)                                                                                                        \
    X(armed, armed)                                                                                                    \
    X(counting, counting)                                                                                              \
    X(latch_bytes, latch_bytes)                                                                                        \
    X(status_latched, status_latched)                                                                                  \
    X(status, status)                                                                                                  \
    X(read_msb, read_msb)                                                                                              \
    X(write_msb, write_msb)                                                                                            \
    X(write_lsb, write_lsb)
#define PIC_CHIP_FIELDS(X)                                                                                             \
    X(irr, irr)                                                                                                        \
    X(isr, isr)                                                                                                        \
    X(imr, imr)                                                                                                        \
    X(lines, lines)                                                                                                    \
    X(elcr, elcr)                                                                                                      \
    X(vector_base, vector_base)                                                                                        \
    X(icw3, icw3)                                                                                                      \
    X(init_step, init_step)                                                                                            \
    X(icw4_needed, icw4_needed)                                                                                        \
    X(single, single)                                                                                                  \
    X(auto_eoi, auto_eoi)                                                                                              \
    X(rotate_on_aeoi, rotate_on_aeoi)                                                                                  \
    X(nested, nested)                                                                                                  \
    X(special_mask, special_mask)                                                                                      \
    X(read_isr, read_isr)                                                                                              \
    X(poll, poll)                                                                                                      \
    X(highest, highest)
#define RTC_FIELDS(X)                                                                                                  \
    X(seconds, seconds)                                                                                                \
    X(epoch_tsc, epoch_tsc)                                                                                            \
    X(flags_position, flags_pos)                                                                                       \
    X(epoch_phase, epoch_phase)                                                                                        \
    X(index, index)                                                                                                    \
    X(nmi_disabled, nmi_disabled)                                                                                      \
    X(irq_level, irq_level)
#define UART_FIELDS(X)                                                                                                 \
    X(overruns, overruns)                                                                                              \
    X(rx_head, rx_head)                                                                                                \
    X(rx_count, rx_count)                                                                                              \
    X(ier, ier)                                                                                                        \
    X(lcr, lcr)                                                                                                        \
    X(mcr, mcr)                                                                                                        \
    X(lsr_errors, lsr_errors)                                                                                          \
    X(msr_deltas, msr_deltas)                                                                                          \
    X(scr, scr)                                                                                                        \
    X(dll, dll)                                                                                                        \
    X(dlm, dlm)                                                                                                        \
    X(fcr, fcr)                                                                                                        \
    X(thre_pending, thre_pending)                                                                                      \
    X(irq_level, irq_level)
#define IOAPIC_FIELDS(X)                                                                                               \
    X(id, id)                                                                                                          \
    X(select, select)                                                                                                  \
    X(levels, levels)
#define LAPIC_FIELDS(X)                                                                                                \
    X(apic_base, apic_base)                                                                                            \
    X(tsc_deadline, tsc_deadline)                                                                                      \
    X(timer_base, timer_base)                                                                                          \
    X(timer_count, timer_count)                                                                                        \
    X(timer_initial, timer_initial)                                                                                    \
    X(timer_divide, timer_divide)                                                                                      \
    X(id, id)                                                                                                          \
    X(tpr, tpr)                                                                                                        \
    X(ldr, ldr)                                                                                                        \
    X(dfr, dfr)                                                                                                        \
    X(svr, svr)                                                                                                        \
    X(esr, esr)                                                                                                        \
    X(esr_pending, esr_pending)                                                                                        \
    X(icr_low, icr_low)                                                                                                \
    X(icr_high, icr_high)                                                                                              \
    X(wait_for_sipi, wait_for_sipi)                                                                                    \
    X(sipi_pending, sipi_pending)                                                                                      \
    X(sipi_vector, sipi_vector)
// clang-format on
#define WRITE_FIELD(record, model) out.set_##record(in.model);
#define READ_FIELD(record, model)  out.model = in.record();

template <typename Builder>
void write_fields(const Pit::Channel &in, Builder out)
{
    PIT_CHANNEL_FIELDS(WRITE_FIELD)
}
void read_fields(schema::PitChannel::Reader in, Pit::Channel &out) { PIT_CHANNEL_FIELDS(READ_FIELD) }
template <typename Builder>
void write_fields(const Pic::Chip &in, Builder out)
{
    PIC_CHIP_FIELDS(WRITE_FIELD)
}
void read_fields(schema::PicChip::Reader in, Pic::Chip &out) { PIC_CHIP_FIELDS(READ_FIELD) }

// A fixed-size byte array as Data, and back (false when the record's length differs).
template <usize N>
bool read_bytes(handover::wire::BytesReader bytes, u8 (&out)[N])
{
    if (bytes.size != N)
        return false;
    for (usize i = 0; i < N; i++)
        out[i] = bytes.bytes[i];
    return true;
}

void write_rtc(const Rtc::State &in, schema::RtcState::Builder out)
{
    RTC_FIELDS(WRITE_FIELD)
    out.set_ram(in.ram, Rtc::RAM_SIZE);
}

bool read_rtc(schema::RtcState::Reader in, Rtc::State &out)
{
    out = Rtc::State{};
    RTC_FIELDS(READ_FIELD)
    return read_bytes(in.ram(), out.ram);
}

void write_uart(const Uart::State &in, schema::UartState::Builder out)
{
    UART_FIELDS(WRITE_FIELD)
    out.set_rx(in.rx, Uart::RX_FIFO_SIZE);
}

bool read_uart(schema::UartState::Reader in, Uart::State &out)
{
    out = Uart::State{};
    UART_FIELDS(READ_FIELD)
    return read_bytes(in.rx(), out.rx);
}

void write_ioapic(const IoApic::State &in, schema::IoApicState::Builder out)
{
    IOAPIC_FIELDS(WRITE_FIELD)
    auto redirection = out.init_redirection(IoApic::PINS);
    for (u32 i = 0; i < IoApic::PINS; i++)
        redirection.set(i, in.redirection[i]);
}

bool read_ioapic(schema::IoApicState::Reader in, IoApic::State &out)
{
    out = IoApic::State{};
    IOAPIC_FIELDS(READ_FIELD)
    const auto redirection = in.redirection();
    if (redirection.size() != IoApic::PINS)
        return false;
    for (u32 i = 0; i < IoApic::PINS; i++)
        out.redirection[i] = redirection[i];
    return true;
}

template <typename List, usize N>
void write_words(List list, const u32 (&words)[N])
{
    for (u32 i = 0; i < N; i++)
        list.set(i, words[i]);
}

template <typename List, usize N>
bool read_words(List list, u32 (&words)[N])
{
    if (list.size() != N)
        return false;
    for (u32 i = 0; i < N; i++)
        words[i] = list[i];
    return true;
}

void write_lapic(const Lapic::State &in, schema::LapicState::Builder out)
{
    LAPIC_FIELDS(WRITE_FIELD)
    write_words(out.init_lvt(Lapic::LVT_COUNT), in.lvt);
    write_words(out.init_isr(Lapic::VECTOR_WORDS), in.isr);
    write_words(out.init_tmr(Lapic::VECTOR_WORDS), in.tmr);
    write_words(out.init_irr(Lapic::VECTOR_WORDS), in.irr);
}

bool read_lapic(schema::LapicState::Reader in, Lapic::State &out)
{
    out = Lapic::State{};
    LAPIC_FIELDS(READ_FIELD)
    return read_words(in.lvt(), out.lvt) && read_words(in.isr(), out.isr) && read_words(in.tmr(), out.tmr) &&
           read_words(in.irr(), out.irr);
}

bool read_pit(schema::PcPlatform::Reader in, Pit::State &pit)
{
    const auto channels = in.pit();
    if (channels.size() != Pit::CHANNELS)
        return false;
    pit = Pit::State{};
    for (u32 i = 0; i < Pit::CHANNELS; i++)
        read_fields(channels[i], pit.channel[i]);
    pit.port_b = in.pit_port_b();
    pit.irq_level = in.pit_irq_level();
    return true;
}

bool read_pic(handover::wire::StructListReader<schema::PicChip> chips, Pic::State &pic)
{
    if (chips.size() != PIC_CHIPS)
        return false;
    pic = Pic::State{};
    for (u32 i = 0; i < PIC_CHIPS; i++)
        read_fields(chips[i], pic.chip[i]);
    return true;
}

#undef WRITE_FIELD
#undef READ_FIELD

} // namespace

u64 arch_platform_record_bound() { return 2048; }

void arch_platform_write_record(const Domain &domain, schema::PcPlatform::Builder out)
{
    PcPlatform &pc = *domain.platform;
    const Pit::State &pit = pc.pit().state();
    auto channels = out.init_pit(Pit::CHANNELS);
    for (u32 i = 0; i < Pit::CHANNELS; i++)
        write_fields(pit.channel[i], channels[i]);
    out.set_pit_port_b(pit.port_b);
    out.set_pit_irq_level(pit.irq_level);
    auto chips = out.init_pic(PIC_CHIPS);
    for (u32 i = 0; i < PIC_CHIPS; i++)
        write_fields(pc.pic().state().chip[i], chips[i]);
    write_rtc(pc.rtc().state(), out.init_rtc());
    write_uart(pc.uart().state(), out.init_uart());
    write_ioapic(pc.ioapic().state(), out.init_ioapic());
    auto lapics = out.init_lapics(LAPICS);
    write_lapic(pc.lapic().state(), lapics[0]);
    out.set_tsc_aux(pc.tsc_aux());
}

int arch_platform_restore(Domain &domain, schema::PcPlatform::Reader in, char *why, usize why_capacity)
{
    Pit::State pit;
    Pic::State pic;
    Rtc::State rtc;
    Uart::State uart;
    IoApic::State ioapic;
    Lapic::State lapic;
    const auto lapics = in.lapics();
    const char *bad = !read_pit(in, pit)                                         ? "PIT"
                      : !read_pic(in.pic(), pic)                                 ? "PIC"
                      : !read_rtc(in.rtc(), rtc)                                 ? "RTC"
                      : !read_uart(in.uart(), uart)                              ? "UART"
                      : !read_ioapic(in.ioapic(), ioapic)                        ? "IO-APIC"
                      : lapics.size() != LAPICS || !read_lapic(lapics[0], lapic) ? "local APIC"
                                                                                 : nullptr;
    if (bad != nullptr)
        return format(why, why_capacity, "d%u: the record's %s state has lists of the wrong size", domain.id, bad),
               -BATON_EINVAL;
    PcPlatform *pc = pc_platform_new(domain);
    if (pc == nullptr)
        return format(why, why_capacity, "d%u: no heap for its emulated PC", domain.id), -BATON_ENOMEM;
    const char *refused = pc->pit().load(pit) != 0         ? "PIT"
                          : pc->pic().load(pic) != 0       ? "PIC"
                          : pc->rtc().load(rtc) != 0       ? "RTC"
                          : pc->uart().load(uart) != 0     ? "UART"
                          : pc->ioapic().load(ioapic) != 0 ? "IO-APIC"
                          : pc->lapic().load(lapic) != 0   ? "local APIC"
                                                           : nullptr;
    if (refused != nullptr) {
        pc_platform_delete(pc);
        return format(why, why_capacity, "d%u: the record's %s state is not one the model can be in", domain.id,
                      refused),
               -BATON_EINVAL;
    }
    pc->set_tsc_aux(in.tsc_aux());
    domain.platform = pc;
    return 0;
}
