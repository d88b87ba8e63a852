// SPDX-License-Identifier: MIT
// Unit tests for event channels: ports, timers, pending and mask semantics.
#include "abi/errno.h"
#include "dom/evtchn.hpp"
#include <gtest/gtest.h>

TEST(Evtchn, UpcallVectorIsChecked)
{
    EventChannels channels;
    EXPECT_EQ(channels.set_upcall_vector(31), -BATON_EINVAL);
    EXPECT_EQ(channels.set_upcall_vector(256), -BATON_EINVAL);
    EXPECT_EQ(channels.set_upcall_vector(0x40), 0);
    EXPECT_EQ(channels.upcall_vector(), 0x40);
}

TEST(Evtchn, TimerFiresPeriodicallyAndCollapsesMissedPeriods)
{
    EventChannels channels;
    EXPECT_EQ(channels.set_upcall_vector(0x40), 0);
    EXPECT_EQ(channels.bind_timer(1000, 0), -BATON_EINVAL); // below the minimum period
    int port = channels.bind_timer(10'000'000, 0);
    ASSERT_GT(port, 0);
    u64 next = ~0ull;
    EXPECT_FALSE(channels.fire_timers(5'000'000, next));
    EXPECT_EQ(next, 10'000'000u);
    next = ~0ull;
    EXPECT_TRUE(channels.fire_timers(35'000'000, next));
    EXPECT_TRUE(channels.pending(static_cast<u16>(port)));
    EXPECT_EQ(next, 40'000'000u);
}

TEST(Evtchn, MaskHoldsDeliveryUntilUnmask)
{
    baton_shared_info shared{};
    EventChannels channels;
    channels.attach_shared_info(&shared);
    EXPECT_EQ(channels.set_upcall_vector(0x40), 0);
    int port = channels.alloc_unbound(1);
    ASSERT_GT(port, 0);
    shared.evtchn_mask[0] |= 1ull << port;
    EXPECT_FALSE(channels.raise(static_cast<u16>(port)));
    EXPECT_TRUE(shared.evtchn_pending[0] & (1ull << port));
    EXPECT_FALSE(channels.has_deliverable());
    EXPECT_TRUE(channels.unmask(static_cast<u64>(port)));
    EXPECT_EQ(shared.upcall_pending, 1);
    EXPECT_TRUE(channels.has_deliverable());
}

TEST(Evtchn, UpcallMaskAndMissingVectorHoldDelivery)
{
    baton_shared_info shared{};
    EventChannels channels;
    channels.attach_shared_info(&shared);
    int port = channels.alloc_unbound(1);
    EXPECT_FALSE(channels.raise(static_cast<u16>(port))) << "no vector set yet";
    EXPECT_EQ(channels.set_upcall_vector(0x40), 0);
    shared.upcall_mask = 1;
    EXPECT_FALSE(channels.raise(static_cast<u16>(port)));
    shared.upcall_mask = 0;
    EXPECT_TRUE(channels.raise(static_cast<u16>(port)));
}

TEST(Evtchn, PendingBitsSurviveAttachingTheSharedPage)
{
    EventChannels channels;
    int port = channels.bind_timer(1'000'000, 0);
    u64 next = ~0ull;
    EXPECT_FALSE(channels.fire_timers(2'000'000, next)) << "no upcall vector is set: pending, nothing to deliver";
    EXPECT_TRUE(channels.pending(static_cast<u16>(port)));
    baton_shared_info shared{};
    channels.attach_shared_info(&shared);
    EXPECT_TRUE(shared.evtchn_pending[0] & (1ull << port));
}

TEST(Evtchn, BadPortsAreRefused)
{
    EventChannels channels;
    EXPECT_EQ(channels.close(0), -BATON_EINVAL);
    EXPECT_EQ(channels.close(BATON_EVTCHN_PORTS), -BATON_EINVAL);
    EXPECT_EQ(channels.close(~0ull), -BATON_EINVAL);
    EXPECT_EQ(channels.close(5), -BATON_ENOENT) << "port 5 is not bound";
    EXPECT_FALSE(channels.raise(0));
    EXPECT_FALSE(channels.unmask(BATON_EVTCHN_PORTS));
    EXPECT_EQ(channels.port(0), nullptr);
}

TEST(Evtchn, PortsRunOutCleanly)
{
    EventChannels channels;
    for (unsigned i = 1; i < BATON_EVTCHN_PORTS; i++)
        ASSERT_EQ(channels.alloc_unbound(0), static_cast<int>(i));
    EXPECT_EQ(channels.alloc_unbound(0), -BATON_ENOSPC);
    EXPECT_EQ(channels.close(7), 0);
    EXPECT_EQ(channels.alloc_unbound(0), 7);
}
