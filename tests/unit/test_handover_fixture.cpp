// SPDX-License-Identifier: MIT
// A realistic handover record as plain data, written with the freestanding codec.
#include "test_handover_fixture.hpp"
#include "test_handover_support.hpp"
#include <gtest/gtest.h>

namespace handover_test {

namespace {

using namespace handover;

SampleVcpu long_mode_vcpu(u32 id, u64 rip)
{
    SampleVcpu vcpu;
    vcpu.id = id;
    vcpu.rip = rip;
    vcpu.rsp = 0x7ff000 - id * 0x1000;
    vcpu.rax = 0x1234 + id;
    vcpu.msrs = {{0xc0000080u, 0xd01}, {0xc0000103u, id}};
    vcpu.fpu = std::vector<u8>(32, static_cast<u8>(0x37 + id));
    return vcpu;
}

void write_segment(schema::Segment::Builder segment, u16 selector, u16 attributes)
{
    segment.set_selector(selector);
    segment.set_attributes(attributes);
    segment.set_limit(0xffffffff);
    segment.set_base(0);
}

void write_vcpu(schema::VcpuState::Builder out, const SampleVcpu &vcpu)
{
    out.set_id(vcpu.id);
    out.set_run_state(vcpu.run_state);
    out.set_last_cpu(vcpu.last_cpu);
    out.set_rax(vcpu.rax);
    out.set_rsp(vcpu.rsp);
    out.set_rip(vcpu.rip);
    out.set_rflags(vcpu.rflags);
    out.set_cr0(vcpu.cr0);
    out.set_cr3(vcpu.cr3);
    out.set_cr4(vcpu.cr4);
    out.set_efer(vcpu.efer);
    out.set_dr6(vcpu.dr6);
    out.set_dr7(vcpu.dr7);
    write_segment(out.init_cs(), 0x08, 0x0a9b);
    write_segment(out.init_ds(), 0x10, 0x0c93);
    write_segment(out.init_ss(), 0x10, 0x0c93);
    write_segment(out.init_tr(), 0x28, 0x008b);
    auto gdtr = out.init_gdtr();
    gdtr.set_base(0x5000);
    gdtr.set_limit(0x37);
    out.set_pat(0x0007040600070406);
    out.set_lstar(0xffffffff81000000);
    auto msrs = out.init_other_msrs(static_cast<u32>(vcpu.msrs.size()));
    for (u32 i = 0; i < vcpu.msrs.size(); i++) {
        msrs[i].set_index(vcpu.msrs[i].first);
        msrs[i].set_value(vcpu.msrs[i].second);
    }
    auto event = out.init_pending_event();
    event.set_kind(vcpu.event);
    event.set_vector(vcpu.event_vector);
    out.set_tsc_offset(-4000);
    out.init_timer().set_deadline_tsc(vcpu.timer_deadline);
    out.set_fpu_state(vcpu.fpu.data(), static_cast<u32>(vcpu.fpu.size()));
    out.set_altp2m_view(vcpu.altp2m_view);
}

void write_altp2m_views(schema::Domain::Builder out, const std::vector<SampleAltp2mView> &views)
{
    if (views.empty())
        return;
    auto list = out.init_altp2m_views(static_cast<u32>(views.size()));
    for (u32 i = 0; i < list.size(); i++) {
        list[i].set_index(views[i].index);
        auto entries = list[i].init_entries(static_cast<u32>(views[i].entries.size()));
        for (u32 e = 0; e < entries.size(); e++) {
            const SampleAltp2mEntry &entry = views[i].entries[e];
            entries[e].set_guest_frame(entry.guest);
            entries[e].set_frame_count(entry.count);
            entries[e].set_target_guest_frame(entry.target);
            entries[e].set_access(entry.access);
        }
    }
}

void write_domain(schema::Domain::Builder out, const SampleDomain &domain, u32 per_chunk)
{
    out.set_id(domain.id);
    out.set_name(domain.name.c_str());
    out.set_flags(domain.flags);
    out.set_state(domain.state);
    out.set_max_frames(domain.max_frames);
    P2mWriter p2m = init_p2m(out, domain.p2m.size(), per_chunk);
    for (const SampleP2m &range : domain.p2m) {
        auto entry = p2m.next();
        entry.set_guest_frame(range.guest);
        entry.set_machine_frame(range.machine);
        entry.set_frame_count(range.count);
        entry.set_type(range.type);
        entry.set_access(range.access);
    }
    auto pages = out.init_extra_pages(static_cast<u32>(domain.extra_pages.size()));
    for (u32 i = 0; i < pages.size(); i++) {
        pages[i].set_role(domain.extra_pages[i].role);
        pages[i].set_vcpu(domain.extra_pages[i].vcpu);
        pages[i].set_guest_frame(domain.extra_pages[i].guest);
        pages[i].set_machine_frame(domain.extra_pages[i].machine);
    }
    auto vcpus = out.init_vcpus(static_cast<u32>(domain.vcpus.size()));
    for (u32 i = 0; i < vcpus.size(); i++)
        write_vcpu(vcpus[i], domain.vcpus[i]);
    auto channels = out.init_event_channels(static_cast<u32>(domain.channels.size()));
    for (u32 i = 0; i < channels.size(); i++) {
        const SampleChannel &channel = domain.channels[i];
        channels[i].set_port(channel.port);
        channels[i].set_state(channel.state);
        channels[i].set_notify_vcpu(channel.notify_vcpu);
        channels[i].set_remote_domain(channel.remote_domain);
        channels[i].set_remote_port(channel.remote_port);
        channels[i].set_virq(channel.virq);
        channels[i].set_pending(channel.port % 2 == 1);
        channels[i].set_timer_period_ns(channel.timer_period_ns);
        channels[i].set_timer_deadline_tsc(channel.timer_deadline_tsc);
    }
    out.set_upcall_vector(domain.upcall_vector);
    auto log_dirty = out.init_log_dirty();
    log_dirty.set_mode(domain.log_dirty);
    auto bitmap = log_dirty.init_bitmap();
    bitmap.set_first_frame(domain.log_dirty_bitmap.first);
    bitmap.set_frame_count(domain.log_dirty_bitmap.count);
    log_dirty.set_guest_frames(domain.log_dirty_guest_frames);
    log_dirty.set_dirty_count(domain.log_dirty == schema::LogDirtyMode::enabled ? 17 : 0);
    out.set_nested_page_table_root(domain.npt_root);
    out.set_stop_reason(domain.stop_reason.c_str());
    out.set_created_tsc(domain.created_tsc);
    write_altp2m_views(out, domain.altp2m_views);
}

void write_stamps(wire::StructListBuilder<schema::PhaseStamp> out, const std::vector<std::pair<hs::Phase, u64>> &stamps)
{
    for (u32 i = 0; i < out.size(); i++) {
        out[i].set_phase(stamps[i].first);
        out[i].set_tsc(stamps[i].second);
    }
}

void write_iommu(schema::IommuUnit::Builder out, const SampleIommu &unit)
{
    out.set_kind(unit.kind);
    out.set_register_base(unit.register_base);
    auto root = out.init_root_table();
    root.set_first_frame(unit.root_table.first);
    root.set_frame_count(unit.root_table.count);
    auto devices = out.init_devices(static_cast<u32>(unit.devices.size()));
    for (u32 i = 0; i < devices.size(); i++) {
        devices[i].set_requester_id(unit.devices[i].requester_id);
        devices[i].set_domain_id(unit.devices[i].domain);
        devices[i].set_page_table_root(unit.devices[i].page_table_root);
        devices[i].set_page_table_levels(unit.devices[i].levels);
    }
    auto frames = out.init_table_frames(static_cast<u32>(unit.frames.size()));
    for (u32 i = 0; i < frames.size(); i++) {
        frames[i].set_kind(unit.frames[i].kind);
        frames[i].set_domain_id(unit.frames[i].domain);
        frames[i].set_first_frame(unit.frames[i].first);
        frames[i].set_frame_count(unit.frames[i].count);
    }
    out.set_translation_enabled(true);
}

} // namespace

SampleRecord sample_record()
{
    using hs::P2mAccess;
    using hs::P2mType;
    SampleRecord record;
    record.bootmem = {0x1000, 0x1000};
    record.ram = {{0x0, 0x9f}, {0x100, 0x7fe00}};

    SampleDomain a;
    a.id = 1;
    a.name = "guest-a";
    a.flags = hs::DOMAIN_FLAG_CONSOLE;
    a.max_frames = 0x400;
    a.created_tsc = 60000; // before the update that started the writer
    a.p2m = {{0x0, 0x10000, 0x200, P2mType::ram_rw, P2mAccess::rwx},
             {0x200, 0x10200, 0x100, P2mType::ram_ro, P2mAccess::rx},
             {0x1000, 0x20000, 0x1, P2mType::ram_rw, P2mAccess::rw},
             {0xfec00, 0x0, 0x1, P2mType::mmio_emulated, P2mAccess::rw},
             {0xfee00, 0xfee00, 0x1, P2mType::mmio, P2mAccess::rw}};
    // Extra pages the guest mapped lie over its RAM (the p2m shows the RAM they cover);
    // it has not mapped its console page.
    a.extra_pages = {{hs::ExtraPageRole::shared_info, 0, 0x1000, 0x20000},
                     {hs::ExtraPageRole::vcpu_info, 0, 0x1fe, 0x20001},
                     {hs::ExtraPageRole::vcpu_info, 1, 0x1ff, 0x20002},
                     {hs::ExtraPageRole::console, 0, hs::NO_GUEST_FRAME, 0x20003}};
    a.vcpus = {long_mode_vcpu(0, 0x100000), long_mode_vcpu(1, 0x100400)};
    a.vcpus[1].run_state = hs::VcpuRunState::blocked;
    a.vcpus[1].timer_deadline = 5000000;
    a.vcpus[1].last_cpu = 1; // v6
    // View 1 write-protects four pages, shows read-only frame 0x280 executable at 0x100,
    // and shifts 0x1f0..0x20f down by 0x10 across the two abutting RAM ranges; view 2
    // takes write access from the low RAM and every right from the shared-info frame.
    a.altp2m_views = {
        {1, {{0x10, 0x4, 0x10, P2mAccess::r}, {0x100, 0x1, 0x280, P2mAccess::rx}, {0x1f0, 0x20, 0x1e0, P2mAccess::rw}}},
        {2, {{0x0, 0x200, 0x0, P2mAccess::rx}, {0x1000, 0x1, 0x1000, P2mAccess::n}}}};
    a.vcpus[1].altp2m_view = 1;
    a.channels = {{1, hs::EventChannelState::interdomain, 0, 2, 1, 0},
                  {2, hs::EventChannelState::virq, 1, 0, 0, 0},
                  {3, hs::EventChannelState::ipi, 1, 0, 0, 0},
                  {4, hs::EventChannelState::timer, 0, 0, 0, 0, 10000000, 4100000}};

    SampleDomain b;
    b.id = 2;
    b.name = "guest-b";
    b.state = hs::DomainState::paused;
    b.created_tsc = 500000; // after it
    b.p2m = {{0x0, 0x31000, 0x400, P2mType::log_dirty, P2mAccess::rw}};
    b.extra_pages = {{hs::ExtraPageRole::shared_info, 0, hs::NO_GUEST_FRAME, 0x30001}};
    b.vcpus = {long_mode_vcpu(0, 0x200000)};
    b.vcpus[0].event = hs::EventKind::exception;
    b.vcpus[0].event_vector = 14;
    b.channels = {{1, hs::EventChannelState::interdomain, 0, 1, 1, 0}};
    b.log_dirty = hs::LogDirtyMode::enabled;
    b.log_dirty_bitmap = {0x30000, 1};
    b.log_dirty_guest_frames = 0x400;
    record.domains = {a, b};
    record.min_reader_version = handover::min_reader_version_for(true, false, false, true, true);

    SampleIommu unit;
    unit.register_base = 0xfeb80000;
    unit.root_table = {0x40000, 0x200};
    unit.devices = {{0x0010, 1, 0x40200, 4}};
    unit.frames = {{hs::IommuFrameKind::page_table, 1, 0x40200, 0x10},
                   {hs::IommuFrameKind::command_buffer, hs::NO_DOMAIN, 0x40210, 1},
                   {hs::IommuFrameKind::event_log, hs::NO_DOMAIN, 0x40211, 1}};
    record.iommu = {unit};

    record.preserved = {{0x10000, 0x300, hs::PreservedKind::guest_ram, 1},
                        {0x20000, 0x4, hs::PreservedKind::extra_page, 1},
                        {0x30000, 0x1, hs::PreservedKind::log_dirty_bitmap, 2},
                        {0x30001, 0x1, hs::PreservedKind::extra_page, 2},
                        {0x31000, 0x400, hs::PreservedKind::guest_ram, 2},
                        {0x40000, 0x212, hs::PreservedKind::iommu_table, hs::NO_DOMAIN},
                        {0x50000, 0x10, hs::PreservedKind::handover_record, hs::NO_DOMAIN}};
    record.phases = {{hs::Phase::requested, 1000000},
                     {hs::Phase::image_verified, 2000000},
                     {hs::Phase::paused, 3000000},
                     {hs::Phase::serialized, 3900000}};
    // The writer was started by the host's first update (a blackout of 90 us at 2 GHz).
    record.time_origin_tsc = 50000;
    record.update_count = 2;
    record.last_update = {{hs::Phase::requested, 200000}, {hs::Phase::image_verified, 230000},
                          {hs::Phase::paused, 300000},    {hs::Phase::serialized, 340000},
                          {hs::Phase::entered, 352000},   {hs::Phase::record_parsed, 364000},
                          {hs::Phase::restored, 420000},  {hs::Phase::resumed, 480000}};
    return record;
}

SampleRecord sample_record_later()
{
    SampleRecord record = sample_record();
    record.build_id = "5eed0000cafe-B";
    record.created_tsc = 9000000;
    SampleDomain &a = record.domains[0];
    a.vcpus[0].rip += 0x40;
    a.vcpus[0].rax = 0x99;
    a.vcpus[1].run_state = hs::VcpuRunState::runnable;
    a.p2m[1].access = hs::P2mAccess::r;
    a.p2m.erase(a.p2m.begin() + 2); // guest frame 0x1000 no longer RAM-mapped...
    a.extra_pages[0].guest = hs::NO_GUEST_FRAME; // ...so the shared-info page is unmapped
    a.channels[3].timer_deadline_tsc = 9100000;
    a.altp2m_views[0].entries[1].target = 0x2c0;
    a.altp2m_views[1] = {3, {{0x200, 0x100, 0x200, hs::P2mAccess::r}}};
    a.vcpus[0].altp2m_view = 3;
    // v6: a third vCPU the guest has not started: only its id and state are recorded.
    SampleVcpu down;
    down.id = 2;
    down.run_state = hs::VcpuRunState::down;
    down.rflags = down.cr0 = down.cr3 = down.cr4 = down.efer = down.dr6 = down.dr7 = 0;
    a.vcpus.push_back(down);
    SampleDomain &b = record.domains[1];
    b.state = hs::DomainState::crashed;
    b.stop_reason = "triple fault at rip 0x200010";
    SampleDomain c;
    c.id = 7;
    c.name = "guest-c";
    c.p2m = {{0x0, 0x60000, 0x80, hs::P2mType::ram_rw, hs::P2mAccess::rwx}};
    c.vcpus = {long_mode_vcpu(0, 0x300000)};
    c.created_tsc = 6000000;
    record.domains.push_back(c);
    record.preserved.push_back({0x60000, 0x80, hs::PreservedKind::guest_ram, 7});
    record.phases.back().second = 8900000;
    // v5: a live update that can roll back, after two that did.
    record.writer_image = {0x70000000, 0x6f000, "5eed0000cafe-B", true};
    record.next_image = {0x1000000, 0x6f000, "5eed0000cafe-A", false};
    record.preserved.push_back({0x70000, 0x6f, hs::PreservedKind::hypervisor_image, hs::NO_DOMAIN});
    record.rollback_kit = {0x7f000, 0x10};
    record.preserved.push_back({0x7f000, 0x10, hs::PreservedKind::rollback_kit, hs::NO_DOMAIN});
    record.rollback_count = 2;
    record.last_rollback = {"5eed0000cafe-C", "0.1.1", "watchdog: no commit in time", hs::Phase::record_parsed,
                            8500000};
    record.min_reader_version = handover::min_reader_version_for(true, false, true, true, true);
    return record;
}

std::vector<u8> write_record(const SampleRecord &record, size_t buffer_bytes)
{
    WordBuffer buffer(buffer_bytes);
    wire::MessageBuilder message(buffer.data(), buffer.size());
    WriterIdentity identity;
    identity.build_id = record.build_id.c_str();
    identity.version = record.version.c_str();
    identity.created_tsc = record.created_tsc;
    identity.tsc_khz = record.tsc_khz;
    identity.created_unix_seconds = record.created_unix_seconds;
    identity.lapic_timer_khz = record.lapic_timer_khz;
    schema::Handover::Builder root = begin_record(message, identity);
    root.set_magic(record.magic);
    root.set_abi_version(record.abi_version);
    root.set_min_reader_version(record.min_reader_version);
    auto bootmem = root.init_bootmem();
    bootmem.set_first_frame(record.bootmem.first);
    bootmem.set_frame_count(record.bootmem.count);
    auto ram = root.init_ram(static_cast<u32>(record.ram.size()));
    for (u32 i = 0; i < ram.size(); i++) {
        ram[i].set_first_frame(record.ram[i].first);
        ram[i].set_frame_count(record.ram[i].count);
    }
    auto domains = root.init_domains(static_cast<u32>(record.domains.size()));
    for (u32 i = 0; i < domains.size(); i++)
        write_domain(domains[i], record.domains[i], record.ranges_per_chunk);
    auto units = root.init_iommu(static_cast<u32>(record.iommu.size()));
    for (u32 i = 0; i < units.size(); i++)
        write_iommu(units[i], record.iommu[i]);
    PreservedWriter preserved = init_preserved(root, record.preserved.size(), record.ranges_per_chunk);
    for (const SamplePreserved &range : record.preserved) {
        auto entry = preserved.next();
        entry.set_first_frame(range.first);
        entry.set_frame_count(range.count);
        entry.set_kind(range.kind);
        entry.set_domain_id(range.domain);
    }
    write_stamps(root.init_phases(static_cast<u32>(record.phases.size())), record.phases);
    root.set_time_origin_tsc(record.time_origin_tsc);
    root.set_update_count(record.update_count);
    write_stamps(root.init_last_update(static_cast<u32>(record.last_update.size())), record.last_update);
    auto write_image = [](const SampleImage &image, auto init) {
        if (image.bytes == 0)
            return; // not even initialised: an absent struct, as the kernel's writer leaves it
        auto copy = init();
        copy.set_address(image.address);
        copy.set_bytes(image.bytes);
        copy.set_build_id(image.build_id.c_str());
        copy.set_preserved(image.preserved);
    };
    write_image(record.writer_image, [&] { return root.init_writer_image(); });
    write_image(record.next_image, [&] { return root.init_next_image(); });
    if (record.rollback_kit.count != 0) {
        auto kit = root.init_rollback_kit();
        kit.set_first_frame(record.rollback_kit.first);
        kit.set_frame_count(record.rollback_kit.count);
    }
    root.set_rollback_count(record.rollback_count);
    if (!record.last_rollback.failed_build_id.empty()) {
        auto last = root.init_last_rollback();
        last.set_failed_build_id(record.last_rollback.failed_build_id.c_str());
        last.set_failed_version(record.last_rollback.failed_version.c_str());
        last.set_reached_phase(record.last_rollback.reached);
        last.set_reason(record.last_rollback.reason.c_str());
        last.set_failed_tsc(record.last_rollback.failed_tsc);
    }
    const u64 size = message.finish();
    EXPECT_NE(size, 0u) << wire::error_text(message.error());
    return std::vector<u8>(buffer.data(), buffer.data() + size);
}

} // namespace handover_test
