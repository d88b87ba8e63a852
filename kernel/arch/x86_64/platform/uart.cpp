// SPDX-License-Identifier: MIT
// A 16550A UART (the PC's COM ports): registers, receive FIFO and interrupt logic.
#include "arch/x86_64/platform/uart.hpp"
#include "abi/errno.h"
#include "arch/x86_64/platform/isa_bytes.hpp"

static_assert(__has_unique_object_representations(Uart::State), "Uart::State has no padding holes");
static_assert(Uart::RX_FIFO_SIZE <= 0xFF, "FIFO indices are bytes");

namespace {

constexpr u32 BYTE_BITS = 8;
constexpr u8 FCR_VALID = Uart::FCR_ENABLE | Uart::FCR_TRIGGER;
constexpr u32 FCR_TRIGGER_SHIFT = 6;
constexpr u8 TRIGGER_LEVELS[] = {1, 4, 8, 14};
// Modem inputs of a connected terminal.
constexpr u8 MSR_CONNECTED = Uart::MSR_CTS | Uart::MSR_DSR | Uart::MSR_DCD;

bool fifo_on(const Uart::State &state) { return (state.fcr & Uart::FCR_ENABLE) != 0; }

u32 capacity(const Uart::State &state) { return fifo_on(state) ? Uart::RX_FIFO_SIZE : 1; }

bool loopback(const Uart::State &state) { return (state.mcr & Uart::MCR_LOOP) != 0; }

// The modem inputs: wired to the modem outputs in loopback.
u8 modem_inputs(u8 mcr)
{
    if ((mcr & Uart::MCR_LOOP) == 0)
        return MSR_CONNECTED;
    return static_cast<u8>(
        ((mcr & Uart::MCR_RTS) != 0 ? Uart::MSR_CTS : 0) | ((mcr & Uart::MCR_DTR) != 0 ? Uart::MSR_DSR : 0) |
        ((mcr & Uart::MCR_OUT1) != 0 ? Uart::MSR_RI : 0) | ((mcr & Uart::MCR_OUT2) != 0 ? Uart::MSR_DCD : 0));
}

// The highest-priority pending interrupt as IIR bits 3..0 (IIR_NONE if none).
u8 interrupt_id(const Uart::State &state)
{
    if ((state.ier & Uart::IER_LSR) != 0 && state.lsr_errors != 0)
        return Uart::IIR_LSR;
    if ((state.ier & Uart::IER_RDA) != 0 && state.rx_count != 0) {
        if (!fifo_on(state))
            return Uart::IIR_RDA;
        const u8 trigger = TRIGGER_LEVELS[(state.fcr & Uart::FCR_TRIGGER) >> FCR_TRIGGER_SHIFT];
        return state.rx_count >= trigger ? Uart::IIR_RDA : Uart::IIR_TIMEOUT;
    }
    if ((state.ier & Uart::IER_THRE) != 0 && state.thre_pending != 0)
        return Uart::IIR_THRE;
    if ((state.ier & Uart::IER_MSR) != 0 && state.msr_deltas != 0)
        return Uart::IIR_MSR;
    return Uart::IIR_NONE;
}

// OUT2 gates the interrupt onto the ISA bus; loopback forces OUT2 inactive.
bool irq_line(const Uart::State &state)
{
    return interrupt_id(state) != Uart::IIR_NONE && (state.mcr & Uart::MCR_OUT2) != 0 && !loopback(state);
}

} // namespace

Uart::Uart(u16 base, u32 irq_line, IrqSink *irq, UartOutput *output)
    : base_(base), irq_line_(irq_line), irq_(irq), output_(output)
{}

bool Uart::handles(u16 port) const { return port >= base_ && port - base_ < PORTS; }

u32 Uart::read(u16 port, u8 size, u64 /*now*/)
{
    return isa_split_read(
        port, size, [this](u16 p) { return handles(p); },
        [this](u16 p) { return read_byte(static_cast<u16>(p - base_)); });
}

void Uart::write(u16 port, u8 size, u32 value, u64 /*now*/)
{
    isa_split_write(
        port, size, value, [this](u16 p) { return handles(p); },
        [this](u16 p, u8 byte) { write_byte(static_cast<u16>(p - base_), byte); });
}

usize Uart::rx_free() const { return loopback(state_) ? 0 : capacity(state_) - state_.rx_count; }

u16 Uart::divisor() const { return static_cast<u16>(state_.dll | (u32{state_.dlm} << BYTE_BITS)); }

int Uart::receive(const u8 *bytes, usize count)
{
    const usize taken = count < rx_free() ? count : rx_free();
    for (usize i = 0; i < taken; ++i)
        push(bytes[i]);
    update_irq();
    return static_cast<int>(taken);
}

// Into the receive FIFO; a full FIFO is an overrun. With the FIFO on the new byte is lost,
// with it off it replaces the unread one (the 16450 holding register).
void Uart::push(u8 byte)
{
    if (state_.rx_count >= capacity(state_)) {
        state_.lsr_errors |= LSR_OE;
        ++state_.overruns;
        if (!fifo_on(state_))
            state_.rx[state_.rx_head] = byte;
        return;
    }
    state_.rx[(state_.rx_head + state_.rx_count) % RX_FIFO_SIZE] = byte;
    ++state_.rx_count;
}

u8 Uart::pop()
{
    if (state_.rx_count == 0)
        return 0;
    const u8 byte = state_.rx[state_.rx_head];
    state_.rx_head = static_cast<u8>((state_.rx_head + 1) % RX_FIFO_SIZE);
    --state_.rx_count;
    return byte;
}

// The byte leaves at once, so THR is empty again and, if enabled, THRE interrupts again.
void Uart::transmit(u8 byte)
{
    if (loopback(state_))
        push(byte);
    else if (output_ != nullptr)
        output_->put(byte);
    state_.thre_pending = (state_.ier & IER_THRE) != 0 ? 1 : 0;
}

u8 Uart::read_byte(u16 offset)
{
    const bool dlab = (state_.lcr & LCR_DLAB) != 0;
    u8 value = 0;
    switch (offset) {
    case REG_DATA: value = dlab ? state_.dll : pop(); break;
    case REG_IER: value = dlab ? state_.dlm : state_.ier; break;
    case REG_IIR:
        value = interrupt_id(state_);
        if (value == IIR_THRE)
            state_.thre_pending = 0; // reading IIR acknowledges the THRE interrupt
        if (fifo_on(state_))
            value |= IIR_FIFO;
        break;
    case REG_LCR: value = state_.lcr; break;
    case REG_MCR: value = state_.mcr; break;
    case REG_LSR:
        value = static_cast<u8>((state_.rx_count != 0 ? LSR_DR : 0) | state_.lsr_errors | LSR_THRE | LSR_TEMT);
        state_.lsr_errors = 0;
        break;
    case REG_MSR:
        value = static_cast<u8>(modem_inputs(state_.mcr) | state_.msr_deltas);
        state_.msr_deltas = 0;
        break;
    default: value = state_.scr; break; // REG_SCR
    }
    update_irq();
    return value;
}

void Uart::write_byte(u16 offset, u8 value)
{
    const bool dlab = (state_.lcr & LCR_DLAB) != 0;
    switch (offset) {
    case REG_DATA:
        if (dlab)
            state_.dll = value;
        else
            transmit(value);
        break;
    case REG_IER:
        if (dlab) {
            state_.dlm = value;
        } else {
            // Enabling THRE while THR is empty (it always is) makes it pending, also
            // after an IIR read cleared it: Linux's THRE probe expects that.
            const bool changed = ((state_.ier ^ value) & IER_THRE) != 0;
            state_.ier = static_cast<u8>(value & IER_MASK);
            if (changed)
                state_.thre_pending = (state_.ier & IER_THRE) != 0 ? 1 : 0;
        }
        break;
    case REG_IIR: { // FCR
        const bool toggled = ((state_.fcr ^ value) & FCR_ENABLE) != 0;
        if (toggled || (value & FCR_CLEAR_RX) != 0) {
            state_.rx_head = 0;
            state_.rx_count = 0;
        }
        // FCR_CLEAR_TX: the transmitter is always empty. The trigger level is only
        // written with the FIFO enabled.
        state_.fcr = (value & FCR_ENABLE) != 0 ? static_cast<u8>(value & FCR_VALID) : u8{0};
        break;
    }
    case REG_LCR: state_.lcr = value; break;
    case REG_MCR: {
        const u8 before = modem_inputs(state_.mcr);
        state_.mcr = static_cast<u8>(value & MCR_MASK);
        const u8 after = modem_inputs(state_.mcr);
        const u8 changed = static_cast<u8>(before ^ after);
        state_.msr_deltas |= static_cast<u8>(
            ((changed & MSR_CTS) != 0 ? MSR_DCTS : 0) | ((changed & MSR_DSR) != 0 ? MSR_DDSR : 0) |
            ((before & ~after & MSR_RI) != 0 ? MSR_TERI : 0) | ((changed & MSR_DCD) != 0 ? MSR_DDCD : 0));
        break;
    }
    case REG_SCR: state_.scr = value; break;
    default: break; // LSR and MSR: factory test writes, ignored
    }
    update_irq();
}

void Uart::update_irq()
{
    const bool level = irq_line(state_);
    if (state_.irq_level == (level ? 1 : 0))
        return;
    state_.irq_level = level ? 1 : 0;
    if (irq_ != nullptr)
        irq_->set_irq(irq_line_, level);
}

int Uart::load(const State &state)
{
    const u32 room = (state.fcr & FCR_ENABLE) != 0 ? RX_FIFO_SIZE : 1;
    if (state.rx_head >= RX_FIFO_SIZE || state.rx_count > room || (state.ier & ~IER_MASK) != 0 ||
        (state.mcr & ~MCR_MASK) != 0 || (state.lsr_errors & ~LSR_ERRORS) != 0 ||
        (state.msr_deltas & ~MSR_DELTAS) != 0 || (state.fcr & ~FCR_VALID) != 0 ||
        ((state.fcr & FCR_ENABLE) == 0 && state.fcr != 0) || state.thre_pending > 1 ||
        (state.thre_pending != 0 && (state.ier & IER_THRE) == 0) || state.irq_level != (irq_line(state) ? 1 : 0))
        return -BATON_EINVAL;
    state_ = state;
    return 0;
}
