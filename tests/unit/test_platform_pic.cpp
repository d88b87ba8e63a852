// SPDX-License-Identifier: MIT
// Unit tests for the 8259A pair: Linux's probe and init, priority, EOI, cascade, ELCR, State.
#include "abi/errno.h"
#include "arch/x86_64/platform/pic.hpp"
#include <cstring>
#include <gtest/gtest.h>

namespace {

constexpr u16 M_CMD = 0x20;
constexpr u16 M_DATA = 0x21;
constexpr u16 S_CMD = 0xA0;
constexpr u16 S_DATA = 0xA1;
constexpr u8 M_BASE = 0x30; // Linux's ISA_IRQ_VECTOR(0)
constexpr u8 S_BASE = 0x38;

void out(Pic &pic, u16 port, u8 value) { pic.write(port, 1, value, 0); }
u8 in(Pic &pic, u16 port) { return static_cast<u8>(pic.read(port, 1, 0)); }

// arch/x86/kernel/i8259.c: probe_8259A then init_8259A(auto_eoi).
void linux_init(Pic &pic, bool auto_eoi = false)
{
    out(pic, S_DATA, 0xFF);
    out(pic, M_DATA, 0xA5);
    ASSERT_EQ(in(pic, M_DATA), 0xA5); // "no legacy PIC" if this fails
    out(pic, M_DATA, 0xFF);
    out(pic, M_CMD, 0x11); // ICW1: edge, cascade, ICW4
    out(pic, M_DATA, M_BASE);
    out(pic, M_DATA, 1u << 2); // slave on IR2
    out(pic, M_DATA, auto_eoi ? 0x03 : 0x01);
    out(pic, S_CMD, 0x11);
    out(pic, S_DATA, S_BASE);
    out(pic, S_DATA, 2); // cascade identity
    out(pic, S_DATA, 0x01);
    out(pic, M_DATA, 0xFB); // everything masked but the cascade
    out(pic, S_DATA, 0xFF);
}

void pulse(Pic &pic, u32 line)
{
    pic.set_irq(line, true);
    pic.set_irq(line, false);
}

} // namespace

TEST(PlatformPic, LinuxProbeAndInitThenTimerInterrupt)
{
    Pic pic;
    linux_init(pic);
    EXPECT_EQ(in(pic, M_DATA), 0xFB);
    EXPECT_EQ(in(pic, S_DATA), 0xFF);
    EXPECT_EQ(pic.state().chip[Pic::MASTER].vector_base, M_BASE);
    EXPECT_EQ(pic.state().chip[Pic::SLAVE].vector_base, S_BASE);
    pulse(pic, 0);
    EXPECT_FALSE(pic.has_pending()); // masked
    out(pic, M_DATA, 0xFA); // unmask IRQ 0: the latched edge is delivered
    EXPECT_TRUE(pic.has_pending());
    EXPECT_EQ(pic.pending_vector(), M_BASE);
    EXPECT_EQ(pic.acknowledge(), M_BASE);
    EXPECT_FALSE(pic.has_pending());
    EXPECT_EQ(pic.pending_vector(), -1);
    out(pic, M_CMD, 0x0B); // OCW3: read ISR
    EXPECT_EQ(in(pic, M_CMD), 0x01);
    out(pic, M_CMD, 0x60); // specific EOI for IR0 (mask_and_ack_8259A)
    EXPECT_EQ(in(pic, M_CMD), 0x00);
    out(pic, M_CMD, 0x0A); // back to IRR
    pic.set_irq(0, true);
    EXPECT_EQ(in(pic, M_CMD), 0x01);
}

TEST(PlatformPic, PriorityAndNonSpecificEoi)
{
    Pic pic;
    linux_init(pic);
    out(pic, M_DATA, 0x00);
    pulse(pic, 5);
    pulse(pic, 3);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 3);
    // IR5 waits: lower priority than IR3 in service; IR1 outranks it.
    EXPECT_FALSE(pic.has_pending());
    pulse(pic, 1);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 1);
    out(pic, M_CMD, 0x20); // non-specific EOI ends IR1, the highest in service
    EXPECT_FALSE(pic.has_pending());
    out(pic, M_CMD, 0x20); // ends IR3
    EXPECT_EQ(pic.acknowledge(), M_BASE + 5);
    out(pic, M_CMD, 0x0B);
    EXPECT_EQ(in(pic, M_CMD), 1u << 5);
}

TEST(PlatformPic, MaskHoldsEdgeUntilUnmasked)
{
    Pic pic;
    linux_init(pic);
    pulse(pic, 4);
    EXPECT_FALSE(pic.has_pending());
    out(pic, M_CMD, 0x0A);
    EXPECT_EQ(in(pic, M_CMD), 1u << 4); // IRR shows it regardless of the mask
    out(pic, M_DATA, 0xEB);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 4);
    // A line held high is one edge, not a stream.
    out(pic, M_CMD, 0x64);
    pic.set_irq(4, true);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 4);
    out(pic, M_CMD, 0x64);
    pic.set_irq(4, true);
    EXPECT_FALSE(pic.has_pending());
}

TEST(PlatformPic, CascadeDeliversSlaveVectors)
{
    Pic pic;
    linux_init(pic);
    out(pic, S_DATA, 0xFE); // unmask IRQ 8 (RTC)
    pulse(pic, 8);
    EXPECT_TRUE(pic.has_pending());
    EXPECT_EQ(pic.pending_vector(), S_BASE);
    EXPECT_EQ(pic.acknowledge(), S_BASE);
    out(pic, M_CMD, 0x0B);
    out(pic, S_CMD, 0x0B);
    EXPECT_EQ(in(pic, M_CMD), 1u << 2);
    EXPECT_EQ(in(pic, S_CMD), 1u << 0);
    // A master request of higher priority than the cascade still interrupts.
    out(pic, M_DATA, 0xFA);
    pulse(pic, 0);
    EXPECT_EQ(pic.acknowledge(), M_BASE);
    out(pic, M_CMD, 0x60);
    // Another slave request waits for both EOIs (the slave, then the master's IR2).
    pulse(pic, 8);
    EXPECT_FALSE(pic.has_pending());
    out(pic, S_CMD, 0x60);
    EXPECT_FALSE(pic.has_pending());
    out(pic, M_CMD, 0x62);
    EXPECT_EQ(pic.acknowledge(), S_BASE);
}

TEST(PlatformPic, SlavePriorityAcrossTwoRequests)
{
    Pic pic;
    linux_init(pic);
    out(pic, S_DATA, 0x00);
    pulse(pic, 12);
    pulse(pic, 9);
    EXPECT_EQ(pic.acknowledge(), S_BASE + 1);
    out(pic, S_CMD, 0x20);
    out(pic, M_CMD, 0x20);
    EXPECT_EQ(pic.acknowledge(), S_BASE + 4);
    pic.set_irq(2, true); // no input of its own
    out(pic, S_CMD, 0x20);
    out(pic, M_CMD, 0x20);
    EXPECT_FALSE(pic.has_pending());
    pic.set_irq(40, true); // out of range: ignored
    EXPECT_FALSE(pic.has_pending());
}

TEST(PlatformPic, LevelTriggeredFollowsTheLine)
{
    Pic pic;
    linux_init(pic);
    out(pic, M_DATA, 0x00);
    out(pic, S_DATA, 0x00);
    pic.write(0x4D0, 2, 0xFFFF, 0); // the ELCR keeps only its valid bits
    EXPECT_EQ(pic.read(0x4D0, 2, 0), 0xDEF8u);
    pic.set_irq(11, true);
    EXPECT_EQ(pic.acknowledge(), S_BASE + 3);
    out(pic, S_CMD, 0x63);
    out(pic, M_CMD, 0x62);
    // Still high after the EOI: requested again.
    EXPECT_EQ(pic.pending_vector(), S_BASE + 3);
    // The line falls before the INTA cycle: the slave withdraws its request, but the
    // master latched the cascade edge, so the vCPU would get the slave's spurious IR7.
    pic.set_irq(11, false);
    EXPECT_EQ(pic.pending_vector(), S_BASE + 7);
    EXPECT_EQ(pic.acknowledge(), S_BASE + 7);
    out(pic, M_CMD, 0x62);
    EXPECT_FALSE(pic.has_pending());
    // Edge-sensed lines keep their request after the line falls.
    pic.write(0x4D0, 2, 0, 0);
    pulse(pic, 11);
    EXPECT_EQ(pic.pending_vector(), S_BASE + 3);
}

TEST(PlatformPic, SpuriousIrq7And15)
{
    Pic pic;
    linux_init(pic);
    out(pic, M_DATA, 0x00);
    out(pic, S_DATA, 0x00);
    // Nothing pending: the master answers with IR7 and sets no ISR bit.
    EXPECT_EQ(pic.acknowledge(), M_BASE + 7);
    out(pic, M_CMD, 0x0B);
    EXPECT_EQ(in(pic, M_CMD), 0x00);
    // A level request on the slave that went away after the master saw the cascade edge.
    out(pic, 0x4D1, 0x08); // IRQ 11 level
    pic.set_irq(11, true);
    EXPECT_TRUE(pic.has_pending());
    out(pic, S_DATA, 0x08); // the guest masks it on the slave: the master's edge stays latched
    EXPECT_EQ(pic.pending_vector(), S_BASE + 7);
    EXPECT_EQ(pic.acknowledge(), S_BASE + 7);
    out(pic, S_CMD, 0x0B);
    EXPECT_EQ(in(pic, S_CMD), 0x00);
    EXPECT_EQ(in(pic, M_CMD), 1u << 2); // Linux EOIs the master only for a spurious IRQ 15
}

TEST(PlatformPic, AutoEoiAndRotation)
{
    Pic pic;
    linux_init(pic, true);
    out(pic, M_DATA, 0x00);
    pulse(pic, 3);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 3);
    out(pic, M_CMD, 0x0B);
    EXPECT_EQ(in(pic, M_CMD), 0x00); // no service left to end
    // Rotate on auto-EOI: IR3 becomes the lowest priority, so IR4 beats IR3 next time.
    out(pic, M_CMD, 0x80);
    pulse(pic, 3);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 3);
    pulse(pic, 3);
    pulse(pic, 5);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 5);
    // Set priority: IR2 lowest, so IR3 is the highest and the waiting IR3 goes first.
    out(pic, M_CMD, 0xC2);
    EXPECT_EQ(pic.state().chip[Pic::MASTER].highest, 3);
    pulse(pic, 7);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 3);
}

TEST(PlatformPic, RotateOnSpecificEoiAndSpecialMask)
{
    Pic pic;
    linux_init(pic);
    out(pic, M_DATA, 0x00);
    pulse(pic, 2 + 4); // IR6
    EXPECT_EQ(pic.acknowledge(), M_BASE + 6);
    out(pic, M_CMD, 0xE6); // rotate on specific EOI for IR6: IR7 becomes highest
    pulse(pic, 0);
    pulse(pic, 7);
    EXPECT_EQ(pic.acknowledge(), M_BASE + 7);
    // Special mask mode: masking IR7 in service lets lower-priority IR0 through.
    EXPECT_FALSE(pic.has_pending());
    out(pic, M_DATA, 0x80);
    out(pic, M_CMD, 0x68); // OCW3: set special mask mode
    EXPECT_EQ(pic.acknowledge(), M_BASE + 0);
    out(pic, M_CMD, 0x48); // clear it
    EXPECT_EQ(pic.state().chip[Pic::MASTER].special_mask, 0);
}

TEST(PlatformPic, PollCommand)
{
    Pic pic;
    linux_init(pic);
    out(pic, M_DATA, 0x00);
    out(pic, M_CMD, 0x0C); // poll
    EXPECT_EQ(in(pic, M_CMD), 0x00);
    pulse(pic, 5);
    out(pic, M_CMD, 0x0C);
    EXPECT_EQ(in(pic, M_DATA), 0x85); // poll applies to the next read of either port
    EXPECT_FALSE(pic.has_pending()); // taken into service
    EXPECT_EQ(in(pic, M_DATA), 0x00); // the mask again
}

TEST(PlatformPic, InitWithoutIcw4AndSingleMode)
{
    Pic pic;
    out(pic, M_CMD, 0x12); // single, no ICW4
    out(pic, M_DATA, 0x08);
    out(pic, M_DATA, 0x00); // already the mask
    EXPECT_EQ(pic.state().chip[Pic::MASTER].init_step, Pic::INIT_READY);
    pulse(pic, 1);
    EXPECT_EQ(pic.acknowledge(), 0x09);
    // ICW1 mid-service clears the service and the mask.
    out(pic, M_CMD, 0x11);
    EXPECT_EQ(pic.state().chip[Pic::MASTER].isr, 0);
    EXPECT_EQ(pic.state().chip[Pic::MASTER].init_step, Pic::INIT_ICW2);
}

TEST(PlatformPic, PortsAndWideAccesses)
{
    Pic pic;
    EXPECT_TRUE(pic.handles(0x20));
    EXPECT_TRUE(pic.handles(0xA1));
    EXPECT_TRUE(pic.handles(0x4D1));
    EXPECT_FALSE(pic.handles(0x22));
    out(pic, M_DATA, 0x12);
    EXPECT_EQ(pic.read(M_DATA, 2, 0), 0xFF12u); // 0x22 is open bus
}

TEST(PlatformPic, StateRoundTripGivesIdenticalBehaviour)
{
    Pic a;
    linux_init(a);
    out(a, M_DATA, 0x00);
    out(a, S_DATA, 0x00);
    out(a, 0x4D1, 0x0C);
    a.set_irq(10, true);
    pulse(a, 4);
    pulse(a, 14);
    EXPECT_EQ(a.acknowledge(), S_BASE + 2);
    out(a, S_CMD, 0x0B);
    Pic b;
    ASSERT_EQ(b.load(a.state()), 0);
    EXPECT_EQ(std::memcmp(&a.state(), &b.state(), sizeof(Pic::State)), 0);
    Pic *pics[] = {&a, &b};
    int vectors[2][6] = {};
    for (int i = 0; i < 2; ++i) {
        Pic &pic = *pics[i];
        vectors[i][0] = in(pic, S_CMD);
        out(pic, S_CMD, 0x20);
        out(pic, M_CMD, 0x20);
        vectors[i][1] = pic.acknowledge();
        vectors[i][2] = pic.acknowledge();
        pic.set_irq(10, false);
        out(pic, S_CMD, 0x20);
        out(pic, M_CMD, 0x20);
        vectors[i][3] = pic.pending_vector();
        vectors[i][4] = pic.acknowledge();
        vectors[i][5] = pic.pending_vector();
    }
    EXPECT_EQ(std::memcmp(vectors[0], vectors[1], sizeof vectors[0]), 0);
    EXPECT_EQ(vectors[0][0], 1 << 2);
    EXPECT_EQ(vectors[0][1], S_BASE + 2); // level IRQ 10 still high
}

TEST(PlatformPic, HostileStateIsRefused)
{
    Pic pic;
    linux_init(pic);
    out(pic, M_DATA, 0x00);
    const Pic::State good = pic.state();
    const auto refused = [&](auto mutate) {
        Pic::State bad = good;
        mutate(bad);
        EXPECT_EQ(pic.load(bad), -BATON_EINVAL);
        EXPECT_EQ(std::memcmp(&pic.state(), &good, sizeof good), 0);
    };
    refused([](Pic::State &s) { s.chip[0].elcr = 0x01; }); // IRQ 0 is edge only
    refused([](Pic::State &s) { s.chip[1].elcr = 0x01; }); // IRQ 8 too
    refused([](Pic::State &s) { s.chip[0].vector_base = 0x31; });
    refused([](Pic::State &s) { s.chip[1].init_step = 4; });
    refused([](Pic::State &s) { s.chip[0].highest = 8; });
    refused([](Pic::State &s) { s.chip[1].poll = 2; });
    refused([](Pic::State &s) { s.chip[0].auto_eoi = 0xFF; });
    refused([](Pic::State &s) {
        s.chip[1].elcr = 0x02;
        s.chip[1].lines = 0x02; // level line high without its request
    });
    refused([](Pic::State &s) {
        s.chip[1].imr = 0;
        s.chip[1].irr = 0x10; // the slave requests but the master's input 2 is low
    });
    EXPECT_EQ(pic.load(good), 0);
}
