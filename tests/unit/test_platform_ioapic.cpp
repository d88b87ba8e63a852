// SPDX-License-Identifier: MIT
// Unit tests for the IO-APIC model: programming through IOREGSEL/IOWIN, edge and level pins,
// Remote IRR, masking, EOI, state; and one level interrupt through a local APIC and back.
#include "abi/errno.h"
#include "arch/x86_64/platform/ioapic.hpp"
#include "arch/x86_64/platform/lapic.hpp"
#include <gtest/gtest.h>
#include <vector>

namespace {

struct Bus final : ApicBus {
    std::vector<ApicMessage> messages;
    void deliver(const ApicMessage &message) override { messages.push_back(message); }
};

// What Linux's io_apic_read/io_apic_write do: index to IOREGSEL, data through IOWIN.
u32 reg_read(IoApic &ioapic, u32 index)
{
    ioapic.write(IoApic::MMIO_SELECT, index);
    return ioapic.read(IoApic::MMIO_WINDOW);
}
void reg_write(IoApic &ioapic, u32 index, u32 value)
{
    ioapic.write(IoApic::MMIO_SELECT, index);
    ioapic.write(IoApic::MMIO_WINDOW, value);
}
// As Linux's ioapic_write_entry: the high half (destination) first, then the low half.
void program(IoApic &ioapic, u32 pin, u32 low, u8 destination)
{
    reg_write(ioapic, IoApic::REG_REDIRECTION + 2 * pin + 1, u32{destination} << 24);
    reg_write(ioapic, IoApic::REG_REDIRECTION + 2 * pin, low);
}
u32 entry_low(IoApic &ioapic, u32 pin) { return reg_read(ioapic, IoApic::REG_REDIRECTION + 2 * pin); }

constexpr u32 LEVEL = static_cast<u32>(IoApic::TRIGGER_LEVEL);
constexpr u32 MASKED = static_cast<u32>(IoApic::MASKED);
constexpr u32 REMOTE_IRR = static_cast<u32>(IoApic::REMOTE_IRR);

class IoApicTest : public ::testing::Test {
protected:
    Bus bus;
    IoApic ioapic{bus, 2};
};

TEST_F(IoApicTest, ResetValuesAndIdentification)
{
    EXPECT_EQ(reg_read(ioapic, IoApic::REG_ID), 0x02000000u);
    EXPECT_EQ(reg_read(ioapic, IoApic::REG_VERSION), 0x00170020u);
    EXPECT_EQ(reg_read(ioapic, IoApic::REG_ARBITRATION), 0x02000000u);
    for (u32 pin = 0; pin < IoApic::PINS; pin++) {
        EXPECT_EQ(entry_low(ioapic, pin), MASKED);
        EXPECT_EQ(reg_read(ioapic, IoApic::REG_REDIRECTION + 2 * pin + 1), 0u);
    }
    ioapic.write(IoApic::MMIO_SELECT, 0x1234);
    EXPECT_EQ(ioapic.read(IoApic::MMIO_SELECT), 0x34u);
    EXPECT_EQ(reg_read(ioapic, 0x03), 0u); // undefined index
    EXPECT_EQ(reg_read(ioapic, 0x40), 0u); // past the last entry
    EXPECT_EQ(ioapic.read(IoApic::MMIO_EOI), 0u);
    EXPECT_EQ(ioapic.read(0x20), 0u);

    reg_write(ioapic, IoApic::REG_ID, 0xffffffff);
    EXPECT_EQ(reg_read(ioapic, IoApic::REG_ID), 0x0f000000u);
    reg_write(ioapic, IoApic::REG_VERSION, 0);
    EXPECT_EQ(reg_read(ioapic, IoApic::REG_VERSION), IoApic::VERSION_VALUE);
}

TEST_F(IoApicTest, ProgrammingAsLinuxDoes)
{
    program(ioapic, 4, 0x0000a931, 0x03); // vector 0x31, lowest priority, logical, active low, level
    EXPECT_EQ(entry_low(ioapic, 4), 0x0000a931u);
    EXPECT_EQ(reg_read(ioapic, IoApic::REG_REDIRECTION + 9), 0x03000000u);
    // Delivery status and Remote IRR are read-only; reserved bits do not stick.
    reg_write(ioapic, IoApic::REG_REDIRECTION + 8, 0xffff5931 | REMOTE_IRR);
    EXPECT_EQ(entry_low(ioapic, 4), 0x00010931u);
    reg_write(ioapic, IoApic::REG_REDIRECTION + 9, 0xffffffff);
    EXPECT_EQ(reg_read(ioapic, IoApic::REG_REDIRECTION + 9), 0xff000000u);
    EXPECT_TRUE(bus.messages.empty());
}

TEST_F(IoApicTest, EdgePinDeliversOnRisingEdges)
{
    program(ioapic, 2, 0x30, 0); // fixed, physical, edge, vector 0x30
    ioapic.set_irq(2, true);
    ASSERT_EQ(bus.messages.size(), 1u);
    EXPECT_EQ(bus.messages[0], (ApicMessage{0x30, DeliveryMode::Fixed, false, 0, false}));
    ioapic.set_irq(2, true); // still high: no new edge
    EXPECT_EQ(bus.messages.size(), 1u);
    ioapic.set_irq(2, false);
    ioapic.set_irq(2, true);
    EXPECT_EQ(bus.messages.size(), 2u);
    EXPECT_EQ(entry_low(ioapic, 2) & REMOTE_IRR, 0u);
    ioapic.eoi(0x30); // edge entries ignore EOIs
    EXPECT_EQ(bus.messages.size(), 2u);
}

TEST_F(IoApicTest, MaskedEdgeIsLost)
{
    program(ioapic, 1, MASKED | 0x31, 0);
    ioapic.set_irq(1, true);
    ioapic.set_irq(1, false);
    ioapic.set_irq(1, true);
    program(ioapic, 1, 0x31, 0); // unmasked with the pin still high
    EXPECT_TRUE(bus.messages.empty());
    ioapic.set_irq(1, false);
    ioapic.set_irq(1, true);
    EXPECT_EQ(bus.messages.size(), 1u);
}

TEST_F(IoApicTest, LevelPinUsesRemoteIrr)
{
    program(ioapic, 9, LEVEL | 0x39, 1);
    ioapic.set_irq(9, true);
    ASSERT_EQ(bus.messages.size(), 1u);
    EXPECT_EQ(bus.messages[0], (ApicMessage{0x39, DeliveryMode::Fixed, false, 1, true}));
    EXPECT_NE(entry_low(ioapic, 9) & REMOTE_IRR, 0u);
    ioapic.set_irq(9, true);
    ioapic.set_irq(9, false);
    ioapic.set_irq(9, true); // Remote IRR holds further deliveries
    EXPECT_EQ(bus.messages.size(), 1u);
    ioapic.eoi(0x38); // another vector: no effect
    EXPECT_NE(entry_low(ioapic, 9) & REMOTE_IRR, 0u);
    ioapic.eoi(0x39); // still asserted: delivered again
    EXPECT_EQ(bus.messages.size(), 2u);
    EXPECT_NE(entry_low(ioapic, 9) & REMOTE_IRR, 0u);
    ioapic.set_irq(9, false); // the handler quietened the device
    ioapic.write(IoApic::MMIO_EOI, 0x39); // the EOI register works the same
    EXPECT_EQ(entry_low(ioapic, 9) & REMOTE_IRR, 0u);
    EXPECT_EQ(bus.messages.size(), 2u);
    ioapic.set_irq(9, true);
    EXPECT_EQ(bus.messages.size(), 3u);
}

TEST_F(IoApicTest, LevelHeldWhileMaskedDeliversOnUnmask)
{
    program(ioapic, 10, MASKED | LEVEL | 0x3a, 0);
    ioapic.set_irq(10, true);
    EXPECT_TRUE(bus.messages.empty());
    EXPECT_EQ(entry_low(ioapic, 10) & REMOTE_IRR, 0u);
    program(ioapic, 10, LEVEL | 0x3a, 0);
    EXPECT_EQ(bus.messages.size(), 1u);
    // Masking and unmasking while in service delivers nothing new until the EOI.
    program(ioapic, 10, MASKED | LEVEL | 0x3a, 0);
    program(ioapic, 10, LEVEL | 0x3a, 0);
    EXPECT_EQ(bus.messages.size(), 1u);
    // A level that came and went while masked leaves nothing behind.
    program(ioapic, 11, MASKED | LEVEL | 0x3b, 0);
    ioapic.set_irq(11, true);
    ioapic.set_irq(11, false);
    program(ioapic, 11, LEVEL | 0x3b, 0);
    EXPECT_EQ(bus.messages.size(), 1u);
}

TEST_F(IoApicTest, SwitchingToEdgeClearsRemoteIrr)
{
    program(ioapic, 5, LEVEL | 0x35, 0);
    ioapic.set_irq(5, true);
    ASSERT_NE(entry_low(ioapic, 5) & REMOTE_IRR, 0u);
    // What Linux does on IO-APICs without an EOI register: mask, edge, then level again.
    program(ioapic, 5, MASKED | 0x35, 0);
    EXPECT_EQ(entry_low(ioapic, 5) & REMOTE_IRR, 0u);
    program(ioapic, 5, LEVEL | 0x35, 0); // still asserted: delivered again
    EXPECT_EQ(bus.messages.size(), 2u);
}

TEST_F(IoApicTest, NonFixedModesAreEdgeOnly)
{
    program(ioapic, 0, LEVEL | 0x700, 0); // ExtINT, level bit set
    program(ioapic, 3, LEVEL | 0x400 | static_cast<u32>(IoApic::DEST_LOGICAL), 0xff); // NMI, logical broadcast
    ioapic.set_irq(0, true);
    ioapic.set_irq(3, true);
    ASSERT_EQ(bus.messages.size(), 2u);
    EXPECT_EQ(bus.messages[0].mode, DeliveryMode::ExtInt);
    EXPECT_FALSE(bus.messages[0].level_triggered);
    EXPECT_EQ(bus.messages[1], (ApicMessage{0, DeliveryMode::Nmi, true, 0xff, false}));
    EXPECT_EQ(entry_low(ioapic, 0) & REMOTE_IRR, 0u);
    ioapic.set_irq(3, false);
    ioapic.set_irq(3, true);
    EXPECT_EQ(bus.messages.size(), 3u);
    program(ioapic, 6, 0x600 | 0x40, 0); // the reserved StartUp encoding sends nothing
    ioapic.set_irq(6, true);
    EXPECT_EQ(bus.messages.size(), 3u);
    ioapic.set_irq(IoApic::PINS, true); // no such pin
    ioapic.set_irq(~0u, true);
    EXPECT_EQ(bus.messages.size(), 3u);
}

// A level-triggered device interrupt through the whole path: IO-APIC -> LAPIC -> EOI
// broadcast -> Remote IRR cleared -> redelivered while the device still asserts.
struct Platform final : ApicBus, IpiSink, EoiSink {
    IoApic *ioapic = nullptr;
    Lapic *lapic = nullptr;
    void deliver(const ApicMessage &message) override
    {
        if (lapic_matches_destination(lapic->state(), message.destination, message.logical))
            lapic->accept(message.vector, message.level_triggered);
    }
    void ipi(const Ipi &) override {}
    void eoi(u8 vector) override { ioapic->eoi(vector); }
};

TEST(IoApicWithLapic, LevelInterruptRoundTrip)
{
    Platform platform;
    IoApic ioapic{platform, 1};
    Lapic lapic{Lapic::Config{TscClock{1'000'000'000}, Lapic::DEFAULT_BUS_HZ, 0, true}, platform, platform};
    platform.ioapic = &ioapic;
    platform.lapic = &lapic;
    lapic.write(Lapic::REG_SVR, 0x1ff, 0);
    program(ioapic, 11, LEVEL | 0x3b, 0);
    ioapic.set_irq(11, true);
    ASSERT_EQ(lapic.pending_vector(), 0x3b);
    lapic.acknowledge(0x3b);
    lapic.write(Lapic::REG_EOI, 0, 0); // device still asserts: back in IRR
    EXPECT_EQ(lapic.pending_vector(), 0x3b);
    lapic.acknowledge(0x3b);
    ioapic.set_irq(11, false);
    lapic.write(Lapic::REG_EOI, 0, 0);
    EXPECT_EQ(lapic.pending_vector(), -1);
    EXPECT_EQ(entry_low(ioapic, 11) & REMOTE_IRR, 0u);
}

void make_busy(IoApic &ioapic)
{
    program(ioapic, 2, 0x30, 0);
    program(ioapic, 9, LEVEL | 0x39, 1);
    program(ioapic, 12, MASKED | LEVEL | 0x3c, 0);
    ioapic.set_irq(9, true);
    ioapic.set_irq(12, true);
    ioapic.set_irq(2, true);
    ioapic.write(IoApic::MMIO_SELECT, 0x15);
}

TEST(IoApicState, RoundTripGivesTheSameFuture)
{
    Bus a_bus;
    IoApic a{a_bus};
    make_busy(a);
    Bus b_bus;
    IoApic b{b_bus};
    const IoApic::State saved = a.state();
    ASSERT_EQ(b.load(saved), 0);
    EXPECT_EQ(b.state(), a.state());
    a_bus.messages.clear();
    for (IoApic *ioapic : {&a, &b}) {
        EXPECT_EQ(ioapic->read(IoApic::MMIO_WINDOW), 0u); // IOREGSEL survived: 0x15 is pin 2 high
        ioapic->set_irq(2, true); // still high: nothing
        ioapic->eoi(0x39); // level pin 9 still asserted: redelivered
        program(*ioapic, 12, LEVEL | 0x3c, 0); // unmask: pin 12 is high
        ioapic->set_irq(2, false);
        ioapic->set_irq(2, true);
    }
    EXPECT_EQ(a_bus.messages, b_bus.messages);
    EXPECT_EQ(a_bus.messages.size(), 3u);
    EXPECT_EQ(a.state(), b.state());
}

TEST(IoApicState, HostileStatesAreRefused)
{
    Bus bus;
    IoApic model{bus};
    make_busy(model);
    const IoApic::State good = model.state();
    using Mutation = void (*)(IoApic::State &);
    const Mutation mutations[] = {
        [](IoApic::State &s) { s.id |= 1; },
        [](IoApic::State &s) { s.id |= 1u << 28; },
        [](IoApic::State &s) { s.select = 0x100; },
        [](IoApic::State &s) { s.levels |= 1u << 24; },
        [](IoApic::State &s) { s.reserved = 7; },
        [](IoApic::State &s) { s.redirection[0] |= IoApic::DELIVERY_PENDING; },
        [](IoApic::State &s) { s.redirection[3] |= u64{1} << 40; },
        [](IoApic::State &s) { s.redirection[2] |= IoApic::REMOTE_IRR; }, // an edge entry
        [](IoApic::State &s) { s.redirection[9] |= 0x400; }, // NMI cannot be in service
    };
    IoApic target{bus, 3};
    const IoApic::State before = target.state();
    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        IoApic::State bad = good;
        mutations[i](bad);
        EXPECT_EQ(target.load(bad), -BATON_EINVAL) << "mutation " << i;
        EXPECT_EQ(target.state(), before) << "mutation " << i;
    }
    EXPECT_EQ(target.load(good), 0);
}

} // namespace
