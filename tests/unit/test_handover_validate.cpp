// SPDX-License-Identifier: MIT
// Semantic validation: each kind of broken record gives its own, clearly worded finding.
#include "handover/record_reader.hpp"
#include "handover/validate.hpp"
#include "test_handover_fixture.hpp"
#include "test_handover_support.hpp"
#include <functional>
#include <gtest/gtest.h>

using namespace handover;
using handover_test::SampleRecord;

namespace {

struct Outcome {
    RecordStatus status = RecordStatus::ok;
    std::vector<Finding> findings;
    std::vector<std::string> lines;
};

bool collect(void *context, const Finding &finding)
{
    auto *outcome = static_cast<Outcome *>(context);
    outcome->findings.push_back(finding);
    char line[256];
    describe(finding, line, sizeof(line));
    outcome->lines.push_back(line);
    return true;
}

Outcome validate_bytes(const std::vector<u8> &bytes, const ValidationLimits &limits = {})
{
    handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());
    wire::MessageReader message(words.data(), bytes.size());
    Outcome outcome;
    std::vector<u64> bitmap(message.bitmap_words_needed() + 1);
    schema::Handover::Reader record;
    outcome.status = open_record(message, &record, bitmap.data(), bitmap.size());
    // Like baton-inspect: a bad header still gets the whole list of findings.
    if (outcome.status != RecordStatus::bad_structure)
        record = schema::Handover::Reader(message.root());
    validate_record(message, record, limits, collect, &outcome);
    return outcome;
}

Outcome validate_sample(const SampleRecord &sample, const ValidationLimits &limits = {})
{
    return validate_bytes(handover_test::write_record(sample), limits);
}

// The sample's first domain with vCPU 0 alone (no vCPU info page nor port of another),
// so that its vCPUs need no v6 reader and the minimum reader can be lowered on its own.
// Without per-vCPU info pages (v7), which only a v7 reader may read.
void drop_vcpu_info(SampleRecord &record)
{
    for (handover_test::SampleDomain &domain : record.domains)
        std::erase_if(domain.extra_pages, [](const handover_test::SampleExtraPage &page) {
            return page.role == handover::schema::ExtraPageRole::vcpu_info;
        });
}

void keep_one_vcpu(SampleRecord &record)
{
    drop_vcpu_info(record);
    handover_test::SampleDomain &domain = record.domains[0];
    domain.vcpus.resize(1);
    std::erase_if(domain.extra_pages, [](const handover_test::SampleExtraPage &page) { return page.vcpu != 0; });
    for (handover_test::SampleChannel &channel : domain.channels)
        channel.notify_vcpu = 0;
}

struct Expected {
    Problem problem;
    Subject subject;
};

struct Case {
    const char *name;
    std::function<void(SampleRecord &)> mutate;
    std::vector<Expected> expected;
    const char *first_line; // describe() of the first finding
    ValidationLimits limits = {};
};

std::string summary(const Outcome &outcome)
{
    std::string text;
    for (const std::string &line : outcome.lines)
        text += "\n  " + line;
    return text;
}

using hs = handover_test::SampleRecord; // for brevity in the table below
using handover_test::SampleDomain;
namespace s = handover::schema;

const std::vector<Case> &cases()
{
    static const std::vector<Case> all = {
        {"bad magic", [](hs &r) { r.magic = 0x1122; }, {{Problem::bad_magic, Subject::header}},
         "record: wrong magic 0x1122 (expected 0x4345524e4f544142)"},
        {"too new", [](hs &r) { r.abi_version = 9, r.min_reader_version = 8; },
         {{Problem::version_too_new, Subject::header}},
         "record: needs a reader of ABI version 8 or later; this reader implements 7"},
        {"no build id", [](hs &r) { r.build_id = ""; }, {{Problem::text_missing, Subject::header}},
         "record: writer build id is empty"},
        {"long version", [](hs &r) { r.version = std::string(300, 'v'); }, {{Problem::text_too_long, Subject::header}},
         "record: writer version is 300 bytes, limit 255"},
        {"no tsc frequency", [](hs &r) { r.tsc_khz = 0; }, {{Problem::tsc_frequency_missing, Subject::header}},
         "record: TSC frequency is 0"},
        {"no ram", [](hs &r) { r.ram.clear(); }, {{Problem::missing, Subject::ram}}, "ram: the record lists no RAM"},
        {"ram overlap", [](hs &r) { r.ram.insert(r.ram.begin() + 1, {0x50, 0x10}); },
         {{Problem::overlap, Subject::ram}}, "ram range 1: frames start at 0x50, inside the previous range (ends 0x9f)"},
        {"ram unsorted", [](hs &r) { std::swap(r.ram[0], r.ram[1]); }, {{Problem::unsorted, Subject::ram}},
         "ram range 1: 0x0 comes after 0x100: not sorted"},
        {"ram empty range", [](hs &r) { r.ram.insert(r.ram.begin() + 1, {0x9f, 0}); },
         {{Problem::empty_range, Subject::ram}}, "ram range 1: empty range at frame 0x9f"},
        {"ram overflow", [](hs &r) { r.ram.push_back({0xffffffffff, 2}); }, {{Problem::range_overflow, Subject::ram}},
         "ram range 2: frames 0xffffffffff+0x2 run past the 2^40-frame physical limit"},
        {"bootmem outside ram", [](hs &r) { r.bootmem = {0x9f, 0x10}; }, {{Problem::outside_ram, Subject::bootmem}},
         "bootmem region: frames 0x9f+0x10 are not inside RAM"},
        {"no bootmem", [](hs &r) { r.bootmem = {0, 0}; }, {{Problem::missing, Subject::bootmem}},
         "bootmem region: absent or empty"},
        {"preserved overlap",
         [](hs &r) { r.preserved.insert(r.preserved.begin() + 2, {0x20003, 0x2, s::PreservedKind::extra_page, 1}); },
         {{Problem::overlap, Subject::preserved}},
         "preserved range 2: frames start at 0x20003, inside the previous range (ends 0x20004)"},
        {"preserved unsorted", [](hs &r) { std::swap(r.preserved[0], r.preserved[1]); },
         {{Problem::unsorted, Subject::preserved}}, "preserved range 1: 0x10000 comes after 0x20000: not sorted"},
        {"preserved in bootmem",
         [](hs &r) { r.preserved.insert(r.preserved.begin(), {0x1800, 0x10, s::PreservedKind::guest_ram, 1}); },
         {{Problem::in_bootmem, Subject::preserved}},
         "preserved range 0: frames 0x1800+0x10 overlap the bootmem region"},
        {"preserved outside ram", [](hs &r) { r.preserved.push_back({0x7ff00, 0x10, s::PreservedKind::guest_ram, 2}); },
         {{Problem::outside_ram, Subject::preserved}}, "preserved range 7: frames 0x7ff00+0x10 are not inside RAM"},
        {"preserved overflow",
         [](hs &r) { r.preserved.push_back({0xfffffffff0, 0x20, s::PreservedKind::guest_ram, 2}); },
         {{Problem::range_overflow, Subject::preserved}},
         "preserved range 7: frames 0xfffffffff0+0x20 run past the 2^40-frame physical limit"},
        {"preserved for unknown domain", [](hs &r) { r.preserved[0].domain = 9; },
         {{Problem::unknown_domain, Subject::preserved}},
         "preserved range 0: refers to domain 9, which is not in the record"},
        {"owned preserved range without owner", [](hs &r) { r.preserved[0].domain = s::NO_DOMAIN; },
         {{Problem::unknown_domain, Subject::preserved}},
         "preserved range 0: refers to domain 4294967295, which is not in the record"},
        {"preserved unknown kind", [](hs &r) { r.preserved[5].kind = static_cast<s::PreservedKind>(42); },
         {{Problem::unknown_value, Subject::preserved}}, "preserved range 5: unknown kind value 42"},
        {"record not preserved", [](hs &r) { r.preserved[6].kind = s::PreservedKind::iommu_table; },
         {{Problem::missing, Subject::preserved}}, "preserved ranges: no range holds the record itself"},
        {"duplicate domain id", [](hs &r) { r.domains[1].id = 1; }, {{Problem::duplicate, Subject::domain}},
         "domain 1 (entry 1): 1 appears twice"},
        {"domains unsorted", [](hs &r) { std::swap(r.domains[0], r.domains[1]); },
         {{Problem::unsorted, Subject::domain}}, "domain 1 (entry 1): 0x1 comes after 0x2: not sorted"},
        {"reserved domain id", [](hs &r) { r.domains[1].id = s::NO_DOMAIN; }, {{Problem::reserved_id, Subject::domain}},
         "domain 4294967295 (entry 1): id 0xffffffff is reserved (noDomain)"},
        {"unknown domain state", [](hs &r) { r.domains[0].state = static_cast<s::DomainState>(8); },
         {{Problem::unknown_value, Subject::domain}}, "domain 1 (entry 0): unknown state value 8"},
        {"p2m overlap", [](hs &r) { r.domains[0].p2m[1].guest = 0x1f0; }, {{Problem::overlap, Subject::p2m}},
         "domain 1 p2m range 1: guest frames start at 0x1f0, inside the previous range (ends 0x200)"},
        {"p2m unsorted", [](hs &r) { std::swap(r.domains[0].p2m[0], r.domains[0].p2m[1]); },
         {{Problem::unsorted, Subject::p2m}}, "domain 1 p2m range 1: 0x0 comes after 0x200: not sorted"},
        {"p2m not preserved", [](hs &r) { r.domains[0].p2m[0].machine = 0x11000; },
         {{Problem::not_preserved, Subject::p2m}}, "domain 1 p2m range 0: machine frames 0x11000+0x200 are not preserved"},
        {"p2m outside ram", [](hs &r) { r.domains[0].p2m[0].machine = 0x7ff80; },
         {{Problem::outside_ram, Subject::p2m}, {Problem::not_preserved, Subject::p2m}},
         "domain 1 p2m range 0: machine frames 0x7ff80+0x200 are not inside RAM"},
        {"p2m in bootmem", [](hs &r) { r.domains[0].p2m[0].machine = 0x1000; },
         {{Problem::in_bootmem, Subject::p2m}, {Problem::not_preserved, Subject::p2m}},
         "domain 1 p2m range 0: machine frames 0x1000+0x200 overlap the bootmem region"},
        {"p2m guest overflow", [](hs &r) { r.domains[0].p2m[3].guest = 0xffffffffff, r.domains[0].p2m[3].count = 2; },
         {{Problem::range_overflow, Subject::p2m}},
         "domain 1 p2m range 3: guest frames 0xffffffffff+0x2 run past the 2^40-frame physical limit"},
        {"p2m unknown type", [](hs &r) { r.domains[0].p2m[0].type = static_cast<s::P2mType>(9); },
         {{Problem::unknown_value, Subject::p2m}}, "domain 1 p2m range 0: unknown type value 9"},
        {"p2m unknown access", [](hs &r) { r.domains[0].p2m[0].access = static_cast<s::P2mAccess>(8); },
         {{Problem::unknown_value, Subject::p2m}}, "domain 1 p2m range 0: unknown access value 8"},
        {"domain over its limit", [](hs &r) { r.domains[0].max_frames = 0x100; },
         {{Problem::over_limit, Subject::domain}}, "domain 1: maps 769 RAM frames, more than its limit of 256"},
        {"second shared info page", [](hs &r) { r.domains[0].extra_pages[3].role = s::ExtraPageRole::shared_info; },
         {{Problem::duplicate, Subject::extra_page}}, "domain 1 extra page 3: 0 appears twice"},
        {"vcpu info for no vcpu", [](hs &r) { r.domains[0].extra_pages[2].vcpu = 5; },
         {{Problem::bad_vcpu, Subject::extra_page}}, "domain 1 extra page 2: refers to vCPU 5, but the domain has 2"},
        {"extra page not preserved", [](hs &r) { r.domains[0].extra_pages[3].machine = 0x20010; },
         {{Problem::not_preserved, Subject::extra_page}},
         "domain 1 extra page 3: machine frames 0x20010+0x1 are not preserved"},
        {"duplicate vcpu id", [](hs &r) { r.domains[0].vcpus[1].id = 0; }, {{Problem::duplicate, Subject::vcpu}},
         "domain 1 vcpu entry 1: 0 appears twice"},
        {"vcpu id out of range", [](hs &r) { r.domains[0].vcpus[1].id = 4; }, {{Problem::bad_vcpu, Subject::vcpu}},
         "domain 1 vcpu entry 1: refers to vCPU 4, but the domain has 2"},
        // v6: every vCPU, in id order; vCPU 0 starts with its domain; down vCPUs wait for nothing.
        {"vcpus out of order", [](hs &r) { std::swap(r.domains[0].vcpus[0].id, r.domains[0].vcpus[1].id); },
         {{Problem::unsorted, Subject::vcpu}}, "domain 1 vcpu entry 1: 0x0 comes after 0x1: not sorted"},
        {"vcpu 0 down", [](hs &r) { r.domains[0].vcpus[0].run_state = s::VcpuRunState::down; },
         {{Problem::not_applicable, Subject::vcpu}}, "domain 1 vcpu entry 0: vCPU 0 is down, but the domain is running: vCPU 0 starts with its domain"},
        {"down vcpu with a deadline", [](hs &r) { r.domains[0].vcpus[1].run_state = s::VcpuRunState::down; },
         {{Problem::not_applicable, Subject::vcpu}}, "domain 1 vcpu entry 1: wake-up deadline TSC 5000000 is set, but the vCPU is down: it waits for nothing"},
        {"vcpu info pages for a v6 reader", [](hs &r) { r.min_reader_version = 6; },
         {{Problem::min_reader_too_low, Subject::header}},
         "record: minimum reader version 6, but domain 1 has per-vCPU info pages, which readers before version 7 "
         "refuse"},
        {"several vcpus for a v5 reader",
         [](hs &r) {
             r.min_reader_version = 5;
             drop_vcpu_info(r);
         },
         {{Problem::min_reader_too_low, Subject::header}}, "record: minimum reader version 5, but domain 1 has more than one vCPU, which readers before version 6 "
         "cannot restore"},
        {"long mode without pae", [](hs &r) { r.domains[0].vcpus[0].cr4 = 0x680; },
         {{Problem::invalid_cpu_state, Subject::vcpu}},
         "domain 1 vcpu entry 0: long-mode paging without CR4.PAE (0x680)"},
        {"rflags bit 1", [](hs &r) { r.domains[0].vcpus[0].rflags = 0x200; },
         {{Problem::invalid_cpu_state, Subject::vcpu}}, "domain 1 vcpu entry 0: RFLAGS bit 1 clear (0x200)"},
        {"exception vector", [](hs &r) { r.domains[1].vcpus[0].event_vector = 40; },
         {{Problem::invalid_cpu_state, Subject::vcpu}},
         "domain 2 vcpu entry 0: pending exception with a vector above 31 (0x28)"},
        {"msrs unsorted", [](hs &r) { std::swap(r.domains[0].vcpus[0].msrs[0], r.domains[0].vcpus[0].msrs[1]); },
         {{Problem::unsorted, Subject::vcpu}}, "domain 1 vcpu entry 0: 0xc0000080 comes after 0xc0000103: not sorted"},
        {"running without vcpus",
         [](hs &r) {
             r.domains[1].state = s::DomainState::running;
             r.domains[1].vcpus.clear();
         },
         {{Problem::missing, Subject::vcpu}, {Problem::bad_vcpu, Subject::event_channel}},
         "domain 2 vcpus: a running domain without vCPUs"},
        {"channel to unknown domain", [](hs &r) { r.domains[0].channels[0].remote_domain = 5; },
         {{Problem::unknown_domain, Subject::event_channel}},
         "domain 1 event channel entry 0: refers to domain 5, which is not in the record"},
        {"free channel recorded", [](hs &r) { r.domains[0].channels[1].state = s::EventChannelState::free; },
         {{Problem::free_entry, Subject::event_channel}}, "domain 1 event channel entry 1: port 2 is recorded but free"},
        {"duplicate port", [](hs &r) { r.domains[0].channels[2].port = 2; },
         {{Problem::duplicate, Subject::event_channel}}, "domain 1 event channel entry 2: 2 appears twice"},
        {"channel notifies no vcpu", [](hs &r) { r.domains[0].channels[2].notify_vcpu = 2; },
         {{Problem::bad_vcpu, Subject::event_channel}},
         "domain 1 event channel entry 2: refers to vCPU 2, but the domain has 2"},
        {"bitmap too small", [](hs &r) { r.domains[1].log_dirty_guest_frames = 0x10000; },
         {{Problem::too_small, Subject::log_dirty}}, "domain 2 log-dirty bitmap: 1 frames, 2 needed"},
        {"bitmap missing", [](hs &r) { r.domains[1].log_dirty_bitmap = {0, 0}; },
         {{Problem::missing, Subject::log_dirty}},
         "domain 2 log-dirty bitmap: log-dirty mode is enabled but there is no bitmap"},
        {"npt root not preserved", [](hs &r) { r.domains[0].npt_root = 0x12345; },
         {{Problem::not_preserved, Subject::nested_page_table}},
         "domain 1 nested page table root: frames 0x12345+0x1 are not preserved"},
        {"iommu device of unknown domain", [](hs &r) { r.iommu[0].devices[0].domain = 3; },
         {{Problem::unknown_domain, Subject::iommu_device}},
         "iommu unit 0 device 0: refers to domain 3, which is not in the record"},
        {"iommu levels", [](hs &r) { r.iommu[0].devices[0].levels = 9; },
         {{Problem::unknown_value, Subject::iommu_device}}, "iommu unit 0 device 0: unknown page-table levels value 9"},
        {"iommu frames not preserved", [](hs &r) { r.iommu[0].frames[1].first = 0x40300; },
         {{Problem::not_preserved, Subject::iommu_frames}},
         "iommu unit 0 table frames 1: frames 0x40300+0x1 are not preserved"},
        {"iommu root missing", [](hs &r) { r.iommu[0].root_table = {0, 0}; },
         {{Problem::missing, Subject::iommu_unit}}, "iommu unit 0: root table missing"},
        {"phases out of order", [](hs &r) { std::swap(r.phases[1].first, r.phases[2].first); },
         {{Problem::out_of_order, Subject::phase}}, "phase stamp 2: phase 1 recorded after phase 2"},
        {"time backwards", [](hs &r) { r.phases[3].second = 10; }, {{Problem::time_backwards, Subject::phase}},
         "phase stamp 3: TSC 10 is before the previous stamp's 3000000"},
        {"too many domains", [](hs &) {}, {{Problem::too_many, Subject::domain}},
         "domains: 2 entries, more than the limit of 1", ValidationLimits{.max_domains = 1}},
        {"too many preserved ranges", [](hs &) {}, {{Problem::too_many, Subject::preserved}},
         "preserved ranges: 6 entries, more than the limit of 5", ValidationLimits{.max_ranges = 5}},
        {"too many chunks", [](hs &r) { r.ranges_per_chunk = 1; }, {{Problem::too_many, Subject::preserved}},
         "preserved ranges: 7 chunks, more than the limit of 5", ValidationLimits{.max_chunks = 5}},

        // v2: the header's clock and update count.
        {"time origin after creation", [](hs &r) { r.time_origin_tsc = 5000000; },
         {{Problem::after_creation, Subject::header},
          {Problem::before_time_origin, Subject::domain},
          {Problem::before_time_origin, Subject::domain},
          {Problem::before_time_origin, Subject::last_update},
          {Problem::before_time_origin, Subject::phase}},
         "record: time origin TSC 5000000 is after the record was written (TSC 4000000)"},
        {"no update count", [](hs &r) { r.update_count = 0; },
         {{Problem::below_minimum, Subject::header}, {Problem::below_minimum, Subject::header}},
         "record: update count is 0: v2 writers count updates, 1 for the first"},
        {"update count without the last update", [](hs &r) { r.update_count = 1; },
         {{Problem::below_minimum, Subject::header}},
         "record: update count is 1, but the record lists the update that started its writer (at least 2)"},
        // v2: domains.
        {"stop reason of a running domain", [](hs &r) { r.domains[0].stop_reason = "oops"; },
         {{Problem::not_applicable, Subject::domain}},
         "domain 1 (entry 0): has a stop reason (4 bytes) but is running: only shutdown and crashed domains have one"},
        {"long stop reason",
         [](hs &r) {
             r.domains[1].state = s::DomainState::crashed;
             r.domains[1].stop_reason = std::string(300, 'x');
         },
         {{Problem::text_too_long, Subject::domain}}, "domain 2 (entry 1): stop reason is 300 bytes, limit 255"},
        {"domain created after the record", [](hs &r) { r.domains[0].created_tsc = 5000000; },
         {{Problem::after_creation, Subject::domain}},
         "domain 1 (entry 0): creation TSC 5000000 is after the record was written (TSC 4000000)"},
        {"domain created before the time origin", [](hs &r) { r.domains[1].created_tsc = 100; },
         {{Problem::before_time_origin, Subject::domain}},
         "domain 2 (entry 1): creation TSC 100 is before the hypervisor's time origin (TSC 50000)"},
        // v2: emulated MMIO owns no frames.
        {"emulated mmio with a machine frame", [](hs &r) { r.domains[0].p2m[3].machine = 0x500; },
         {{Problem::not_applicable, Subject::p2m}},
         "domain 1 p2m range 3: machine frame 0x500 is set, but mmioEmulated ranges own no frames"},
        // v2: a mapped extra page lies over guest RAM of the domain's p2m.
        {"extra page outside the p2m", [](hs &r) { r.domains[0].extra_pages[0].guest = 0x5000; },
         {{Problem::not_in_p2m, Subject::extra_page}},
         "domain 1 extra page 0: guest frame 0x5000 is not inside the RAM of the domain's p2m"},
        {"extra page on emulated mmio", [](hs &r) { r.domains[0].extra_pages[2].guest = 0xfec00; },
         {{Problem::not_in_p2m, Subject::extra_page}},
         "domain 1 extra page 2: guest frame 0xfec00 is not inside the RAM of the domain's p2m"},
        {"extra page guest frame overflow", [](hs &r) { r.domains[1].extra_pages[0].guest = u64{1} << 40; },
         {{Problem::range_overflow, Subject::extra_page}},
         "domain 2 extra page 0: guest frames 0x10000000000+0x1 run past the 2^40-frame physical limit"},
        // v2: timer ports.
        {"timer without a period", [](hs &r) { r.domains[0].channels[3].timer_period_ns = 0; },
         {{Problem::below_minimum, Subject::event_channel}},
         "domain 1 event channel entry 3: timer port with a period of 0 ns"},
        {"timer without a deadline", [](hs &r) { r.domains[0].channels[3].timer_deadline_tsc = 0; },
         {{Problem::below_minimum, Subject::event_channel}},
         "domain 1 event channel entry 3: timer port without its next deadline (TSC 0)"},
        {"timer with a peer",
         [](hs &r) { r.domains[0].channels[3].remote_domain = 2, r.domains[0].channels[3].remote_port = 1; },
         {{Problem::not_applicable, Subject::event_channel}, {Problem::not_applicable, Subject::event_channel}},
         "domain 1 event channel entry 3: remote domain 2 is set, but a timer port has none"},
        {"timer with a virq", [](hs &r) { r.domains[0].channels[3].virq = 1; },
         {{Problem::not_applicable, Subject::event_channel}},
         "domain 1 event channel entry 3: VIRQ 1 is set, but a timer port has none"},
        {"timer period on a virq port", [](hs &r) { r.domains[0].channels[1].timer_period_ns = 1000; },
         {{Problem::not_applicable, Subject::event_channel}},
         "domain 1 event channel entry 1: timer period (ns) 1000 is set, but the port is virq: only timer ports "
         "have one"},
        {"timer deadline on an interdomain port", [](hs &r) { r.domains[1].channels[0].timer_deadline_tsc = 7; },
         {{Problem::not_applicable, Subject::event_channel}},
         "domain 2 event channel entry 0: timer deadline TSC 7 is set, but the port is interdomain: only timer ports "
         "have one"},
        // v2: the phases of the last update, and of this one.
        {"last update out of order", [](hs &r) { std::swap(r.last_update[1].first, r.last_update[2].first); },
         {{Problem::out_of_order, Subject::last_update}}, "last update stamp 2: phase 1 recorded after phase 2"},
        {"last update time backwards", [](hs &r) { r.last_update[5].second = 60000; },
         {{Problem::time_backwards, Subject::last_update}},
         "last update stamp 5: TSC 60000 is before the previous stamp's 352000"},
        {"last update unknown phase", [](hs &r) { r.last_update[7].first = static_cast<s::Phase>(8); },
         {{Problem::unknown_value, Subject::last_update}}, "last update stamp 7: unknown phase value 8"},
        {"last update before the time origin", [](hs &r) { r.last_update[0].second = 100; },
         {{Problem::before_time_origin, Subject::last_update}},
         "last update stamp 0: TSC 100 is before the hypervisor's time origin (TSC 50000)"},
        {"last update overlaps this one", [](hs &r) { r.last_update[7].second = 1500000; },
         {{Problem::time_backwards, Subject::phase}},
         "phase stamp 0: TSC 1000000 is before the last update's final stamp (TSC 1500000)"},
        {"last update after the record", [](hs &r) { r.last_update[7].second = 5000000; },
         {{Problem::after_creation, Subject::last_update}, {Problem::time_backwards, Subject::phase}},
         "last update stamp 7: TSC 5000000 is after the record was written (TSC 4000000)"},
        {"too many last update stamps", [](hs &) {}, {{Problem::too_many, Subject::last_update}},
         "last update stamps: 8 entries, more than the limit of 5", ValidationLimits{.max_phases = 5}},
        {"next image's phase in this update", [](hs &r) { r.phases.push_back({s::Phase::record_parsed, 3950000}); },
         {{Problem::not_applicable, Subject::phase}},
         "phase stamp 4: phase 5 (recordParsed) is stamped by the next image, after the record was written"},
        {"unknown phase", [](hs &r) { r.phases[3].first = static_cast<s::Phase>(12); },
         {{Problem::unknown_value, Subject::phase}}, "phase stamp 3: unknown phase value 12"},

        // v3: alternate p2m views. Domain 1 has views 1 and 2; its vCPU 1 runs in view 1.
        {"view index 0", [](hs &r) { r.domains[0].altp2m_views[1].index = 0; },
         {{Problem::view_index_out_of_range, Subject::altp2m_view}},
         "domain 1 altp2m view 0 (entry 1): view index 0 is outside 1..8 (0 is the host p2m, which is not listed)"},
        {"view index above the maximum", [](hs &r) { r.domains[0].altp2m_views[1].index = 9; },
         {{Problem::view_index_out_of_range, Subject::altp2m_view}},
         "domain 1 altp2m view 9 (entry 1): view index 9 is outside 1..8 (0 is the host p2m, which is not listed)"},
        {"views unsorted", [](hs &r) { std::swap(r.domains[0].altp2m_views[0], r.domains[0].altp2m_views[1]); },
         {{Problem::unsorted, Subject::altp2m_view}},
         "domain 1 altp2m view 1 (entry 1): view index 1 comes after 2: views are sorted by index"},
        {"duplicate view index", [](hs &r) { r.domains[0].altp2m_views[1].index = 1; },
         {{Problem::duplicate, Subject::altp2m_view}}, "domain 1 altp2m view 1 (entry 1): view index 1 appears twice"},
        {"too many views",
         [](hs &r) {
             for (u16 index = 3; index <= 9; index++)
                 r.domains[0].altp2m_views.push_back({index, {}});
         },
         {{Problem::too_many, Subject::altp2m_view}},
         "domain 1 altp2m views: 9 views, more than the 8 a domain may have (altp2mMaxViews)"},
        {"too many entries", [](hs &) {}, {{Problem::too_many, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entries: 3 entries, more than the limit of 2",
         ValidationLimits{.max_altp2m_entries = 2}},
        {"empty entry", [](hs &r) { r.domains[0].altp2m_views[0].entries[0].count = 0; },
         {{Problem::empty_range, Subject::altp2m_entry}}, "domain 1 altp2m view 1 entry 0: empty range at frame 0x10"},
        {"entry count overflow", [](hs &r) { r.domains[0].altp2m_views[1].entries[1].count = ~u64{0}; },
         {{Problem::range_overflow, Subject::altp2m_entry}},
         "domain 1 altp2m view 2 entry 1: guest frames 0x1000+0xffffffffffffffff run past the 2^40-frame physical "
         "limit"},
        {"entry beyond the frame limit",
         [](hs &r) { r.domains[0].altp2m_views[1].entries[1] = {u64{1} << 40, 1, u64{1} << 40, s::P2mAccess::r}; },
         {{Problem::range_overflow, Subject::altp2m_entry}},
         "domain 1 altp2m view 2 entry 1: guest frames 0x10000000000+0x1 run past the 2^40-frame physical limit"},
        {"entries unsorted",
         [](hs &r) {
             auto &entries = r.domains[0].altp2m_views[0].entries;
             std::swap(entries[0], entries[1]);
         },
         {{Problem::unsorted, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 1: 0x10 comes after 0x100: not sorted"},
        {"entries overlap", [](hs &r) { r.domains[0].altp2m_views[0].entries[1].guest = 0x12; },
         {{Problem::overlap, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 1: guest frames start at 0x12, inside the previous range (ends 0x14)"},
        {"unknown entry access",
         [](hs &r) { r.domains[0].altp2m_views[0].entries[0].access = static_cast<s::P2mAccess>(8); },
         {{Problem::unknown_value, Subject::altp2m_entry}}, "domain 1 altp2m view 1 entry 0: unknown access value 8"},
        {"write-only access", [](hs &r) { r.domains[0].altp2m_views[0].entries[0].access = s::P2mAccess::w; },
         {{Problem::access_not_expressible, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 0: access w cannot be expressed in x86 page tables (n, r, rw, rx or rwx)"},
        {"execute-only access", [](hs &r) { r.domains[0].altp2m_views[0].entries[1].access = s::P2mAccess::x; },
         {{Problem::access_not_expressible, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 1: access x cannot be expressed in x86 page tables (n, r, rw, rx or rwx)"},
        {"write-execute access", [](hs &r) { r.domains[0].altp2m_views[1].entries[0].access = s::P2mAccess::wx; },
         {{Problem::access_not_expressible, Subject::altp2m_entry}},
         "domain 1 altp2m view 2 entry 0: access wx cannot be expressed in x86 page tables (n, r, rw, rx or rwx)"},
        {"remap onto a hole", [](hs &r) { r.domains[0].altp2m_views[0].entries[1].target = 0x500; },
         {{Problem::target_not_ram, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 1: remaps to guest frames 0x500+0x1, which are not all RAM in the domain's p2m"},
        {"remap onto mmio", [](hs &r) { r.domains[0].altp2m_views[0].entries[1].target = 0xfee00; },
         {{Problem::target_not_ram, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 1: remaps to guest frames 0xfee00+0x1, which are not all RAM in the domain's "
         "p2m"},
        {"remap onto emulated mmio", [](hs &r) { r.domains[0].altp2m_views[0].entries[1].target = 0xfec00; },
         {{Problem::target_not_ram, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 1: remaps to guest frames 0xfec00+0x1, which are not all RAM in the domain's "
         "p2m"},
        {"remap running past the ram", [](hs &r) { r.domains[0].altp2m_views[0].entries[2].target = 0x2f0; },
         {{Problem::target_not_ram, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 2: remaps to guest frames 0x2f0+0x20, which are not all RAM in the domain's "
         "p2m"},
        {"remap target overflow", [](hs &r) { r.domains[0].altp2m_views[0].entries[2].target = 0xfffffffff0; },
         {{Problem::range_overflow, Subject::altp2m_entry}},
         "domain 1 altp2m view 1 entry 2: target guest frames 0xfffffffff0+0x20 run past the 2^40-frame physical "
         "limit"},
        {"vcpu in a missing view", [](hs &r) { r.domains[0].vcpus[0].altp2m_view = 5; },
         {{Problem::unknown_view, Subject::vcpu}},
         "domain 1 vcpu entry 0: runs in p2m view 5, which the domain does not have"},
        {"vcpu in a view above the maximum", [](hs &r) { r.domains[0].vcpus[0].altp2m_view = 40; },
         {{Problem::unknown_view, Subject::vcpu}},
         "domain 1 vcpu entry 0: runs in p2m view 40, which the domain does not have"},
        {"vcpu in a view of a domain without views", [](hs &r) { r.domains[1].vcpus[0].altp2m_view = 1; },
         {{Problem::unknown_view, Subject::vcpu}},
         "domain 2 vcpu entry 0: runs in p2m view 1, which the domain does not have"},
        {"views for a v2 reader",
         [](hs &r) {
             keep_one_vcpu(r);
             r.min_reader_version = 2;
         },
         {{Problem::min_reader_too_low, Subject::header}},
         "record: minimum reader version 2, but domain 1 has alternate p2m views, which readers before version 3 "
         "would drop"},
    };
    return all;
}

} // namespace

TEST(HandoverValidate, SampleRecordsAreValid)
{
    for (const SampleRecord &sample : {handover_test::sample_record(), handover_test::sample_record_later()}) {
        const Outcome outcome = validate_sample(sample);
        EXPECT_EQ(outcome.status, RecordStatus::ok);
        EXPECT_TRUE(outcome.findings.empty()) << summary(outcome);
    }
}

TEST(HandoverValidate, ChunkedRecordsAreValidToo)
{
    SampleRecord sample = handover_test::sample_record();
    sample.ranges_per_chunk = 2; // preserved: 4 chunks, domain 1's p2m: 2 chunks
    const Outcome outcome = validate_sample(sample);
    EXPECT_TRUE(outcome.findings.empty()) << summary(outcome);
}

TEST(HandoverValidate, EachProblemIsReportedOnItsOwn)
{
    for (const Case &test : cases()) {
        SampleRecord sample = handover_test::sample_record();
        test.mutate(sample);
        const Outcome outcome = validate_sample(sample, test.limits);
        ASSERT_EQ(outcome.findings.size(), test.expected.size()) << test.name << ":" << summary(outcome);
        for (size_t i = 0; i < test.expected.size(); i++) {
            EXPECT_EQ(outcome.findings[i].problem, test.expected[i].problem) << test.name << ":" << summary(outcome);
            EXPECT_EQ(outcome.findings[i].subject, test.expected[i].subject) << test.name << ":" << summary(outcome);
        }
        EXPECT_EQ(outcome.lines[0], test.first_line) << test.name;
    }
}

TEST(HandoverValidate, RecordsOfV1WritersAreReadAsBefore)
{
    // v1 writers set none of the v2 fields and could not say "not mapped": their extra
    // pages' guest frames need not be in the p2m (the v1 golden records have such pages).
    SampleRecord sample = handover_test::sample_record();
    sample.abi_version = 1;
    sample.min_reader_version = 1;
    sample.time_origin_tsc = 0;
    sample.update_count = 0;
    sample.last_update.clear();
    sample.domains[0].p2m[3].type = s::P2mType::invalid; // no emulated MMIO in v1
    sample.domains[0].channels.pop_back(); // nor timer ports
    sample.domains[0].extra_pages[3].guest = 0x1003;
    sample.domains[1].extra_pages[0].guest = 0x800;
    sample.domains[0].altp2m_views.clear(); // no views before v3
    sample.domains[0].vcpus[1].altp2m_view = 0;
    for (handover_test::SampleDomain &domain : sample.domains)
        domain.created_tsc = 0;
    const Outcome outcome = validate_sample(sample);
    EXPECT_EQ(outcome.status, RecordStatus::ok);
    EXPECT_TRUE(outcome.findings.empty()) << summary(outcome);

    // The same pages in a v2 record are refused.
    sample.abi_version = sample.min_reader_version = 2;
    sample.update_count = 1;
    const Outcome v2 = validate_sample(sample);
    ASSERT_EQ(v2.findings.size(), 2u) << summary(v2);
    EXPECT_EQ(v2.findings[0].problem, Problem::not_in_p2m);
    EXPECT_EQ(v2.lines[1], "domain 2 extra page 0: guest frame 0x800 is not inside the RAM of the domain's p2m");
}

TEST(HandoverValidate, EmulatedMmioIsNotRam)
{
    SampleRecord sample = handover_test::sample_record();
    SampleDomain &domain = sample.domains[0];
    domain.max_frames = 0x200 + 0x100 + 1; // exactly the RAM it maps
    domain.p2m[3].count = 0x100; // emulated frames neither count nor need preserving
    const Outcome outcome = validate_sample(sample);
    EXPECT_TRUE(outcome.findings.empty()) << summary(outcome);
}

TEST(HandoverValidate, CrashedDomainMayHoldAStateVmrunRefuses)
{
    SampleRecord sample = handover_test::sample_record();
    SampleDomain &domain = sample.domains[1];
    domain.state = s::DomainState::crashed;
    domain.stop_reason = "VMRUN refused the guest state";
    domain.vcpus[0].rflags = 0; // bit 1 clear: what VMRUN refuses
    domain.vcpus[0].efer = 0x1;
    EXPECT_TRUE(validate_sample(sample).findings.empty());
    // Unknown values are refused all the same: a newer writer meant something by them.
    domain.vcpus[0].event = static_cast<s::EventKind>(9);
    const Outcome outcome = validate_sample(sample);
    ASSERT_EQ(outcome.findings.size(), 1u) << summary(outcome);
    EXPECT_EQ(outcome.lines[0], "domain 2 vcpu entry 0: unknown pending event kind value 9");
}

TEST(HandoverValidate, UnmappedExtraPagesAndEveryPhaseAreFine)
{
    SampleRecord sample = handover_test::sample_record();
    for (handover_test::SampleExtraPage &page : sample.domains[0].extra_pages)
        page.guest = s::NO_GUEST_FRAME;
    sample.update_count = 1; // a cold boot: no last update
    sample.last_update.clear();
    EXPECT_TRUE(validate_sample(sample).findings.empty());
    sample.domains[0].state = s::DomainState::shutdown;
    sample.domains[0].stop_reason = "guest requested power-off";
    EXPECT_TRUE(validate_sample(sample).findings.empty());
}

TEST(HandoverValidate, Altp2mViewsNeedOnlyWhatTheyShow)
{
    SampleRecord sample = handover_test::sample_record();
    SampleDomain &domain = sample.domains[0];
    // Access-only entries may lie over holes and MMIO: they name no other frames. An empty
    // view is the host p2m under another index; vCPUs may run in any view or in the host p2m.
    domain.altp2m_views[1].entries.push_back({0x40000, 0x10, 0x40000, s::P2mAccess::r});
    domain.altp2m_views[1].entries.push_back({0xfee00, 0x1, 0xfee00, s::P2mAccess::n});
    domain.altp2m_views.push_back({8, {}});
    domain.vcpus[0].altp2m_view = 8;
    domain.vcpus[1].altp2m_view = 2;
    // A remap may show RAM of every type, across abutting ranges: frames 0x1f0..0x1ff and
    // the shared-info frame's RAM (0x1000, under the mapped extra page) both are.
    domain.altp2m_views[0].entries.push_back({0x3000, 0x10, 0x1f0, s::P2mAccess::rwx});
    domain.altp2m_views[0].entries.push_back({0x4000, 0x1, 0x1000, s::P2mAccess::r});
    sample.domains[1].altp2m_views = {{1, {{0x0, 0x400, 0x0, s::P2mAccess::r}, {0x500, 0x1, 0x3ff, s::P2mAccess::rw}}}};
    EXPECT_TRUE(validate_sample(sample).findings.empty()) << summary(validate_sample(sample));
    // The same across chunk boundaries: every range in a chunk of its own.
    sample.ranges_per_chunk = 1;
    EXPECT_TRUE(validate_sample(sample).findings.empty()) << summary(validate_sample(sample));
}

TEST(HandoverValidate, RecordWithoutViewsKeepsTheOlderMinimumReader)
{
    SampleRecord sample = handover_test::sample_record();
    sample.domains[0].altp2m_views.clear();
    sample.domains[0].vcpus[1].altp2m_view = 0;
    keep_one_vcpu(sample);
    sample.min_reader_version = handover::min_reader_version_for(false);
    EXPECT_EQ(sample.min_reader_version, s::HANDOVER_MIN_READER_VERSION);
    EXPECT_EQ(handover::min_reader_version_for(true), s::ALTP2M_MIN_READER_VERSION);
    const Outcome outcome = validate_sample(sample);
    EXPECT_TRUE(outcome.findings.empty()) << summary(outcome);
    // v2 readers may read it; they may not read one with views (minReaderVersion 3).
    EXPECT_EQ(outcome.status, RecordStatus::ok);
}

TEST(HandoverValidate, ViewsOfEveryDomainAreCheckedButTheReaderOnce)
{
    SampleRecord sample = handover_test::sample_record();
    keep_one_vcpu(sample);
    sample.min_reader_version = 2;
    sample.domains[1].altp2m_views = {{4, {{0x0, 0x1, 0x500, s::P2mAccess::r}}}};
    const Outcome outcome = validate_sample(sample);
    ASSERT_EQ(outcome.findings.size(), 2u) << summary(outcome);
    EXPECT_EQ(outcome.findings[0].problem, Problem::min_reader_too_low);
    EXPECT_EQ(outcome.findings[1].problem, Problem::target_not_ram);
    EXPECT_EQ(outcome.lines[1], "domain 2 altp2m view 4 entry 0: remaps to guest frames 0x500+0x1, which are not all "
                                "RAM in the domain's p2m");
}

TEST(HandoverValidate, RemapTargetsCannotMakeValidationQuadratic)
{
    // 0x200 one-frame RAM ranges, and remaps that each show all of them: every target
    // walks the whole p2m. Targets may walk it once per possible view; past that the rest
    // are left unchecked, and the record is refused for it.
    SampleRecord sample = handover_test::sample_record();
    SampleDomain &domain = sample.domains[0];
    std::vector<handover_test::SampleP2m> ranges;
    for (u64 frame = 0; frame < 0x200; frame++)
        ranges.push_back({frame, 0x10000 + frame, 1, s::P2mType::ram_rw, s::P2mAccess::rwx});
    domain.p2m.insert(domain.p2m.erase(domain.p2m.begin()), ranges.begin(), ranges.end());
    const u64 p2m_ranges = domain.p2m.size();
    domain.altp2m_views = {{1, {}}};
    for (u64 i = 0; i < 4; i++)
        domain.altp2m_views[0].entries.push_back({0x10000 + i * 0x200, 0x200, 0x0, s::P2mAccess::rw});
    EXPECT_TRUE(validate_sample(sample).findings.empty()) << summary(validate_sample(sample));

    for (u64 i = 4; i < 32; i++)
        domain.altp2m_views[0].entries.push_back({0x10000 + i * 0x200, 0x200, 0x0, s::P2mAccess::rw});
    const Outcome outcome = validate_sample(sample);
    ASSERT_EQ(outcome.findings.size(), 1u) << summary(outcome);
    EXPECT_EQ(outcome.findings[0].problem, Problem::too_many);
    EXPECT_EQ(outcome.findings[0].field, Field::target_frames);
    EXPECT_EQ(outcome.lines[0], "domain 1 altp2m view 1 entries: remap targets cross more than " +
                                    std::to_string(p2m_ranges * 8) +
                                    " p2m ranges in all (once per possible view over "
                                    "the " +
                                    std::to_string(p2m_ranges) + " ranges): the rest are not checked");
}

TEST(HandoverValidate, EveryProblemListedAtOnce)
{
    SampleRecord sample = handover_test::sample_record();
    sample.tsc_khz = 0;
    sample.domains[0].p2m[0].machine = 0x11000;
    sample.iommu[0].devices[0].domain = 3;
    const Outcome outcome = validate_sample(sample);
    ASSERT_EQ(outcome.findings.size(), 3u) << summary(outcome);
    EXPECT_EQ(outcome.findings[0].problem, Problem::tsc_frequency_missing);
    EXPECT_EQ(outcome.findings[1].problem, Problem::not_preserved);
    EXPECT_EQ(outcome.findings[2].problem, Problem::unknown_domain);
}

TEST(HandoverValidate, SinkCanStopEarly)
{
    SampleRecord sample = handover_test::sample_record();
    sample.tsc_khz = 0;
    sample.build_id = "";
    const std::vector<u8> bytes = handover_test::write_record(sample);
    handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());
    wire::MessageReader message(words.data(), bytes.size());
    int calls = 0;
    const u64 total = validate_record(
        message, schema::Handover::Reader(message.root()), {},
        [](void *context, const Finding &) { return ++*static_cast<int *>(context) < 1; }, &calls);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(total, 2u);
}

TEST(HandoverValidate, StructuralDamageIsReportedAsStructure)
{
    std::vector<u8> bytes = handover_test::write_record(handover_test::sample_record());
    // Make the domains pointer (root pointer section, index 4) a far pointer.
    const size_t root_data_words = schema::Handover::DATA_WORDS;
    const size_t domains_pointer = 8 + 8 + (root_data_words + 4) * 8;
    bytes[domains_pointer] = (bytes[domains_pointer] & ~3) | 2;
    const Outcome outcome = validate_bytes(bytes);
    EXPECT_EQ(outcome.status, RecordStatus::bad_structure);
    ASSERT_EQ(outcome.findings.size(), 1u) << summary(outcome);
    EXPECT_EQ(outcome.findings[0].problem, Problem::structure);
    EXPECT_EQ(outcome.lines[0], "record: malformed message: far pointer (multi-segment messages are not accepted) "
                                "(at byte " +
                                    std::to_string(domains_pointer) + ")");
}

TEST(HandoverValidate, NamesAreStable)
{
    EXPECT_STREQ(problem_name(Problem::not_preserved), "not_preserved");
    EXPECT_STREQ(subject_name(Subject::iommu_frames), "iommu_frames");
    EXPECT_STREQ(subject_name(Subject::last_update), "last_update");
    EXPECT_STREQ(problem_name(Problem::not_in_p2m), "not_in_p2m");
    EXPECT_STREQ(subject_name(Subject::altp2m_view), "altp2m_view");
    EXPECT_STREQ(subject_name(Subject::altp2m_entry), "altp2m_entry");
    EXPECT_STREQ(problem_name(Problem::view_index_out_of_range), "view_index_out_of_range");
    EXPECT_STREQ(problem_name(Problem::access_not_expressible), "access_not_expressible");
    EXPECT_STREQ(problem_name(Problem::target_not_ram), "target_not_ram");
    EXPECT_STREQ(problem_name(Problem::unknown_view), "unknown_view");
    EXPECT_STREQ(problem_name(Problem::min_reader_too_low), "min_reader_too_low");
    char small[8];
    const Finding finding{Problem::overlap, Subject::preserved, Field::none, schema::NO_DOMAIN, NO_INDEX, 3, 1, 2};
    const usize length = describe(finding, small, sizeof(small));
    EXPECT_EQ(std::string(small), "preserv"); // truncated, terminated
    char full[128];
    EXPECT_EQ(describe(finding, full, sizeof(full)), length);
    EXPECT_EQ(std::string(full), "preserved range 3: frames start at 0x1, inside the previous range (ends 0x2)");
}

// v5: the way back must be where the record says it is preserved, and needs a v5 reader.
TEST(HandoverValidate, TheRollbackKitAndImageCopiesMustBePreservedAsTheirKinds)
{
    struct Transaction {
        const char *name;
        void (*mutate)(SampleRecord &);
        const char *first_line;
    };
    const Transaction cases[] = {
        {"kit needs a v5 reader",
         [](SampleRecord &r) {
             keep_one_vcpu(r);
             r.min_reader_version = 4;
         },
         "record: minimum reader version 4, but the record carries a rollback kit, which readers before version 5 "
         "would not free"},
        {"kit not preserved as a kit",
         [](SampleRecord &r) {
             r.rollback_kit = {0x70000, 0x10};
         },
         "record: rollback kit 0x70000+0x10 are not preserved"},
        {"preserved image outside its range", [](SampleRecord &r) { r.writer_image.bytes = 0x70000; },
         "record: writer image 0x70000+0x70 are not preserved"},
        {"an image named preserved that is a module", [](SampleRecord &r) { r.next_image.preserved = true; },
         "record: next image 0x1000+0x6f are not preserved"},
    };
    for (const Transaction &test : cases) {
        SampleRecord sample = handover_test::sample_record_later();
        test.mutate(sample);
        const Outcome outcome = validate_sample(sample);
        ASSERT_EQ(outcome.findings.size(), 1u) << test.name << ":" << summary(outcome);
        EXPECT_EQ(outcome.lines[0], test.first_line) << test.name;
    }
    // The same record without the fields is a v4-style record, valid as it is.
    SampleRecord plain = handover_test::sample_record_later();
    plain.rollback_kit = {0, 0};
    plain.writer_image.preserved = false;
    EXPECT_TRUE(validate_sample(plain).findings.empty()) << summary(validate_sample(plain));
}
