// SPDX-License-Identifier: MIT
// A 16550A UART (the PC's COM ports): registers, receive FIFO and interrupt logic.
#pragma once
#include "arch/x86_64/platform/device_model.hpp"

// The line is infinitely fast: a byte written to THR goes to the output at once, so THR
// and the transmitter are always empty (LSR THRE and TEMT stay set) and the THRE
// interrupt comes back right after each write. Input arrives from the host in bursts
// through receive(), which takes what fits: the receive FIFO holds 16 bytes with the
// FIFO on, one with it off, as on a real 16550A (Linux's autoconfig counts the FIFO in
// loopback and takes a 64-byte one for another chip). A FIFO holding fewer bytes than
// the trigger level reports the character timeout at once (no character times to wait
// for). Line errors other than overrun never happen.
//
// The interrupt output is a level on the IrqSink line, gated by MCR OUT2 as on a PC (and
// off in loopback, which forces the OUT pins inactive). THRE interrupt rules as Linux's
// 8250 driver probes them: it is pending when enabled while THR is empty (also on
// re-enabling), and a read of IIR that reports it clears it.
//
// Modem inputs outside loopback: CTS, DSR and DCD asserted (a connected terminal), RI not.

// Where transmitted bytes go.
class UartOutput {
public:
    virtual void put(u8 byte) = 0;

protected:
    ~UartOutput() = default;
};

class Uart final {
public:
    static constexpr u16 COM1_BASE = 0x3F8;
    static constexpr u32 COM1_IRQ = 4;
    static constexpr u16 PORTS = 8;
    static constexpr u32 RX_FIFO_SIZE = 16;

    // Register offsets from the base port (DLAB = LCR bit 7 selects DLL/DLM at 0 and 1).
    static constexpr u16 REG_DATA = 0; // RBR (read), THR (write), DLL with DLAB
    static constexpr u16 REG_IER = 1; // DLM with DLAB
    static constexpr u16 REG_IIR = 2; // IIR (read), FCR (write)
    static constexpr u16 REG_LCR = 3;
    static constexpr u16 REG_MCR = 4;
    static constexpr u16 REG_LSR = 5;
    static constexpr u16 REG_MSR = 6;
    static constexpr u16 REG_SCR = 7;

    static constexpr u8 IER_RDA = 1u << 0; // received data available (and timeout)
    static constexpr u8 IER_THRE = 1u << 1; // transmitter holding register empty
    static constexpr u8 IER_LSR = 1u << 2; // receiver line status
    static constexpr u8 IER_MSR = 1u << 3; // modem status
    static constexpr u8 IER_MASK = 0x0F;
    static constexpr u8 IIR_NONE = 0x01;
    static constexpr u8 IIR_MSR = 0x00;
    static constexpr u8 IIR_THRE = 0x02;
    static constexpr u8 IIR_RDA = 0x04;
    static constexpr u8 IIR_LSR = 0x06;
    static constexpr u8 IIR_TIMEOUT = 0x0C;
    static constexpr u8 IIR_FIFO = 0xC0; // FIFOs enabled (16550A)
    static constexpr u8 FCR_ENABLE = 1u << 0;
    static constexpr u8 FCR_CLEAR_RX = 1u << 1;
    static constexpr u8 FCR_CLEAR_TX = 1u << 2;
    static constexpr u8 FCR_TRIGGER = 0xC0;
    static constexpr u8 LCR_DLAB = 1u << 7;
    static constexpr u8 MCR_DTR = 1u << 0;
    static constexpr u8 MCR_RTS = 1u << 1;
    static constexpr u8 MCR_OUT1 = 1u << 2;
    static constexpr u8 MCR_OUT2 = 1u << 3;
    static constexpr u8 MCR_LOOP = 1u << 4;
    static constexpr u8 MCR_MASK = 0x1F;
    static constexpr u8 LSR_DR = 1u << 0;
    static constexpr u8 LSR_OE = 1u << 1;
    static constexpr u8 LSR_PE = 1u << 2;
    static constexpr u8 LSR_FE = 1u << 3;
    static constexpr u8 LSR_BI = 1u << 4;
    static constexpr u8 LSR_THRE = 1u << 5;
    static constexpr u8 LSR_TEMT = 1u << 6;
    static constexpr u8 LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;
    static constexpr u8 MSR_DCTS = 1u << 0;
    static constexpr u8 MSR_DDSR = 1u << 1;
    static constexpr u8 MSR_TERI = 1u << 2;
    static constexpr u8 MSR_DDCD = 1u << 3;
    static constexpr u8 MSR_DELTAS = 0x0F;
    static constexpr u8 MSR_CTS = 1u << 4;
    static constexpr u8 MSR_DSR = 1u << 5;
    static constexpr u8 MSR_RI = 1u << 6;
    static constexpr u8 MSR_DCD = 1u << 7;

    struct State {
        u8 rx[RX_FIFO_SIZE]; // receive FIFO, a ring
        u32 overruns; // received bytes lost because the FIFO was full (loopback)
        u8 rx_head; // index of the oldest byte
        u8 rx_count;
        u8 ier;
        u8 lcr;
        u8 mcr;
        u8 lsr_errors; // sticky LSR error bits, cleared by reading LSR
        u8 msr_deltas; // sticky MSR change bits, cleared by reading MSR
        u8 scr;
        u8 dll;
        u8 dlm;
        u8 fcr; // FCR_ENABLE and FCR_TRIGGER as last written (0 with the FIFO off)
        u8 thre_pending;
        u8 irq_level; // level last driven
        u8 pad[3];
    };

    // A UART after reset at ports [base, base + 8). `irq` and `output` may be null.
    Uart(u16 base, u32 irq_line, IrqSink *irq, UartOutput *output);
    Uart(const Uart &) = delete;
    Uart &operator=(const Uart &) = delete;

    bool handles(u16 port) const;
    u32 read(u16 port, u8 size, u64 now);
    void write(u16 port, u8 size, u32 value, u64 now);

    // Input from the host: takes what fits in the receive FIFO and returns how many bytes
    // it took (0 in loopback, where the receiver listens to the transmitter).
    int receive(const u8 *bytes, usize count);
    usize rx_free() const;
    // The divisor latch the guest programmed (baud = 115200 / divisor), for diagnostics.
    u16 divisor() const;

    const State &state() const { return state_; }
    // Takes a saved State; -BATON_EINVAL leaves the model unchanged when a field is out
    // of range or contradicts another. Drives nothing.
    [[nodiscard]] int load(const State &state);

private:
    u8 read_byte(u16 offset);
    void write_byte(u16 offset, u8 value);
    void transmit(u8 byte);
    void push(u8 byte);
    u8 pop();
    void update_irq();

    u16 base_;
    u32 irq_line_;
    IrqSink *irq_;
    UartOutput *output_;
    State state_{};
};
