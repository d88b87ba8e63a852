// SPDX-License-Identifier: MIT
// The Intel MultiProcessor table that tells a guest kernel its CPUs, IO-APIC and IRQ wiring.
#include "arch/x86_64/platform/mp_table.hpp"

namespace mp_table {
namespace {

constexpr u8 SPEC_REVISION = 4; // MP spec 1.4
constexpr u8 ENTRY_PROCESSOR = 0, ENTRY_BUS = 1, ENTRY_IOAPIC = 2, ENTRY_IO_INTERRUPT = 3, ENTRY_LOCAL_INTERRUPT = 4;
constexpr u8 CPU_ENABLED = 1, CPU_BOOTSTRAP = 2;
constexpr u8 IOAPIC_ENABLED = 1;
constexpr u8 INT_VECTORED = 0, INT_NMI = 1, INT_EXTINT = 3;
constexpr u16 POLARITY_TRIGGER_CONFORMS = 0; // ISA: edge, active high
constexpr u8 ISA_BUS_ID = 0;
constexpr u8 ALL_LOCAL_APICS = 0xff;
constexpr u8 LINT0 = 0, LINT1 = 1;
constexpr usize FLOATING_SIZE = 16, HEADER_SIZE = 44;

// Little-endian stores into the table under construction.
class Writer final {
public:
    Writer(u8 *out, usize capacity) : out_(out), capacity_(capacity) {}

    void u8_(u8 value) { put(value, 1); }
    void u16_(u16 value) { put(value, 2); }
    void u32_(u32 value) { put(value, 4); }
    void text(const char *chars, usize length)
    {
        for (usize i = 0; i < length; i++)
            u8_(static_cast<u8>(chars[i]));
    }
    void zeros(usize count)
    {
        for (usize i = 0; i < count; i++)
            u8_(0);
    }
    usize at() const { return at_; }
    bool overflowed() const { return overflowed_; }
    void patch_u16(usize offset, u16 value)
    {
        out_[offset] = static_cast<u8>(value);
        out_[offset + 1] = static_cast<u8>(value >> 8);
    }
    void patch_u8(usize offset, u8 value) { out_[offset] = value; }
    // The byte that makes [first, first + length) sum to zero.
    u8 checksum(usize first, usize length) const
    {
        u8 sum = 0;
        for (usize i = first; i < first + length; i++)
            sum = static_cast<u8>(sum + out_[i]);
        return static_cast<u8>(-sum);
    }

private:
    void put(u64 value, usize bytes)
    {
        for (usize i = 0; i < bytes; i++) {
            if (at_ >= capacity_) {
                overflowed_ = true;
                return;
            }
            out_[at_++] = static_cast<u8>(value >> (8 * i));
        }
    }

    u8 *out_;
    usize capacity_;
    usize at_ = 0;
    bool overflowed_ = false;
};

void interrupt(Writer &w, u8 entry, u8 kind, u8 source_irq, u8 destination, u8 pin)
{
    w.u8_(entry);
    w.u8_(kind);
    w.u16_(POLARITY_TRIGGER_CONFORMS);
    w.u8_(ISA_BUS_ID);
    w.u8_(source_irq);
    w.u8_(destination);
    w.u8_(pin);
}

} // namespace

usize build(const Config &config, u64 table_gpa, u8 *out, usize capacity)
{
    if (config.cpu_count == 0 || config.cpu_count > MAX_CPUS || (table_gpa & 0xf) != 0 ||
        capacity < size_for(config.cpu_count) || table_gpa + FLOATING_SIZE > 0xffffffffu)
        return 0;
    // The IO-APIC's id may not repeat a CPU's.
    const u8 ioapic_id = config.ioapic_id < config.cpu_count ? config.cpu_count : config.ioapic_id;
    Writer w(out, capacity);

    // Floating pointer: signature, table address, length in 16-byte units, revision,
    // checksum, feature bytes (all 0: a configuration table follows, no default config).
    w.text("_MP_", 4);
    w.u32_(static_cast<u32>(table_gpa + FLOATING_SIZE));
    w.u8_(1);
    w.u8_(SPEC_REVISION);
    w.u8_(0);
    w.zeros(5);
    w.patch_u8(10, w.checksum(0, FLOATING_SIZE));

    const usize header = w.at();
    w.text("PCMP", 4);
    w.u16_(0); // base table length, patched below
    w.u8_(SPEC_REVISION);
    w.u8_(0); // checksum, patched below
    w.text("BATON   ", 8);
    w.text("PC PLATFORM ", 12);
    w.u32_(0); // no OEM table
    w.u16_(0);
    w.u16_(0); // entry count, patched below
    w.u32_(config.lapic_address);
    w.u16_(0); // no extended entries
    w.u8_(0);
    w.u8_(0);
    u16 entries = 0;

    for (u8 cpu = 0; cpu < config.cpu_count; cpu++, entries++) {
        w.u8_(ENTRY_PROCESSOR);
        w.u8_(cpu);
        w.u8_(config.lapic_version);
        w.u8_(static_cast<u8>(CPU_ENABLED | (cpu == 0 ? CPU_BOOTSTRAP : 0)));
        w.u32_(config.cpu_signature);
        w.u32_(config.cpu_features);
        w.zeros(8);
    }
    w.u8_(ENTRY_BUS);
    w.u8_(ISA_BUS_ID);
    w.text("ISA   ", 6);
    entries++;
    w.u8_(ENTRY_IOAPIC);
    w.u8_(ioapic_id);
    w.u8_(config.ioapic_version);
    w.u8_(IOAPIC_ENABLED);
    w.u32_(config.ioapic_address);
    entries++;

    interrupt(w, ENTRY_IO_INTERRUPT, INT_EXTINT, 0, ioapic_id, 0);
    entries++;
    for (u8 irq = 0; irq < ISA_IRQS; irq++) {
        if (irq == CASCADE_IRQ)
            continue;
        interrupt(w, ENTRY_IO_INTERRUPT, INT_VECTORED, irq, ioapic_id, ioapic_pin_of_isa_irq(irq));
        entries++;
    }
    interrupt(w, ENTRY_LOCAL_INTERRUPT, INT_EXTINT, 0, ALL_LOCAL_APICS, LINT0);
    interrupt(w, ENTRY_LOCAL_INTERRUPT, INT_NMI, 0, ALL_LOCAL_APICS, LINT1);
    entries = static_cast<u16>(entries + 2);

    if (w.overflowed())
        return 0;
    const usize table_length = w.at() - header;
    w.patch_u16(header + 4, static_cast<u16>(table_length));
    w.patch_u16(header + 34, entries);
    w.patch_u8(header + 7, w.checksum(header, table_length));
    static_assert(HEADER_SIZE == 44);
    return w.at();
}

} // namespace mp_table
