// SPDX-License-Identifier: MIT
// 16550 UART driver: polled transmit and receive.
#include "arch/x86_64/devices/serial.hpp"
#include "arch/x86_64/cpu/cpu.hpp"

namespace {
constexpr u16 DATA = 0, INTERRUPT_ENABLE = 1, FIFO_CONTROL = 2, LINE_CONTROL = 3, MODEM_CONTROL = 4, LINE_STATUS = 5,
              SCRATCH = 7;
constexpr u8 LSR_DATA_READY = 0x01, LSR_TX_EMPTY = 0x20;
Uart com1(Uart::COM1);
} // namespace

Uart &console_uart() { return com1; }

bool Uart::init()
{
    // The scratch register round trip tells whether a UART is there at all.
    cpu::outb(port_ + SCRATCH, 0x5a);
    if (cpu::inb(port_ + SCRATCH) != 0x5a)
        return false;
    cpu::outb(port_ + INTERRUPT_ENABLE, 0x00);
    cpu::outb(port_ + LINE_CONTROL, 0x80); // divisor latch
    cpu::outb(port_ + DATA, 0x01); // 115200 baud
    cpu::outb(port_ + INTERRUPT_ENABLE, 0x00);
    cpu::outb(port_ + LINE_CONTROL, 0x03); // 8N1
    cpu::outb(port_ + FIFO_CONTROL, 0xc7); // FIFOs on, cleared, 14-byte threshold
    cpu::outb(port_ + MODEM_CONTROL, 0x03); // DTR, RTS
    // Drop whatever arrived before we were listening.
    for (int i = 0; i < 64 && (cpu::inb(port_ + LINE_STATUS) & LSR_DATA_READY); i++)
        (void)cpu::inb(port_ + DATA);
    present_ = true;
    return true;
}

void Uart::put(char c)
{
    // A UART whose other end is gone (QEMU's socket with no client) may never drain:
    // after a bounded wait the byte is dropped rather than stalling the hypervisor.
    for (u32 spins = 0; (cpu::inb(port_ + LINE_STATUS) & LSR_TX_EMPTY) == 0; spins++) {
        if (spins > 100000)
            return;
        cpu::pause();
    }
    cpu::outb(port_ + DATA, static_cast<u8>(c));
}

void Uart::write(const char *text, usize length)
{
    if (!present_)
        return;
    for (usize i = 0; i < length; i++) {
        if (text[i] == '\n')
            put('\r');
        put(text[i]);
    }
}

void Uart::write_raw(const char *bytes, usize length)
{
    if (!present_)
        return;
    for (usize i = 0; i < length; i++)
        put(bytes[i]);
}

int Uart::try_read()
{
    if (!present_ || (cpu::inb(port_ + LINE_STATUS) & LSR_DATA_READY) == 0)
        return -1;
    return cpu::inb(port_ + DATA);
}
