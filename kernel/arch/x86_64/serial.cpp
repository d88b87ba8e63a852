// 16550 UART driver: polled transmit and receive.
#include "serial.hpp"
#include "cpu.hpp"

namespace {
constexpr u16 DATA = 0, INTERRUPT_ENABLE = 1, FIFO_CONTROL = 2, LINE_CONTROL = 3, MODEM_CONTROL = 4,
              LINE_STATUS = 5, SCRATCH = 7;
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
    cpu::outb(port_ + DATA, 0x01);         // 115200 baud
    cpu::outb(port_ + INTERRUPT_ENABLE, 0x00);
    cpu::outb(port_ + LINE_CONTROL, 0x03); // 8N1
    cpu::outb(port_ + FIFO_CONTROL, 0xc7); // FIFOs on, cleared, 14-byte threshold
    cpu::outb(port_ + MODEM_CONTROL, 0x03); // DTR, RTS
    present_ = true;
    return true;
}

void Uart::put(char c)
{
    while ((cpu::inb(port_ + LINE_STATUS) & LSR_TX_EMPTY) == 0)
        cpu::pause();
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

int Uart::try_read()
{
    if (!present_ || (cpu::inb(port_ + LINE_STATUS) & LSR_DATA_READY) == 0)
        return -1;
    return cpu::inb(port_ + DATA);
}
