// SPDX-License-Identifier: MIT
// Live update on the host: domains are written into a record, the memory manager starts
// over as the next image would (confined, then told what the record preserves), and the
// domains are rebuilt from the record and compared with what they were.
#include "abi/errno.h"
#include "abi/hypercall.h"
#include "arch/x86_64/cpu/msr.hpp"
#include "arch/x86_64/guest/pc_platform.hpp"
#include "arch/x86_64/platform/pc_layout.hpp"
#include "control/transfer_codec.hpp"
#include "dom/domain.hpp"
#include "dom/guest_memory.hpp"
#include "dom/hypercall.hpp"
#include "dom/vcpu_info.hpp"
#include "elf_builder.hpp"
#include "handover/validate.hpp"
#include "host_platform.hpp"
#include "mm/invariants.hpp"
#include "mm/memory_report.hpp"
#include "mm/slab.hpp"
#include "test_mm_support.hpp"
#include "update/incoming.hpp"
#include "update/preserved_scan.hpp"
#include "update/restore.hpp"
#include "update/serialize.hpp"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#ifndef BATON_SOURCE_ROOT
#define BATON_SOURCE_ROOT "."
#endif

namespace {

constexpr u64 GUEST_RAM = 8 * MiB;
constexpr u64 TSC_KHZ = 2000000;
constexpr u64 ORIGIN_TSC = 1000;
constexpr BootmemRequest FIXED_REGION{16 * MiB, 16 * MiB, true};

u64 fake_tsc = 100000000; // 50 ms after the origin: later than anything the test creates
u64 read_fake_tsc() { return fake_tsc += 1000; }

std::vector<uint8_t> tiny_guest()
{
    TestSegment code;
    code.memsz = 0x3000;
    code.bytes = std::vector<uint8_t>(16, 0xf4);
    return build_elf({code}, 0x100000);
}

i64 call(Domain &domain, u64 number, u64 a0 = 0, u64 a1 = 0, u64 a2 = 0)
{
    return handle_hypercall(domain.vcpus[0], HypercallArgs{number, {a0, a1, a2, 0, 0}, 0}).value;
}

// What a domain looks like from outside, for before/after comparisons.
struct DomainView {
    std::string name;
    DomainState state;
    u64 ram_bytes;
    std::vector<P2mRange> ranges;
    u64 shared_info_gfn, shared_info_mfn;
    std::vector<std::pair<EventPort, std::pair<bool, bool>>> ports;
    u8 upcall_vector;
    bool blocked;
    u64 wake_deadline_ns;
    u64 rip;
    LogDirtyState dirty;
    u64 dirty_count;

    static DomainView of(const Domain &d)
    {
        DomainView view{d.name,
                        d.state,
                        d.ram_bytes,
                        {},
                        d.shared_info_gfn,
                        d.shared_info_mfn,
                        {},
                        d.events.upcall_vector(),
                        d.vcpus[0].blocked,
                        d.vcpus[0].wake_deadline_ns,
                        host_vcpu_rip(d.vcpus[0]),
                        d.p2m.log_dirty_state(),
                        d.p2m.dirty_count()};
        d.p2m.for_each_range([&](const P2mRange &range) { view.ranges.push_back(range); });
        for (u16 port = 1; port < BATON_EVTCHN_PORTS; port++) {
            const EventPort &p = *d.events.port(port);
            view.ports.push_back({p, {d.events.pending(port), d.events.masked(port)}});
        }
        return view;
    }
};

bool same_port(const EventPort &a, const EventPort &b)
{
    return a.state == b.state && a.remote_domid == b.remote_domid && a.remote_port == b.remote_port &&
           a.period_ns == b.period_ns &&
           (a.next_fire_ns > b.next_fire_ns ? a.next_fire_ns - b.next_fire_ns : b.next_fire_ns - a.next_fire_ns) <= 1;
}

class UpdateRoundTrip : public ::testing::Test {
protected:
    UpdateRoundTrip() : ram_(256 * MiB)
    {
        // A new allocator under the heap: the heap starts over too, so that what a test
        // allocates (and the golden record it writes) does not depend on the tests before.
        kernel_heap().forget_all();
        EXPECT_EQ(frame_allocator().early_init(mm_test::qemu_layout(FIXED_REGION)), 0);
        EXPECT_EQ(frame_allocator().init(), 0);
        image_ = tiny_guest();
        host_time_ns = 7 * NS_PER_MS;
        fake_tsc = 100000000; // the golden records do not depend on the tests before either
    }
    ~UpdateRoundTrip() override
    {
        for_each_domain([](Domain &domain) { EXPECT_EQ(domain_destroy(domain.id), 0); });
    }

    Domain &create(const char *name, u16 vcpus = 1)
    {
        DomainConfig config;
        config.name = name;
        config.vcpus = vcpus;
        config.ram_bytes = GUEST_RAM;
        config.image = image_.data();
        config.image_size = image_.size();
        char why[DOMAIN_MESSAGE_SIZE] = {};
        int id = domain_create(config, why, sizeof(why));
        EXPECT_GT(id, 0) << why;
        return *domain_find(static_cast<u64>(id));
    }

    // Writes the record into preserved record frames; returns its options for the next boot.
    KernelOptions write_record(UpdateTimeline &phases, void (*amend)(OutgoingRecord &) = nullptr)
    {
        FrameAllocator &frames = frame_allocator();
        const unsigned order = order_covering(record_size_bound(frames) >> PAGE_SHIFT);
        u64 record = frames.alloc_frames(order, MemClass::preserved, OWNER_HYPERVISOR, FrameType::record);
        EXPECT_NE(record, 0u);
        OutgoingRecord outgoing;
        outgoing.build_id = "old-build";
        outgoing.version = "0.old";
        outgoing.tsc_khz = TSC_KHZ;
        outgoing.time_origin_tsc = ORIGIN_TSC;
        outgoing.update_count = 1;
        outgoing.phases = &phases;
        outgoing.read_tsc = read_fake_tsc;
        if (amend != nullptr)
            amend(outgoing);
        char why[160] = {};
        u64 size = write_update_record(outgoing, frames, phys_to_virt(record), PAGE_SIZE << order, why, sizeof(why));
        EXPECT_GT(size, 0u) << why;
        // The list came from the preserved-block index; the frame table must say the same.
        PreservedCheck check = check_preserved_runs_agree(frames);
        describe_preserved_check(check, why, sizeof(why));
        EXPECT_TRUE(check.agree) << why;
        KernelOptions options;
        options.lu_record_given = true;
        options.lu_record_address = record;
        options.lu_record_size = size;
        options.lu_record_crc = crc32(phys_to<u8>(record), size);
        return options;
    }

    // The next image's memory bring-up: confined early init, the record checked, every
    // preserved frame marked, then the rest to the zones.
    bool boot_next_image(const KernelOptions &options, IncomingRecord &incoming)
    {
        // The old image's vCPU state dies with it (here: the fake's host objects).
        for_each_domain([](Domain &domain) {
            for (Vcpu &vcpu : domain.vcpus)
                arch_vcpu_destroy(vcpu);
        });
        domains_forget_all();
        kernel_heap().forget_all(); // the next image's heap starts empty
        FrameAllocator &frames = frame_allocator();
        EXPECT_EQ(frames.early_init(mm_test::qemu_layout(FIXED_REGION, true)), 0);
        if (!check_incoming_record(options, frames, incoming))
            return false;
        PreservedRange *preserved = nullptr;
        usize count = 0;
        EXPECT_EQ(incoming_preserved_ranges(incoming, frames.boot(), preserved, count), 0) << incoming.why;
        EXPECT_EQ(frames.init(preserved, count), 0);
        // The record's ranges are indexed as the old image's blocks were.
        PreservedCheck check = check_preserved_runs_agree(frames);
        char why[256];
        describe_preserved_check(check, why, sizeof(why));
        EXPECT_TRUE(check.agree) << why;
        return true;
    }

    // A whole update of the domains made so far: the record written, the next image booted on
    // it, every domain restored and the record's own frames freed, as the commit frees them.
    // Returns how many domains came back (0, with incoming.why, if the record was refused)
    // and the record's minimum reader version.
    usize update_all(u32 &min_reader_version)
    {
        UpdateTimeline phases;
        phases.stamp(UpdatePhase::requested, read_fake_tsc());
        const KernelOptions options = write_record(phases);
        IncomingRecord incoming;
        if (!boot_next_image(options, incoming)) {
            ADD_FAILURE() << incoming.why;
            return 0;
        }
        min_reader_version = incoming.root.min_reader_version();
        const usize restored = restore_domains(incoming.root, UpdateClock{ORIGIN_TSC, TSC_KHZ});
        for_each_record_range(incoming, [](PhysRange range) { frame_allocator().free_range(range); });
        return restored;
    }

    SimulatedRam ram_;
    std::vector<uint8_t> image_;
};

u64 preserved_frames() { return memory_report(frame_allocator()).preserved_frames; }

} // namespace

TEST_F(UpdateRoundTrip, DomainsComeBackAsTheyWere)
{
    Domain &a = create("alpha");
    Domain &b = create("beta");
    // Guest memory with a pattern, a shared-info page over RAM, events of every kind, a
    // blocked vCPU with a deadline, log-dirty with dirty frames, a paused domain.
    std::vector<u8> pattern(3 * PAGE_SIZE);
    for (usize i = 0; i < pattern.size(); i++)
        pattern[i] = static_cast<u8>(i * 7 + 3);
    ASSERT_EQ(copy_to_guest(a.p2m, 0x400000, pattern.data(), pattern.size()), 0);
    ASSERT_EQ(call(a, BATON_HC_SHARED_INFO_MAP, 0x300), 0);
    ASSERT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_SET_UPCALL_VECTOR, 0x40), 0);
    i64 timer = call(a, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_TIMER, 10 * NS_PER_MS);
    ASSERT_GT(timer, 0);
    i64 offered = call(b, BATON_HC_EVTCHN, BATON_EVTCHN_ALLOC_UNBOUND, a.id);
    ASSERT_GT(offered, 0);
    i64 bound = call(a, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_INTERDOMAIN, b.id, offered);
    ASSERT_GT(bound, 0);
    ASSERT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_SEND, bound), 0);
    a.vcpus[0].blocked = true;
    a.vcpus[0].wake_deadline_ns = 50 * NS_PER_MS;
    host_set_vcpu_rip(a.vcpus[0], 0x123456);
    ASSERT_EQ(b.p2m.enable_log_dirty(), 0);
    ASSERT_EQ(b.p2m.handle_nested_fault(0x5000, true, false), NpfAction::retry);
    ASSERT_EQ(domain_pause(b.id), 0);

    const DomainView before_a = DomainView::of(a), before_b = DomainView::of(b);
    const u64 guest_preserved = preserved_frames();
    UpdateTimeline phases;
    phases.stamp(UpdatePhase::requested, read_fake_tsc());
    phases.stamp(UpdatePhase::paused, read_fake_tsc());
    KernelOptions options = write_record(phases);
    EXPECT_TRUE(phases.has(UpdatePhase::serialized));

    IncomingRecord incoming;
    ASSERT_TRUE(boot_next_image(options, incoming)) << incoming.why;
    EXPECT_TRUE(check_bootmem_invariant(frame_allocator().table(), frame_allocator().bootmem_region()).ok());
    EXPECT_EQ(restore_domains(incoming.root, UpdateClock{ORIGIN_TSC, TSC_KHZ}), 2u);
    refresh_restored_domains();
    for_each_record_range(incoming, [](PhysRange range) { frame_allocator().free_range(range); });
    EXPECT_EQ(preserved_frames(), guest_preserved) << "the record's frames are back; nothing else moved";

    Domain *after_a = domain_find(1), *after_b = domain_find(2);
    ASSERT_TRUE(after_a && after_b);
    for (auto [before, after] : {std::pair{&before_a, after_a}, std::pair{&before_b, after_b}}) {
        DomainView view = DomainView::of(*after);
        EXPECT_EQ(view.name, before->name);
        EXPECT_EQ(view.state, before->state);
        EXPECT_EQ(view.ram_bytes, before->ram_bytes);
        EXPECT_EQ(view.ranges, before->ranges) << after->name;
        EXPECT_EQ(view.shared_info_gfn, before->shared_info_gfn);
        EXPECT_EQ(view.shared_info_mfn, before->shared_info_mfn);
        EXPECT_EQ(view.upcall_vector, before->upcall_vector);
        EXPECT_EQ(view.blocked, before->blocked);
        EXPECT_LE(view.wake_deadline_ns > before->wake_deadline_ns ? view.wake_deadline_ns - before->wake_deadline_ns
                                                                   : before->wake_deadline_ns - view.wake_deadline_ns,
                  1u);
        EXPECT_EQ(view.rip, before->rip);
        EXPECT_EQ(view.dirty.enabled, before->dirty.enabled);
        EXPECT_EQ(view.dirty.bitmap_phys, before->dirty.bitmap_phys);
        EXPECT_EQ(view.dirty_count, before->dirty_count);
        for (usize i = 0; i < view.ports.size(); i++) {
            EXPECT_TRUE(same_port(view.ports[i].first, before->ports[i].first)) << after->name << " port " << i + 1;
            EXPECT_EQ(view.ports[i].second, before->ports[i].second) << after->name << " port " << i + 1;
        }
        EXPECT_EQ(after->p2m.audit(), 0u) << after->name;
    }
    std::vector<u8> seen(pattern.size());
    ASSERT_EQ(copy_from_guest(after_a->p2m, seen.data(), 0x400000, seen.size()), 0);
    EXPECT_EQ(seen, pattern);
    EXPECT_TRUE(after_b->p2m.lookup(5).type == P2mType::ram_rw) << "the dirty frame stays writable";
    EXPECT_EQ(domains_generation(), 1u);
    baton_shared_info shared{};
    ASSERT_EQ(copy_from_guest(after_a->p2m, &shared, 0x300 << PAGE_SHIFT, sizeof(shared)), 0);
    EXPECT_EQ(shared.hypervisor_generation, 1u);

    // And the rebuilt domains can be destroyed like any other: every frame comes back.
    ASSERT_EQ(domain_destroy(1), 0);
    ASSERT_EQ(domain_destroy(2), 0);
    EXPECT_EQ(preserved_frames(), 0u);
}

TEST_F(UpdateRoundTrip, EveryVcpuComesBackWhereItWas)
{
    Domain &a = create("smp", 4);
    // vCPU 0 runs, 1 runs elsewhere in the guest, 2 is blocked with a deadline and has the
    // timer, 3 was never started.
    ASSERT_EQ(call(a, BATON_HC_VCPU_UP, 1, 0x101000, 0x400000), 0);
    ASSERT_EQ(call(a, BATON_HC_VCPU_UP, 2, 0x102000, 0x410000), 0);
    ASSERT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_SET_UPCALL_VECTOR, 0x40), 0);
    const i64 timer = call(a, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_TIMER, 10 * NS_PER_MS);
    ASSERT_GT(timer, 0);
    ASSERT_EQ(call(a, BATON_HC_EVTCHN, BATON_EVTCHN_BIND_VCPU, static_cast<u64>(timer), 2), 0);
    a.vcpus[2].blocked = true;
    a.vcpus[2].wake_deadline_ns = 60 * NS_PER_MS;
    a.vcpus[1].last_cpu = 3;
    host_set_vcpu_rip(a.vcpus[1], 0x101234);
    const u64 guest_preserved = preserved_frames();

    u32 min_reader = 0;
    ASSERT_EQ(update_all(min_reader), 1u);
    EXPECT_GE(min_reader, handover::schema::SMP_MIN_READER_VERSION);
    EXPECT_EQ(preserved_frames(), guest_preserved);

    Domain &b = *domain_find(1);
    ASSERT_EQ(b.vcpu_count, 4u);
    const bool up[] = {true, true, true, false}, blocked[] = {false, false, true, false};
    const u64 rip[] = {0x100000, 0x101234, 0x102000}, rsp[] = {0, 0x400000, 0x410000};
    for (u16 i = 0; i < 4; i++) {
        EXPECT_EQ(b.vcpus[i].up, up[i]) << i;
        EXPECT_EQ(b.vcpus[i].blocked, blocked[i]) << i;
        if (i < 3) {
            EXPECT_EQ(host_vcpu_rip(b.vcpus[i]), rip[i]) << i;
            EXPECT_EQ(host_vcpu_rsp(b.vcpus[i]), rsp[i]) << i;
        }
    }
    EXPECT_EQ(b.vcpus[1].last_cpu, 3u);
    EXPECT_LE(b.vcpus[2].wake_deadline_ns - 60 * NS_PER_MS + 1, 2u) << b.vcpus[2].wake_deadline_ns;
    EXPECT_EQ(b.events.port(static_cast<u64>(timer))->notify_vcpu, 2u);
    // The vCPU that was never started can still be started, once.
    EXPECT_EQ(call(b, BATON_HC_VCPU_UP, 3, 0x103000, 0x420000), 0);
    EXPECT_EQ(call(b, BATON_HC_VCPU_UP, 3, 0x103000, 0x420000), -BATON_EBUSY);
    ASSERT_EQ(domain_destroy(1), 0);
    EXPECT_EQ(preserved_frames(), 0u);
}

// Per-vCPU info pages travel as extra pages: each comes back at its frame and guest frame,
// its contents and its upcall flags intact, and the record needs a v7 reader.
TEST_F(UpdateRoundTrip, VcpuInfoPagesComeBackMappedWithTheirFlags)
{
    Domain &a = create("smp", 2);
    ASSERT_EQ(call(a, BATON_HC_VCPU_UP, 1, 0x101000, 0x400000), 0);
    ASSERT_EQ(call(a, BATON_HC_VCPU_INFO_MAP, 1, 0x300), 0);
    const u64 info_mfn = a.vcpus[1].info_mfn;
    vcpu_info(a.vcpus[1])->upcall_mask = 1;
    const u64 preserved = preserved_frames();

    u32 min_reader = 0;
    ASSERT_EQ(update_all(min_reader), 1u);
    EXPECT_EQ(min_reader, handover::schema::VCPU_INFO_MIN_READER_VERSION);
    EXPECT_EQ(preserved_frames(), preserved);

    Domain &b = *domain_find(1);
    EXPECT_EQ(b.vcpus[0].info_mfn, 0u);
    ASSERT_EQ(b.vcpus[1].info_mfn, info_mfn);
    EXPECT_EQ(b.vcpus[1].info_gfn, 0x300u);
    EXPECT_EQ(b.p2m.lookup(0x300).mfn, info_mfn);
    EXPECT_EQ(vcpu_info(b.vcpus[1])->vcpu_id, 1u);
    EXPECT_EQ(b.events.vcpu_info(1), vcpu_info(b.vcpus[1])) << "its upcall flags are the page's again";
    EXPECT_EQ(vcpu_info(b.vcpus[1])->upcall_mask, 1u);
    ASSERT_EQ(domain_destroy(1), 0);
    EXPECT_EQ(preserved_frames(), 0u);
}

TEST_F(UpdateRoundTrip, TheRecordValidatesAndListsEveryPreservedFrame)
{
    create("one");
    Domain &two = create("two");
    ASSERT_EQ(two.p2m.enable_log_dirty(), 0);
    UpdateTimeline phases;
    phases.stamp(UpdatePhase::requested, read_fake_tsc());
    KernelOptions options = write_record(phases);
    handover::wire::MessageReader message(phys_to<u8>(options.lu_record_address), options.lu_record_size);
    handover::schema::Handover::Reader root;
    ASSERT_EQ(handover::open_record(message, &root), handover::RecordStatus::ok);
    EXPECT_EQ(handover::validate_record(
                  message, root, handover::ValidationLimits{},
                  [](void *, const handover::Finding &finding) {
                      char line[192];
                      handover::describe(finding, line, sizeof(line));
                      ADD_FAILURE() << line;
                      return true;
                  },
                  nullptr),
              0u);
    // The preserved list is the frame table's preserved blocks, no more and no less.
    u64 listed = 0;
    handover::preserved_of(root).for_each([&](handover::schema::PreservedRange::Reader range, u64) {
        listed += range.frame_count();
        return true;
    });
    EXPECT_EQ(listed, preserved_frames());
    EXPECT_EQ(root.time_origin_tsc(), ORIGIN_TSC);
    EXPECT_EQ(root.domains().size(), 2u);
}

TEST_F(UpdateRoundTrip, ADamagedRecordIsRefusedWithTheReason)
{
    create("one");
    UpdateTimeline phases;
    KernelOptions options = write_record(phases);
    // The root struct's first word (after the segment table and the root pointer) is the magic.
    phys_to<u8>(options.lu_record_address)[16] ^= 0x10;
    IncomingRecord incoming;
    EXPECT_FALSE(boot_next_image(options, incoming));
    EXPECT_FALSE(incoming.usable);
    EXPECT_NE(std::string(incoming.why).find("CRC-32"), std::string::npos) << incoming.why;

    // With a CRC that matches the damage, the reader finds it.
    options.lu_record_crc = crc32(phys_to<u8>(options.lu_record_address), options.lu_record_size);
    EXPECT_FALSE(boot_next_image(options, incoming));
    EXPECT_NE(std::string(incoming.why).find("cannot be read"), std::string::npos) << incoming.why;
}

TEST_F(UpdateRoundTrip, PreservedRunsMergeOnlyLikeBlocks)
{
    Domain &a = create("a");
    std::vector<PreservedRun> runs;
    for_each_preserved_run(frame_allocator(), [&](const PreservedRun &run) { runs.push_back(run); });
    u64 frames = 0;
    for (usize i = 0; i < runs.size(); i++) {
        frames += runs[i].range.size() / PAGE_SIZE;
        if (i > 0) {
            EXPECT_LE(runs[i - 1].range.end, runs[i].range.start);
            bool touching = runs[i - 1].range.end == runs[i].range.start;
            EXPECT_FALSE(touching && runs[i - 1].type == runs[i].type && runs[i - 1].owner == runs[i].owner &&
                         runs[i - 1].flags == runs[i].flags)
                << "adjacent like runs must have been merged";
        }
    }
    EXPECT_EQ(frames, preserved_frames());
    bool shared_info_seen = false;
    for (const PreservedRun &run : runs)
        shared_info_seen |= run.type == FrameType::extra && run.owner == a.id && (run.flags & FRAME_EXTRA_PAGE) &&
                            run.range.contains(a.shared_info_mfn << PAGE_SHIFT);
    EXPECT_TRUE(shared_info_seen);
}

TEST_F(UpdateRoundTrip, APcGuestsDevicesComeBackFieldForField)
{
    const std::vector<uint8_t> kernel = build_pvh_vmlinux();
    DomainConfig config;
    config.name = "linux";
    config.kind = GuestKind::pc;
    config.ram_bytes = 64 * MiB;
    config.image = kernel.data();
    config.image_size = kernel.size();
    char why[DOMAIN_MESSAGE_SIZE] = {};
    const int id = domain_create(config, why, sizeof(why));
    ASSERT_GT(id, 0) << why;
    Domain &pc_domain = *domain_find(static_cast<u64>(id));
    create("beside");

    // Every device away from its power-on state, the way a running kernel leaves them:
    // PIC initialized, PIT ticking, an IO-APIC route, the APIC timer armed with an
    // interrupt in service, a byte waiting in the UART, the RTC's index chosen.
    PcPlatform &pc = *pc_domain.platform;
    const u64 now = 5'000'000;
    const u8 pic_init[][2] = {{0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01}, {0xa0, 0x11},
                              {0xa1, 0x28}, {0xa1, 0x02}, {0xa1, 0x01}, {0x21, 0xfa}};
    for (const auto &write : pic_init)
        pc.port_write(write[0], 1, write[1], now);
    pc.port_write(0x43, 1, 0x34, now), pc.port_write(0x40, 1, 0xa9, now), pc.port_write(0x40, 1, 0x04, now);
    ASSERT_TRUE(pc.mmio_write(pc_layout::IOAPIC_BASE, 4, 0x14, now));
    ASSERT_TRUE(pc.mmio_write(pc_layout::IOAPIC_BASE + 0x10, 4, 0x31, now));
    ASSERT_TRUE(pc.mmio_write(pc_layout::LAPIC_BASE + Lapic::REG_LVT_TIMER, 4, 0xec | (1u << 17), now));
    ASSERT_TRUE(pc.mmio_write(pc_layout::LAPIC_BASE + Lapic::REG_TIMER_INITIAL, 4, 250000, now));
    pc.lapic().accept(0x41, false);
    pc.acknowledge(0x41);
    const u8 typed = 'x';
    EXPECT_EQ(pc.uart().receive(&typed, 1), 1);
    pc.port_write(0x70, 1, 0x0b, now);
    EXPECT_EQ(pc.msr_write(cpu::MSR_TSC_AUX, 3, now), PcPlatform::MsrResult::handled);
    for (char c : std::string("[    1.234] half a li"))
        pc.port_write(PcPlatform::COM1_PORT, 1, static_cast<u8>(c), now);
    const Pit::State pit = pc.pit().state();
    const Pic::State pic = pc.pic().state();
    const Rtc::State rtc = pc.rtc().state();
    const Uart::State uart = pc.uart().state();
    const IoApic::State ioapic = pc.ioapic().state();
    const Lapic::State lapic = pc.lapic().state();

    UpdateTimeline phases;
    phases.stamp(UpdatePhase::requested, read_fake_tsc());
    phases.stamp(UpdatePhase::paused, read_fake_tsc());
    KernelOptions options = write_record(phases);
    // The golden record of a PC guest (tests/golden/v<current>/pc-guest.bin): this writer must
    // still write it byte for byte; BATON_REGEN_GOLDEN=1 rewrites it.
    const std::filesystem::path golden = std::filesystem::path(BATON_SOURCE_ROOT) / "tests/golden" /
                                         ("v" + std::to_string(handover::schema::HANDOVER_ABI_VERSION)) /
                                         "pc-guest.bin";
    const u8 *written = phys_to<u8>(options.lu_record_address);
    const std::vector<u8> record(written, written + options.lu_record_size);
    const char *regen = getenv("BATON_REGEN_GOLDEN");
    if (regen != nullptr && std::string(regen) == "1")
        std::ofstream(golden, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char *>(record.data()), static_cast<std::streamsize>(record.size()));
    std::ifstream in(golden, std::ios::binary);
    const std::vector<u8> expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(record, expected) << golden << " differs from what this writer writes (BATON_REGEN_GOLDEN=1 rewrites it)";

    IncomingRecord incoming;
    ASSERT_TRUE(boot_next_image(options, incoming)) << incoming.why;
    EXPECT_EQ(incoming.root.min_reader_version(), handover::schema::PC_GUEST_MIN_READER_VERSION)
        << "an older reader would run the guest without its devices";
    EXPECT_EQ(restore_domains(incoming.root, UpdateClock{ORIGIN_TSC, TSC_KHZ}), 2u);
    refresh_restored_domains();
    for_each_record_range(incoming, [](PhysRange range) { frame_allocator().free_range(range); });

    Domain *after = domain_find(static_cast<u64>(id));
    ASSERT_NE(after, nullptr);
    EXPECT_EQ(after->kind, GuestKind::pc);
    ASSERT_NE(after->platform, nullptr);
    PcPlatform &back = *after->platform;
    auto same = [](const auto &a, const auto &b) { return std::memcmp(&a, &b, sizeof(a)) == 0; };
    EXPECT_TRUE(same(back.pit().state(), pit));
    EXPECT_TRUE(same(back.pic().state(), pic));
    EXPECT_TRUE(same(back.rtc().state(), rtc));
    EXPECT_TRUE(same(back.uart().state(), uart));
    EXPECT_EQ(back.ioapic().state(), ioapic);
    EXPECT_EQ(back.lapic().state(), lapic);
    EXPECT_EQ(back.tsc_aux(), 3u);
    EXPECT_EQ(back.pending_vector(), -1) << "0x41 is still in service";
    EXPECT_EQ(std::string(after->console, after->console_length), "[    1.234] half a li")
        << "the console line goes on where it stopped";
    EXPECT_EQ(domain_find(2)->kind, GuestKind::baton);
    EXPECT_EQ(domain_find(2)->platform, nullptr);
}

// The transaction's part of the record (v5): the old image's copy, the next image's, the
// kit and the rollbacks so far come back as written; the next image keeps their frames
// preserved until it settles the outcome; and a restore that must be all or nothing stops
// at the first domain it cannot rebuild, discarding nothing.
TEST_F(UpdateRoundTrip, TheWayBackCrossesTheRecord)
{
    create("alpha");
    create("beta");
    FrameAllocator &frames = frame_allocator();
    static u64 kit, image;
    kit = frames.alloc_frames(4, MemClass::preserved, OWNER_HYPERVISOR, FrameType::rollback_kit);
    image = frames.alloc_frames(2, MemClass::preserved, OWNER_HYPERVISOR, FrameType::hypervisor_image);
    ASSERT_NE(kit, 0u);
    ASSERT_NE(image, 0u);
    static RollbackReport last;
    last = RollbackReport{};
    last.reached_phase = UpdatePhase::record_parsed;
    last.failed_tsc = 777;
    std::snprintf(last.failed_build_id, sizeof(last.failed_build_id), "%s", "bad-build");
    std::snprintf(last.failed_version, sizeof(last.failed_version), "%s", "0.bad");
    std::snprintf(last.reason, sizeof(last.reason), "%s", "watchdog: no commit in time");
    UpdateTimeline phases;
    phases.stamp(UpdatePhase::requested, ORIGIN_TSC + 100);
    const KernelOptions options = write_record(phases, [](OutgoingRecord &outgoing) {
        outgoing.writer_image = ImageCopy{0x200000, 0x1000, "old-build", false};
        outgoing.next_image = ImageCopy{image, 3 * PAGE_SIZE + 5, "new-build", true};
        outgoing.rollback_kit = PhysRange{kit, kit + (PAGE_SIZE << 4)};
        outgoing.rollback_count = 3;
        outgoing.last_rollback = &last;
    });

    IncomingRecord incoming;
    ASSERT_TRUE(boot_next_image(options, incoming)) << incoming.why;
    auto root = incoming.root;
    EXPECT_GE(root.min_reader_version(), handover::schema::ROLLBACK_MIN_READER_VERSION);
    EXPECT_EQ(root.writer_image().address(), 0x200000u);
    EXPECT_FALSE(root.writer_image().preserved());
    EXPECT_STREQ(root.next_image().build_id().chars, "new-build");
    EXPECT_EQ(root.next_image().address(), image);
    EXPECT_EQ(root.next_image().bytes(), 3 * PAGE_SIZE + 5);
    EXPECT_TRUE(root.next_image().preserved());
    EXPECT_EQ(root.rollback_kit().first_frame(), kit >> PAGE_SHIFT);
    EXPECT_EQ(root.rollback_kit().frame_count(), 16u);
    EXPECT_EQ(root.rollback_count(), 3u);
    EXPECT_STREQ(root.last_rollback().failed_build_id().chars, "bad-build");
    EXPECT_STREQ(root.last_rollback().reason().chars, "watchdog: no commit in time");
    EXPECT_EQ(root.last_rollback().reached_phase(), handover::schema::Phase::record_parsed);
    EXPECT_EQ(root.last_rollback().failed_tsc(), 777u);
    const FrameTable &table = frame_allocator().table();
    EXPECT_EQ(table[addr_to_frame(kit)].type, FrameType::rollback_kit);
    EXPECT_TRUE(table[addr_to_frame(kit + 15 * PAGE_SIZE)].has(FRAME_PRESERVED));
    EXPECT_EQ(table[addr_to_frame(image)].type, FrameType::hypervisor_image);

    const u64 preserved_before = preserved_frames();
    RestoreFailure failure;
    EXPECT_EQ(restore_domains(root, UpdateClock{ORIGIN_TSC, TSC_KHZ}, &failure, true), 1u);
    EXPECT_EQ(failure.domain_id, 2u) << "the last domain fails, as injected";
    EXPECT_EQ(failure.error, -BATON_EINVAL);
    EXPECT_NE(domain_find(1), nullptr) << "what was rebuilt stays, for the rollback to drop with the image";
    EXPECT_EQ(domain_find(2), nullptr);
    EXPECT_EQ(preserved_frames(), preserved_before) << "nothing preserved was freed";
}
