// SPDX-License-Identifier: MIT
// The PC's pair of 8259A interrupt controllers (master and cascaded slave) and the ELCR.
#include "arch/x86_64/platform/pic.hpp"
#include "abi/errno.h"
#include "arch/x86_64/platform/isa_bytes.hpp"

static_assert(__has_unique_object_representations(Pic::State), "Pic::State has no padding holes");

namespace {

constexpr unsigned CHIPS = 2;
constexpr u8 INPUTS = 8;
constexpr u8 INPUT_BITS = 0x7;
constexpr u8 NONE = INPUTS; // priority of "no input"

// Command-port writes: ICW1 has bit 4 set; otherwise bit 3 tells OCW3 from OCW2.
constexpr u8 ICW1 = 1u << 4;
constexpr u8 ICW1_ICW4 = 1u << 0;
constexpr u8 ICW1_SINGLE = 1u << 1;
constexpr u8 ICW2_VECTOR_MASK = 0xF8;
constexpr u8 ICW4_AUTO_EOI = 1u << 1;
constexpr u8 ICW4_NESTED = 1u << 4;
constexpr u8 OCW3 = 1u << 3;
constexpr u8 OCW3_POLL = 1u << 2;
constexpr u8 OCW3_READ = 1u << 1; // RR: bit 0 (RIS) chooses ISR or IRR
constexpr u8 OCW3_READ_ISR = 1u << 0;
constexpr u8 OCW3_SET_MASK_MODE = 1u << 6; // ESMM: bit 5 (SMM) sets or clears it
constexpr u8 OCW3_SPECIAL_MASK = 1u << 5;
constexpr u8 OCW2_COMMAND_SHIFT = 5;
constexpr u8 POLL_REQUEST = 0x80;

// OCW2 commands (bits 7..5: R, SL, EOI).
enum : u8 {
    OCW2_ROTATE_AEOI_CLEAR = 0,
    OCW2_EOI = 1,
    OCW2_NOP = 2,
    OCW2_SPECIFIC_EOI = 3,
    OCW2_ROTATE_AEOI_SET = 4,
    OCW2_ROTATE_EOI = 5,
    OCW2_SET_PRIORITY = 6,
    OCW2_ROTATE_SPECIFIC_EOI = 7,
};

u8 bit(unsigned input) { return static_cast<u8>(1u << input); }

// Priority rank of the best input in `mask` (0 is highest), NONE if the mask is empty.
u8 best_rank(const Pic::Chip &chip, u8 mask)
{
    for (u8 rank = 0; rank < INPUTS; ++rank) {
        if ((mask & bit((rank + chip.highest) & INPUT_BITS)) != 0)
            return rank;
    }
    return NONE;
}

u8 input_of(const Pic::Chip &chip, u8 rank) { return static_cast<u8>((rank + chip.highest) & INPUT_BITS); }

// The input the chip would interrupt with: the best unmasked request that outranks
// everything in service. -1 when none (the chip's INT output is low).
int chip_request(const Pic::Chip &chip, bool master)
{
    const u8 request = best_rank(chip, static_cast<u8>(chip.irr & ~chip.imr));
    if (request == NONE)
        return -1;
    u8 in_service = chip.isr;
    // Special fully nested mode: further slave requests may interrupt the slave's service.
    if (master && chip.nested != 0)
        in_service = static_cast<u8>(in_service & ~bit(Pic::CASCADE_INPUT));
    // Special mask mode: a masked input in service does not hold back the others.
    if (chip.special_mask != 0)
        in_service = static_cast<u8>(in_service & ~chip.imr);
    return request < best_rank(chip, in_service) ? input_of(chip, request) : -1;
}

void set_input(Pic::Chip &chip, u8 input, bool level)
{
    const u8 mask = bit(input);
    const bool was = (chip.lines & mask) != 0;
    chip.lines = static_cast<u8>(level ? chip.lines | mask : chip.lines & ~mask);
    if ((chip.elcr & mask) != 0)
        chip.irr = static_cast<u8>(level ? chip.irr | mask : chip.irr & ~mask);
    else if (level && !was)
        chip.irr = static_cast<u8>(chip.irr | mask); // rising edge; latched until acknowledged
}

// The chip's part of an INTA cycle (or a poll) for `input`.
void take(Pic::Chip &chip, u8 input)
{
    const u8 mask = bit(input);
    if (chip.auto_eoi == 0)
        chip.isr = static_cast<u8>(chip.isr | mask);
    else if (chip.rotate_on_aeoi != 0)
        chip.highest = static_cast<u8>((input + 1) & INPUT_BITS);
    if ((chip.elcr & mask) == 0)
        chip.irr = static_cast<u8>(chip.irr & ~mask); // a level request stays while its line is high
}

void end_of_interrupt(Pic::Chip &chip, u8 input, bool rotate)
{
    chip.isr = static_cast<u8>(chip.isr & ~bit(input));
    if (rotate)
        chip.highest = static_cast<u8>((input + 1) & INPUT_BITS);
}

void write_ocw2(Pic::Chip &chip, u8 value)
{
    const u8 input = static_cast<u8>(value & INPUT_BITS);
    switch (value >> OCW2_COMMAND_SHIFT) {
    case OCW2_ROTATE_AEOI_CLEAR: chip.rotate_on_aeoi = 0; break;
    case OCW2_ROTATE_AEOI_SET: chip.rotate_on_aeoi = 1; break;
    case OCW2_EOI:
    case OCW2_ROTATE_EOI: {
        // Non-specific: ends the highest-priority service, masked or not.
        const u8 rank = best_rank(chip, chip.isr);
        if (rank != NONE)
            end_of_interrupt(chip, input_of(chip, rank), (value >> OCW2_COMMAND_SHIFT) == OCW2_ROTATE_EOI);
        break;
    }
    case OCW2_SPECIFIC_EOI: end_of_interrupt(chip, input, false); break;
    case OCW2_ROTATE_SPECIFIC_EOI: end_of_interrupt(chip, input, true); break;
    case OCW2_SET_PRIORITY: chip.highest = static_cast<u8>((input + 1) & INPUT_BITS); break;
    default: break; // OCW2_NOP
    }
}

bool flag_ok(u8 value) { return value <= 1; }

} // namespace

bool Pic::handles(u16 port) const
{
    return port == PORT_MASTER_COMMAND || port == PORT_MASTER_DATA || port == PORT_SLAVE_COMMAND ||
           port == PORT_SLAVE_DATA || port == PORT_ELCR_MASTER || port == PORT_ELCR_SLAVE;
}

u32 Pic::read(u16 port, u8 size, u64 /*now*/)
{
    return isa_split_read(
        port, size, [this](u16 p) { return handles(p); }, [this](u16 p) { return read_byte(p); });
}

void Pic::write(u16 port, u8 size, u32 value, u64 /*now*/)
{
    isa_split_write(
        port, size, value, [this](u16 p) { return handles(p); }, [this](u16 p, u8 byte) { write_byte(p, byte); });
}

u8 Pic::read_byte(u16 port)
{
    if (port == PORT_ELCR_MASTER || port == PORT_ELCR_SLAVE)
        return state_.chip[port == PORT_ELCR_MASTER ? MASTER : SLAVE].elcr;
    const bool master = port == PORT_MASTER_COMMAND || port == PORT_MASTER_DATA;
    Chip &chip = state_.chip[master ? MASTER : SLAVE];
    if (chip.poll != 0) {
        // The poll byte: the request an INTA cycle would take, taken now.
        chip.poll = 0;
        const int input = chip_request(chip, master);
        if (input < 0)
            return 0;
        take(chip, static_cast<u8>(input));
        update_cascade();
        return static_cast<u8>(POLL_REQUEST | input);
    }
    if (port == PORT_MASTER_DATA || port == PORT_SLAVE_DATA)
        return chip.imr;
    return chip.read_isr != 0 ? chip.isr : chip.irr;
}

void Pic::write_byte(u16 port, u8 value)
{
    if (port == PORT_ELCR_MASTER || port == PORT_ELCR_SLAVE) {
        Chip &chip = state_.chip[port == PORT_ELCR_MASTER ? MASTER : SLAVE];
        chip.elcr = static_cast<u8>(value & (port == PORT_ELCR_MASTER ? ELCR_MASTER_MASK : ELCR_SLAVE_MASK));
        // Inputs now level-sensitive request exactly while their line is high.
        chip.irr = static_cast<u8>((chip.irr & ~chip.elcr) | (chip.lines & chip.elcr));
    } else if (port == PORT_MASTER_COMMAND || port == PORT_SLAVE_COMMAND) {
        write_command(state_.chip[port == PORT_MASTER_COMMAND ? MASTER : SLAVE], value);
    } else {
        write_data(state_.chip[port == PORT_MASTER_DATA ? MASTER : SLAVE], value);
    }
    update_cascade();
}

void Pic::write_command(Chip &chip, u8 value)
{
    if ((value & ICW1) != 0) {
        // ICW1 starts over: mask and service cleared, IR7 lowest priority, IRR selected for
        // reading. Edge detection is reset: a line already high must fall and rise again.
        chip.irr = static_cast<u8>(chip.lines & chip.elcr);
        chip.isr = 0;
        chip.imr = 0;
        chip.highest = 0;
        chip.special_mask = 0;
        chip.read_isr = 0;
        chip.poll = 0;
        chip.auto_eoi = 0;
        chip.rotate_on_aeoi = 0;
        chip.nested = 0;
        chip.icw4_needed = (value & ICW1_ICW4) != 0 ? 1 : 0;
        chip.single = (value & ICW1_SINGLE) != 0 ? 1 : 0;
        chip.init_step = INIT_ICW2;
    } else if ((value & OCW3) != 0) {
        chip.poll = (value & OCW3_POLL) != 0 ? 1 : 0;
        if ((value & OCW3_READ) != 0)
            chip.read_isr = (value & OCW3_READ_ISR) != 0 ? 1 : 0;
        if ((value & OCW3_SET_MASK_MODE) != 0)
            chip.special_mask = (value & OCW3_SPECIAL_MASK) != 0 ? 1 : 0;
    } else {
        write_ocw2(chip, value);
    }
}

void Pic::write_data(Chip &chip, u8 value)
{
    switch (chip.init_step) {
    case INIT_ICW2:
        chip.vector_base = static_cast<u8>(value & ICW2_VECTOR_MASK);
        chip.init_step = chip.single == 0 ? INIT_ICW3 : chip.icw4_needed != 0 ? INIT_ICW4 : INIT_READY;
        break;
    case INIT_ICW3:
        chip.icw3 = value;
        chip.init_step = chip.icw4_needed != 0 ? INIT_ICW4 : INIT_READY;
        break;
    case INIT_ICW4:
        chip.auto_eoi = (value & ICW4_AUTO_EOI) != 0 ? 1 : 0;
        chip.nested = (value & ICW4_NESTED) != 0 ? 1 : 0;
        chip.init_step = INIT_READY;
        break;
    default: chip.imr = value; break; // OCW1
    }
}

// The slave's INT output is the master's (edge-sensed) input 2.
void Pic::update_cascade()
{
    set_input(state_.chip[MASTER], CASCADE_INPUT, chip_request(state_.chip[SLAVE], false) >= 0);
}

void Pic::set_irq(u32 line, bool level)
{
    if (line >= LINES || line == CASCADE_INPUT)
        return;
    set_input(state_.chip[line / INPUTS], static_cast<u8>(line % INPUTS), level);
    update_cascade();
}

bool Pic::has_pending() const { return chip_request(state_.chip[MASTER], true) >= 0; }

int Pic::pending_vector() const
{
    const Chip &master = state_.chip[MASTER];
    const Chip &slave = state_.chip[SLAVE];
    const int input = chip_request(master, true);
    if (input < 0)
        return -1;
    if (input != CASCADE_INPUT)
        return master.vector_base + input;
    const int slave_input = chip_request(slave, false);
    return slave.vector_base + (slave_input >= 0 ? slave_input : SPURIOUS_INPUT);
}

u8 Pic::acknowledge()
{
    Chip &master = state_.chip[MASTER];
    Chip &slave = state_.chip[SLAVE];
    const int input = chip_request(master, true);
    if (input < 0)
        return static_cast<u8>(master.vector_base + SPURIOUS_INPUT); // no ISR bit is set
    u8 vector = 0;
    if (input == CASCADE_INPUT) {
        const int slave_input = chip_request(slave, false);
        if (slave_input >= 0) {
            take(slave, static_cast<u8>(slave_input));
            vector = static_cast<u8>(slave.vector_base + slave_input);
        } else {
            vector = static_cast<u8>(slave.vector_base + SPURIOUS_INPUT);
        }
    } else {
        vector = static_cast<u8>(master.vector_base + input);
    }
    take(master, static_cast<u8>(input));
    update_cascade();
    return vector;
}

int Pic::load(const State &state)
{
    for (unsigned i = 0; i < CHIPS; ++i) {
        const Chip &chip = state.chip[i];
        const u8 elcr_mask = i == MASTER ? ELCR_MASTER_MASK : ELCR_SLAVE_MASK;
        if ((chip.elcr & ~elcr_mask) != 0 || (chip.vector_base & ~ICW2_VECTOR_MASK) != 0 ||
            chip.init_step > INIT_ICW4 || chip.highest > INPUT_BITS || !flag_ok(chip.icw4_needed) ||
            !flag_ok(chip.single) || !flag_ok(chip.auto_eoi) || !flag_ok(chip.rotate_on_aeoi) ||
            !flag_ok(chip.nested) || !flag_ok(chip.special_mask) || !flag_ok(chip.read_isr) || !flag_ok(chip.poll))
            return -BATON_EINVAL;
        // Level-sensitive requests are their line levels.
        if ((chip.irr & chip.elcr) != (chip.lines & chip.elcr))
            return -BATON_EINVAL;
    }
    // The master's input 2 is the slave's output.
    const bool cascade = (state.chip[MASTER].lines & bit(CASCADE_INPUT)) != 0;
    if (cascade != (chip_request(state.chip[SLAVE], false) >= 0))
        return -BATON_EINVAL;
    state_ = state;
    return 0;
}
