// SPDX-License-Identifier: MIT
// The IO-APIC: index/data registers, redirection entries, edge and level pins, Remote IRR.
#include "arch/x86_64/platform/ioapic.hpp"
#include "abi/errno.h"

namespace {

constexpr u32 HALF_SHIFT = 32;
constexpr u64 LOW_HALF = 0xffffffff;

DeliveryMode mode_of(u64 entry)
{
    return static_cast<DeliveryMode>((entry & IoApic::DELIVERY_MODE_MASK) >> IoApic::DELIVERY_MODE_SHIFT);
}

// Only fixed and lowest-priority entries use Remote IRR; the other modes are edge-only.
bool level_entry(u64 entry)
{
    const DeliveryMode mode = mode_of(entry);
    return (entry & IoApic::TRIGGER_LEVEL) != 0 &&
           (mode == DeliveryMode::Fixed || mode == DeliveryMode::LowestPriority);
}

} // namespace

IoApic::IoApic(ApicBus &bus, u8 id) : bus_(&bus) { reset(id); }

void IoApic::reset(u8 id)
{
    state_ = State{};
    state_.id = (u32{id} << ID_SHIFT) & ID_BITS;
    for (u64 &entry : state_.redirection)
        entry = ENTRY_RESET;
}

u32 IoApic::read(u32 offset) const
{
    switch (offset) {
    case MMIO_SELECT: return state_.select;
    case MMIO_WINDOW: return read_register(state_.select);
    default: return 0; // the EOI register is write-only
    }
}

void IoApic::write(u32 offset, u32 value)
{
    switch (offset) {
    case MMIO_SELECT: state_.select = value & SELECT_BITS; break;
    case MMIO_WINDOW: write_register(state_.select, value); break;
    case MMIO_EOI: eoi(static_cast<u8>(value & VECTOR_MASK)); break;
    default: break;
    }
}

u32 IoApic::read_register(u32 index) const
{
    switch (index) {
    case REG_ID: return state_.id;
    case REG_VERSION: return VERSION_VALUE;
    case REG_ARBITRATION: return state_.id; // the 82093AA loads its arbitration ID from the ID
    default: break;
    }
    if (index < REG_REDIRECTION || index >= REG_REDIRECTION + 2 * PINS)
        return 0;
    const u64 entry = state_.redirection[(index - REG_REDIRECTION) / 2];
    return static_cast<u32>((index % 2 == 0 ? entry : entry >> HALF_SHIFT) & LOW_HALF);
}

void IoApic::write_register(u32 index, u32 value)
{
    if (index == REG_ID) {
        state_.id = value & ID_BITS;
        return;
    }
    if (index < REG_REDIRECTION || index >= REG_REDIRECTION + 2 * PINS)
        return; // version, arbitration: read-only; the rest is undefined
    const u32 pin = (index - REG_REDIRECTION) / 2;
    u64 &entry = state_.redirection[pin];
    const u64 half = index % 2 == 0 ? LOW_HALF : LOW_HALF << HALF_SHIFT;
    const u64 shifted = index % 2 == 0 ? u64{value} : u64{value} << HALF_SHIFT;
    entry = (entry & ~(half & ENTRY_WRITABLE)) | (shifted & half & ENTRY_WRITABLE);
    // Switching to edge clears Remote IRR: what IO-APICs before version 0x20 offer in place
    // of an EOI register, and what Linux relies on for them.
    if (!level_entry(entry))
        entry &= ~REMOTE_IRR;
    service_level(pin); // an asserted level pin delivers on unmask
}

void IoApic::set_irq(u32 line, bool level)
{
    if (line >= PINS)
        return;
    const u32 bit = u32{1} << line;
    const bool was = (state_.levels & bit) != 0;
    state_.levels = level ? state_.levels | bit : state_.levels & ~bit;
    const u64 entry = state_.redirection[line];
    if (level_entry(entry))
        service_level(line);
    else if (level && !was && (entry & MASKED) == 0)
        deliver(line);
}

void IoApic::service_level(u32 pin)
{
    u64 &entry = state_.redirection[pin];
    if (!level_entry(entry) || (entry & (MASKED | REMOTE_IRR)) != 0 || (state_.levels & (u32{1} << pin)) == 0)
        return;
    entry |= REMOTE_IRR;
    deliver(pin);
}

void IoApic::deliver(u32 pin)
{
    const u64 entry = state_.redirection[pin];
    const DeliveryMode mode = mode_of(entry);
    if (mode == DeliveryMode::Startup || static_cast<u32>(mode) == 3)
        return; // reserved encodings in a redirection entry: nothing is sent
    ApicMessage message;
    message.vector = static_cast<u8>(entry & VECTOR_MASK);
    message.mode = mode;
    message.logical = (entry & DEST_LOGICAL) != 0;
    message.destination = static_cast<u8>(entry >> DEST_SHIFT);
    message.level_triggered = level_entry(entry);
    bus_->deliver(message);
}

void IoApic::eoi(u8 vector)
{
    for (u32 pin = 0; pin < PINS; pin++) {
        u64 &entry = state_.redirection[pin];
        if ((entry & REMOTE_IRR) == 0 || (entry & VECTOR_MASK) != vector)
            continue;
        entry &= ~REMOTE_IRR;
        service_level(pin); // still asserted: the device wants service again
    }
}

int IoApic::load(const State &s)
{
    if ((s.id & ~ID_BITS) != 0 || (s.select & ~SELECT_BITS) != 0 || (s.levels >> PINS) != 0 || s.reserved != 0)
        return -BATON_EINVAL;
    for (u64 entry : s.redirection) {
        if ((entry & ~(ENTRY_WRITABLE | REMOTE_IRR)) != 0)
            return -BATON_EINVAL;
        if ((entry & REMOTE_IRR) != 0 && !level_entry(entry))
            return -BATON_EINVAL;
    }
    state_ = s;
    return 0;
}
