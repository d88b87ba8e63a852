// SPDX-License-Identifier: MIT
// Unit tests for the 16550A model: Linux's 8250 probes, FIFO, IIR order, THRE, loopback, State.
#include "abi/errno.h"
#include "arch/x86_64/platform/uart.hpp"
#include "platform_test_support.hpp"
#include <cstring>
#include <gtest/gtest.h>
#include <string>

namespace {

constexpr u16 BASE = Uart::COM1_BASE;
constexpr u16 RBR = BASE + 0;
constexpr u16 IER = BASE + 1;
constexpr u16 IIR = BASE + 2;
constexpr u16 FCR = BASE + 2;
constexpr u16 LCR = BASE + 3;
constexpr u16 MCR = BASE + 4;
constexpr u16 LSR = BASE + 5;
constexpr u16 MSR = BASE + 6;
constexpr u16 SCR = BASE + 7;

struct Output final : UartOutput {
    std::string bytes;
    void put(u8 byte) override { bytes.push_back(static_cast<char>(byte)); }
};

using Recorder = IrqRecorder;

struct Fixture {
    Output output;
    Recorder irq;
    Uart uart{BASE, Uart::COM1_IRQ, &irq, &output};

    u8 in(u16 port) { return static_cast<u8>(uart.read(port, 1, 0)); }
    void out(u16 port, u8 value) { uart.write(port, 1, value, 0); }
};

} // namespace

TEST(PlatformUart, LinuxAutoconfigFindsA16550A)
{
    // drivers/tty/serial/8250/8250_port.c autoconfig() and autoconfig_16550a().
    Fixture f;
    const u8 scratch = f.in(IER);
    f.out(IER, 0);
    const u8 scratch2 = f.in(IER)&0x0F;
    f.out(IER, 0x0F);
    const u8 scratch3 = f.in(IER)&0x0F;
    f.out(IER, scratch);
    EXPECT_EQ(scratch2, 0);
    EXPECT_EQ(scratch3, 0x0F);
    const u8 save_mcr = f.in(MCR);
    f.out(MCR, 0x10 | 0x0A); // loopback with RTS and OUT2
    EXPECT_EQ(f.in(MSR)&0xF0, 0x90);
    f.out(MCR, save_mcr);
    f.out(LCR, 0xBF);
    f.out(FCR, 0); // EFR on chips that have one
    f.out(LCR, 0);
    f.out(FCR, 0x01);
    EXPECT_EQ(f.in(IIR) >> 6, 3); // FIFO: a 16550A or later
    f.out(LCR, 0x80);
    EXPECT_NE(f.in(IIR), 0); // no EFR behind DLAB (ST16C650V1)
    f.out(LCR, 0xBF);
    EXPECT_NE(f.in(IIR), 0); // nor behind 0xBF
    // NatSemi: the LOOP bit must not appear in "EXCR1" (IIR under LCR 0xE0).
    f.out(LCR, 0);
    const u8 status1 = f.in(MCR);
    f.out(LCR, 0xE0);
    EXPECT_EQ((f.in(IIR) ^ status1) & 0x10, 0);
    f.out(LCR, 0);
    f.out(MCR, status1 ^ 0x10);
    f.out(LCR, 0xE0);
    EXPECT_EQ((f.in(IIR) ^ status1) & 0x10, 0);
    f.out(LCR, 0);
    f.out(MCR, status1);
    // No 64-byte FIFO (16750) with or without DLAB.
    f.out(FCR, 0x21);
    EXPECT_EQ(f.in(IIR)&0xE0, 0xC0);
    f.out(LCR, 0x80);
    f.out(FCR, 0x21);
    EXPECT_EQ(f.in(IIR)&0xE0, 0xC0);
    f.out(LCR, 0);
    // No XScale UUE bit.
    f.out(IER, 0x40);
    EXPECT_EQ(f.in(IER)&0x40, 0);
    EXPECT_TRUE(f.output.bytes.empty());
}

TEST(PlatformUart, LinuxStartupThreProbes)
{
    // serial8250_do_startup: clear FIFOs, the THRE re-assert test, the TXEN test.
    Fixture f;
    f.out(FCR, 0x01);
    f.out(FCR, 0x07);
    f.out(FCR, 0x00);
    f.in(LSR);
    f.in(RBR);
    f.in(IIR);
    f.in(MSR);
    EXPECT_NE(f.in(LSR), 0xFF);
    f.out(LCR, 0x03);
    f.out(MCR, 0x0B); // DTR, RTS, OUT2
    f.out(IER, 0x02);
    const u8 iir1 = f.in(IIR);
    f.out(IER, 0);
    f.out(IER, 0x02);
    const u8 iir = f.in(IIR);
    f.out(IER, 0);
    EXPECT_EQ(iir1 & 0x01, 0); // THRE was pending
    EXPECT_EQ(iir & 0x01, 0); // and re-asserted: no UART_BUG_THRE
    EXPECT_EQ(iir, 0x02);
    f.out(IER, 0x02);
    const u8 lsr = f.in(LSR);
    EXPECT_EQ(f.in(IIR)&0x01, 0); // no UART_BUG_TXEN
    EXPECT_EQ(lsr & 0x60, 0x60);
    // The IIR read acknowledged THRE: nothing pending until THR is written.
    EXPECT_EQ(f.in(IIR), 0x01);
}

TEST(PlatformUart, TransmitIsImmediate)
{
    Fixture f;
    for (const char c : std::string("Linux version 6.1\n"))
        f.out(BASE, static_cast<u8>(c));
    EXPECT_EQ(f.output.bytes, "Linux version 6.1\n");
    EXPECT_EQ(f.in(LSR), 0x60);
    f.uart.write(BASE, 2, 0x4948, 0); // 'H' to THR, 'I' to IER
    EXPECT_EQ(f.output.bytes.back(), 'H');
    EXPECT_EQ(f.in(IER), 0x09);
}

TEST(PlatformUart, ThreInterruptOnTheLine)
{
    Fixture f;
    f.out(IER, 0x02);
    EXPECT_FALSE(f.irq.level); // OUT2 off: the PC does not see the interrupt
    f.out(MCR, 0x08);
    EXPECT_TRUE(f.irq.level);
    EXPECT_EQ(f.irq.line, 4u);
    EXPECT_EQ(f.in(IIR), 0x02);
    EXPECT_FALSE(f.irq.level);
    f.out(IER, 0x03); // THRE stays enabled: it is not pending again
    EXPECT_FALSE(f.irq.level);
    f.out(BASE, 'x'); // sent at once: THR empty again
    EXPECT_TRUE(f.irq.level);
    EXPECT_EQ(f.irq.rising, 2);
    f.out(IER, 0x00);
    EXPECT_FALSE(f.irq.level);
    f.out(IER, 0x02);
    EXPECT_TRUE(f.irq.level);
    f.out(MCR, 0x18); // loopback forces OUT2 off
    EXPECT_FALSE(f.irq.level);
    EXPECT_EQ(f.in(IIR), 0x02); // still pending inside the chip
}

TEST(PlatformUart, ReceiveFifoTriggerAndTimeout)
{
    Fixture f;
    f.out(FCR, 0x81); // FIFO on, trigger at 8 (Linux's 16550A setting)
    f.out(IER, 0x01);
    f.out(MCR, 0x08);
    EXPECT_EQ(f.in(IIR), 0xC1);
    const u8 text[] = "hello, baton!!";
    EXPECT_EQ(f.uart.receive(text, 14), 14);
    EXPECT_TRUE(f.irq.level);
    EXPECT_EQ(f.in(IIR), 0xC4); // at or above the trigger level
    std::string got;
    while (got.size() < 6)
        got.push_back(static_cast<char>(f.in(RBR)));
    EXPECT_EQ(f.in(IIR), 0xC4); // eight left
    got.push_back(static_cast<char>(f.in(RBR)));
    EXPECT_EQ(f.in(IIR), 0xCC); // below the trigger: character timeout
    while ((f.in(LSR)&0x01) != 0)
        got.push_back(static_cast<char>(f.in(RBR)));
    EXPECT_EQ(got, "hello, baton!!");
    EXPECT_EQ(f.in(IIR), 0xC1);
    EXPECT_FALSE(f.irq.level);
    // The FIFO takes what fits; the rest stays with the host.
    u8 burst[100];
    for (u8 i = 0; i < 100; ++i)
        burst[i] = i;
    EXPECT_EQ(f.uart.receive(burst, 100), static_cast<int>(Uart::RX_FIFO_SIZE));
    EXPECT_EQ(f.uart.rx_free(), 0u);
    EXPECT_EQ(f.uart.receive(burst, 1), 0);
    EXPECT_EQ(f.in(LSR)&0x02, 0); // no overrun: nothing was lost
    EXPECT_EQ(f.in(RBR), 0);
    EXPECT_EQ(f.uart.rx_free(), 1u);
    f.out(FCR, 0x83); // clear the receive FIFO
    EXPECT_EQ(f.in(LSR)&0x01, 0);
    // With the FIFO off the receiver holds one byte.
    f.out(FCR, 0x00);
    EXPECT_EQ(f.uart.receive(burst + 7, 3), 1);
    EXPECT_EQ(f.in(IIR), 0x04);
    EXPECT_EQ(f.in(RBR), 7);
    EXPECT_EQ(f.in(RBR), 0); // empty reads as 0
}

TEST(PlatformUart, LinuxCountsASixteenByteFifo)
{
    // size_fifo(): 256 bytes through loopback at divisor 1, then count what DR delivers.
    Fixture f;
    f.out(FCR, 0x01 | 0x06);
    f.out(MCR, 0x10);
    f.out(LCR, 0x80);
    f.out(BASE, 0x01);
    f.out(IER, 0x00);
    f.out(LCR, 0x03);
    for (u32 i = 0; i < 256; ++i)
        f.out(BASE, static_cast<u8>(i));
    u32 count = 0;
    while ((f.in(LSR)&0x01) != 0 && count < 256) {
        f.in(RBR);
        ++count;
    }
    EXPECT_EQ(count, 16u); // a 16550A, not a U6 16550A (64)
    EXPECT_TRUE(f.output.bytes.empty());
}

TEST(PlatformUart, LoopbackAndOverrunAccounting)
{
    Fixture f;
    f.out(FCR, 0x01);
    f.out(MCR, 0x10); // loopback: inputs follow the (inactive) outputs
    EXPECT_EQ(f.in(MSR), 0x0B); // CTS, DSR and DCD fell
    f.out(MCR, 0x10 | 0x0F);
    EXPECT_EQ(f.in(MSR), 0xF0 | 0x0B); // all rose (a rising RI is no TERI)
    EXPECT_EQ(f.in(MSR), 0xF0); // deltas cleared by the read
    EXPECT_EQ(f.uart.receive(reinterpret_cast<const u8 *>("x"), 1), 0); // the receiver listens to THR
    for (u32 i = 0; i < Uart::RX_FIFO_SIZE + 6; ++i)
        f.out(BASE, static_cast<u8>(i));
    EXPECT_TRUE(f.output.bytes.empty());
    EXPECT_EQ(f.uart.state().overruns, 6u);
    EXPECT_EQ(f.in(LSR), 0x60 | 0x02 | 0x01);
    EXPECT_EQ(f.in(LSR), 0x60 | 0x01); // OE is cleared by reading LSR
    for (u32 i = 0; i < Uart::RX_FIFO_SIZE; ++i)
        EXPECT_EQ(f.in(RBR), static_cast<u8>(i)); // the late bytes were lost, not the early ones
    // Without the FIFO an overrun replaces the unread byte.
    f.out(FCR, 0x00);
    f.out(BASE, 'a');
    f.out(BASE, 'b');
    EXPECT_EQ(f.uart.state().overruns, 7u);
    EXPECT_EQ(f.in(RBR), 'b');
    // Leaving loopback: RI fell (TERI), the line inputs are the terminal's again.
    f.out(MCR, 0x00);
    EXPECT_EQ(f.in(MSR), 0xB0 | 0x04);
}

TEST(PlatformUart, InterruptPriorityOrder)
{
    Fixture f;
    f.out(FCR, 0x01);
    f.out(MCR, 0x10 | 0x08); // loopback, OUT2
    f.out(IER, 0x0F);
    for (u32 i = 0; i < Uart::RX_FIFO_SIZE + 1; ++i)
        f.out(BASE, 'z'); // fills the FIFO and overruns
    f.out(MCR, 0x10 | 0x09); // DTR: a modem status change
    EXPECT_EQ(f.in(IIR), 0xC6); // line status first
    f.in(LSR);
    EXPECT_EQ(f.in(IIR), 0xC4); // then received data
    f.out(FCR, 0x03);
    EXPECT_EQ(f.in(IIR), 0xC2); // then THRE, cleared by this read
    EXPECT_EQ(f.in(IIR), 0xC0); // then modem status
    f.in(MSR);
    EXPECT_EQ(f.in(IIR), 0xC1);
}

TEST(PlatformUart, DivisorLatchAndScratch)
{
    Fixture f;
    f.out(LCR, 0x83);
    f.out(BASE, 0x01);
    f.out(IER, 0x00);
    EXPECT_EQ(f.in(BASE), 0x01);
    f.out(LCR, 0x03);
    EXPECT_EQ(f.uart.divisor(), 1);
    EXPECT_TRUE(f.output.bytes.empty()); // DLL writes are not data
    EXPECT_EQ(f.in(IER), 0x00);
    f.out(SCR, 0x5A);
    EXPECT_EQ(f.in(SCR), 0x5A);
    f.out(LSR, 0x00); // ignored
    EXPECT_EQ(f.in(LSR), 0x60);
    EXPECT_TRUE(f.uart.handles(0x3FF));
    EXPECT_FALSE(f.uart.handles(0x400));
    EXPECT_FALSE(f.uart.handles(0x3F7));
    EXPECT_EQ(f.uart.read(0x3FF, 2, 0), 0xFF5Au);
}

TEST(PlatformUart, StateRoundTripGivesIdenticalBehaviour)
{
    Fixture a;
    a.out(FCR, 0xC1);
    a.out(MCR, 0x0B);
    a.out(IER, 0x07);
    a.out(LCR, 0x03);
    u8 input[40];
    for (u8 i = 0; i < 40; ++i)
        input[i] = static_cast<u8>('A' + i % 26);
    EXPECT_EQ(a.uart.receive(input, 40), 16);
    for (int i = 0; i < 11; ++i)
        a.in(RBR); // the ring's head is now past its start
    EXPECT_EQ(a.uart.receive(input + 16, 24), 11);
    ASSERT_TRUE(a.irq.level);
    Fixture b;
    ASSERT_EQ(b.uart.load(a.uart.state()), 0);
    EXPECT_EQ(std::memcmp(&a.uart.state(), &b.uart.state(), sizeof(Uart::State)), 0);
    Fixture *both[] = {&a, &b};
    std::string seen[2];
    for (int i = 0; i < 2; ++i) {
        Fixture &f = *both[i];
        for (int n = 0; n < 20; ++n) {
            seen[i].push_back(static_cast<char>(f.in(IIR)));
            seen[i].push_back(static_cast<char>(f.in(RBR)));
            seen[i].push_back(static_cast<char>(f.in(LSR)));
        }
        f.out(BASE, 'q');
        seen[i] += f.output.bytes;
        seen[i].push_back(static_cast<char>(f.in(IIR)));
    }
    EXPECT_EQ(seen[0], seen[1]);
    EXPECT_EQ(a.irq.rising - 1, b.irq.rising);
}

TEST(PlatformUart, HostileStateIsRefused)
{
    Fixture f;
    f.out(FCR, 0x01);
    const u8 input[3] = {1, 2, 3};
    EXPECT_EQ(f.uart.receive(input, 3), 3);
    const Uart::State good = f.uart.state();
    const auto refused = [&](auto mutate) {
        Uart::State bad = good;
        mutate(bad);
        EXPECT_EQ(f.uart.load(bad), -BATON_EINVAL);
        EXPECT_EQ(std::memcmp(&f.uart.state(), &good, sizeof good), 0);
    };
    refused([](Uart::State &s) { s.rx_head = Uart::RX_FIFO_SIZE; });
    refused([](Uart::State &s) { s.rx_count = Uart::RX_FIFO_SIZE + 1; });
    refused([](Uart::State &s) { s.fcr = 0; }); // three bytes in a one-byte receiver
    refused([](Uart::State &s) { s.fcr = 0x08; });
    refused([](Uart::State &s) { s.ier = 0x10; });
    refused([](Uart::State &s) { s.mcr = 0x20; });
    refused([](Uart::State &s) { s.lsr_errors = 0x01; });
    refused([](Uart::State &s) { s.msr_deltas = 0x10; });
    refused([](Uart::State &s) { s.thre_pending = 1; }); // THRE interrupt not enabled
    refused([](Uart::State &s) {
        s.ier = 0x01;
        s.mcr = 0x08; // an interrupt is pending but the saved level is low
    });
    EXPECT_EQ(f.uart.load(good), 0);
}
