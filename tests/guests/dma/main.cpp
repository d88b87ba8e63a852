// SPDX-License-Identifier: MIT
// dma: drives an assigned QEMU edu device. It finds edu in its (filtered) PCI
// configuration space, turns on Memory and Bus Master, then forever copies a fresh pattern
// from one RAM page into edu's buffer and back into another page by DMA, checking every
// byte, one uniform line per round.
#include "lib/runtime.hpp"

const char guest_name[] = "dma";

namespace {

constexpr uint16_t CONFIG_ADDRESS = 0xcf8, CONFIG_DATA = 0xcfc;
constexpr uint16_t EDU_VENDOR = 0x1234, EDU_DEVICE = 0x11e8;
constexpr uint32_t COMMAND_MEMORY = 1u << 1, COMMAND_BUS_MASTER = 1u << 2;
// edu registers (BAR0) and its DMA engine: the buffer lives at device address 0x40000 and
// the engine only reaches 28-bit addresses, so both RAM pages must lie below 256 MiB.
constexpr uint64_t EDU_ID = 0x00, EDU_DMA_SOURCE = 0x80, EDU_DMA_DESTINATION = 0x88, EDU_DMA_COUNT = 0x90,
                   EDU_DMA_COMMAND = 0x98;
constexpr uint64_t EDU_START = 1u << 0, EDU_TO_MEMORY = 1u << 1;
constexpr uint64_t EDU_BUFFER = 0x40000;
constexpr uint64_t EDU_DMA_LIMIT = 1ull << 28;
// Half of edu's 4 KiB buffer: QEMU 7.2's edu refuses a transfer that reaches the buffer's
// last byte (an off-by-one in its range check ends QEMU with a "hardware error").
constexpr uint64_t BYTES = guest::PAGE_SIZE / 2;
constexpr uint64_t DMA_TIMEOUT_NS = 2 * guest::NS_PER_SECOND; // one transfer takes ~100 ms
constexpr uint64_t POLL_NS = 5 * guest::NS_PER_MS;
constexpr uint64_t ROUND_NS = 500 * guest::NS_PER_MS;

uint32_t config_read(unsigned device, unsigned offset)
{
    guest::outl(CONFIG_ADDRESS, 0x80000000u | device << 11 | (offset & 0xfc));
    return guest::inl(CONFIG_DATA);
}

void config_write(unsigned device, unsigned offset, uint32_t value)
{
    guest::outl(CONFIG_ADDRESS, 0x80000000u | device << 11 | (offset & 0xfc));
    guest::outl(CONFIG_DATA, value);
}

// edu answers 4-byte accesses below 0x80 and 4- or 8-byte ones from 0x80 (the DMA engine).
volatile uint64_t *registers;
volatile uint64_t &reg64(uint64_t offset) { return registers[offset / 8]; }
uint32_t reg32(uint64_t offset) { return reinterpret_cast<volatile uint32_t *>(registers)[offset / 4]; }

// One transfer, polled until the device clears START (blocking between polls).
bool transfer(uint64_t source, uint64_t destination, bool to_memory)
{
    reg64(EDU_DMA_SOURCE) = source;
    reg64(EDU_DMA_DESTINATION) = destination;
    reg64(EDU_DMA_COUNT) = BYTES;
    reg64(EDU_DMA_COMMAND) = EDU_START | (to_memory ? EDU_TO_MEMORY : 0);
    const uint64_t deadline = guest::time_ns() + DMA_TIMEOUT_NS;
    while ((reg64(EDU_DMA_COMMAND) & EDU_START) != 0) {
        if (guest::time_ns() > deadline)
            return false;
        guest::block(guest::time_ns() + POLL_NS);
    }
    return true;
}

uint8_t pattern(uint64_t round, uint64_t i) { return static_cast<uint8_t>((round * 131 + i * 7 + (i >> 8)) ^ 0x5a); }

} // namespace

void guest_main(const baton_start_info *)
{
    unsigned slot = 32;
    for (unsigned device = 0; device < 32; device++) {
        const uint32_t id = config_read(device, 0);
        if ((id & 0xffff) == EDU_VENDOR && (id >> 16) == EDU_DEVICE) {
            slot = device;
            break;
        }
    }
    if (slot == 32) {
        guest::result_fail("no edu device in configuration space (is it assigned?)");
        return;
    }
    const uint32_t bar0 = config_read(slot, 0x10) & ~0xfu;
    config_write(slot, 0x04, COMMAND_MEMORY | COMMAND_BUS_MASTER);
    const uint32_t command = config_read(slot, 0x04) & 0xffff;
    registers = guest::at_gpa<volatile uint64_t>(bar0);
    const uint32_t edu_id = reg32(EDU_ID);
    guest::report("edu at 00:%02x.0 bar0=0x%x command=0x%x id=0x%x", slot, bar0, command, edu_id);
    if ((edu_id & 0xff) != 0xed) {
        guest::result_fail("edu's identification register reads 0x%x", edu_id);
        return;
    }

    const guest::Free_frames region = guest::free_frames();
    const uint64_t source = region.first_gfn << guest::PAGE_SHIFT, destination = source + guest::PAGE_SIZE;
    if (region.count() < 2 || destination + BYTES > EDU_DMA_LIMIT) {
        guest::result_fail("no two free pages below edu's 28-bit DMA limit");
        return;
    }
    guest::report("source=0x%lx destination=0x%lx", source, destination);
    volatile uint8_t *from = guest::at_gpa<volatile uint8_t>(source);
    volatile uint8_t *to = guest::at_gpa<volatile uint8_t>(destination);
    for (uint64_t round = 1;; ++round) {
        const uint64_t next_round = guest::time_ns() + ROUND_NS;
        for (uint64_t i = 0; i < BYTES; ++i) {
            from[i] = pattern(round, i);
            to[i] = static_cast<uint8_t>(~pattern(round, i)); // stale bytes cannot pass
        }
        if (!transfer(source, EDU_BUFFER, false) || !transfer(EDU_BUFFER, destination, true)) {
            guest::report("round %lu TIMEOUT (the device did not finish)", round);
        } else {
            uint64_t wrong = 0, first = BYTES;
            for (uint64_t i = 0; i < BYTES; ++i) {
                if (to[i] != pattern(round, i)) {
                    if (wrong++ == 0)
                        first = i;
                }
            }
            if (wrong == 0)
                guest::report("round %lu ok bytes=%lu", round, BYTES);
            else
                guest::report("round %lu MISMATCH bytes=%lu wrong=%lu first=%lu got=0x%x want=0x%x", round, BYTES,
                              wrong, first, to[first], pattern(round, first));
        }
        while (guest::time_ns() < next_round)
            guest::block(next_round);
    }
}
