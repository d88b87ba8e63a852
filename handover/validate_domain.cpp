// SPDX-License-Identifier: MIT
// Semantic validation of a handover record: each domain, and the IOMMU.
#include "handover/validator.hpp"

namespace handover::validation {

void Validator::check_domain(schema::Domain::Reader domain, u32 index)
{
    const u32 id = domain.id();
    const Where where{Subject::domain, id, index};
    check_text(domain.name(), Field::name, where, false);
    const schema::DomainState state = domain.state();
    check_enum(state, Field::state, where);
    const wire::TextReader stop_reason = domain.stop_reason();
    check_text(stop_reason, Field::stop_reason, where, false);
    check_text(domain.console_line(), Field::console_line, where, false);
    const bool stopped = state == schema::DomainState::shutdown || state == schema::DomainState::crashed;
    if (schema::is_known(state) && !stopped && stop_reason.size != 0)
        report(Problem::not_applicable, where, stop_reason.size, static_cast<u16>(state), Field::stop_reason);
    check_recorded_tsc(domain.created_tsc(), where, Field::created_tsc);
    check_guest_kind(domain, where);
    note_altp2m_views(domain);
    check_vcpus(domain);
    u64 guest_end = 0;
    check_p2m(domain, &guest_end);
    check_altp2m(id);
    check_extra_pages(domain);
    check_event_channels(domain);
    check_log_dirty(domain, guest_end);
    if (domain.nested_page_table_root() != 0)
        check_kept(domain.nested_page_table_root(), 1, {Subject::nested_page_table, id});
}

// A PC guest carries its devices (v4); the models check each value when the next image
// loads them, so here: that they are there exactly when the kind says, and that the
// writer told older readers to stay away.
void Validator::check_guest_kind(schema::Domain::Reader domain, const Where &where)
{
    const schema::GuestKind kind = domain.guest_kind();
    check_enum(kind, Field::guest_kind, where);
    const bool has_platform = domain.pc_platform().pit().size() != 0 || domain.pc_platform().lapics().size() != 0;
    if (kind == schema::GuestKind::pc && !has_platform)
        report(Problem::missing, where, 0, 0, Field::pc_platform);
    if (kind == schema::GuestKind::baton && has_platform)
        report(Problem::not_applicable, where, 0, static_cast<u16>(kind), Field::pc_platform);
    if (kind == schema::GuestKind::pc && record_.min_reader_version() < schema::PC_GUEST_MIN_READER_VERSION &&
        !reader_for_pc_reported_) {
        reader_for_pc_reported_ = true;
        report(Problem::min_reader_too_low, {Subject::header}, record_.min_reader_version(), domain.id(),
               Field::guest_kind);
    }
}

void Validator::check_vcpus(schema::Domain::Reader domain)
{
    const u32 id = domain.id();
    const bool stopped =
        domain.state() == schema::DomainState::shutdown || domain.state() == schema::DomainState::crashed;
    const auto vcpus = domain.vcpus();
    vcpu_count_ = 0;
    if (!check_count(vcpus.size(), limits_.max_vcpus, {Subject::vcpu, id}))
        return;
    vcpu_count_ = vcpus.size();
    if (domain.state() == schema::DomainState::running && vcpus.size() == 0)
        report(Problem::missing, {Subject::vcpu, id});
    // v6: every vCPU is recorded, in id order, and a reader that restores one vCPU per
    // domain is told to stay away from a record with more.
    const bool v6 = record_.abi_version() >= 6;
    if (v6 && vcpus.size() > 1 && record_.min_reader_version() < schema::SMP_MIN_READER_VERSION &&
        !reader_for_smp_reported_) {
        reader_for_smp_reported_ = true;
        report(Problem::min_reader_too_low, {Subject::header}, record_.min_reader_version(), id, Field::vcpus);
    }
    SeenIds seen;
    for (u32 i = 0; i < vcpus.size() && !stop_; i++) {
        const schema::VcpuState::Reader vcpu = vcpus[i];
        const Where where{Subject::vcpu, id, i};
        if (vcpu.id() >= vcpus.size())
            report(Problem::bad_vcpu, where, vcpu.id(), vcpus.size());
        else if (seen.mark(vcpu.id()))
            report(Problem::duplicate, where, vcpu.id());
        else if (v6 && i > 0 && vcpu.id() < vcpus[i - 1].id())
            report(Problem::unsorted, where, vcpu.id(), vcpus[i - 1].id());
        check_enum(vcpu.run_state(), Field::run_state, where);
        const bool down = vcpu.run_state() == schema::VcpuRunState::down;
        // vCPU 0 starts with its domain; the others start down until the guest starts them.
        if (v6 && down && vcpu.id() == 0 && !stopped)
            report(Problem::not_applicable, where, static_cast<u16>(vcpu.run_state()), static_cast<u16>(domain.state()),
                   Field::run_state);
        if (v6 && down && vcpu.timer().deadline_tsc() != 0)
            report(Problem::not_applicable, where, vcpu.timer().deadline_tsc(), static_cast<u16>(vcpu.run_state()),
                   Field::wake_deadline);
        check_vcpu_view(vcpu, where);
        const schema::PendingEvent::Reader event = vcpu.pending_event();
        check_enum(event.kind(), Field::event_kind, where);
        // A vCPU that never ran may hold all zeroes; any other must be enterable, except
        // in a crashed domain: it is never entered again, and its state may be exactly
        // what VMRUN refused.
        if (vcpu.run_state() != schema::VcpuRunState::down && domain.state() != schema::DomainState::crashed)
            check_cpu_state(vcpu, event, where);
        const auto msrs = vcpu.other_msrs();
        if (!check_count(msrs.size(), limits_.max_msrs, where))
            continue;
        for (u32 m = 1; m < msrs.size(); m++) {
            if (msrs[m].index() == msrs[m - 1].index())
                report(Problem::duplicate, where, msrs[m].index());
            else if (msrs[m].index() < msrs[m - 1].index())
                report(Problem::unsorted, where, msrs[m].index(), msrs[m - 1].index());
        }
    }
}

void Validator::check_cpu(bool bad, CpuCheck check, u64 value, const Where &where)
{
    if (bad)
        report(Problem::invalid_cpu_state, where, static_cast<u64>(check), value);
}

void Validator::check_cpu_state(schema::VcpuState::Reader vcpu, schema::PendingEvent::Reader event, const Where &where)
{
    const u64 cr0 = vcpu.cr0(), cr4 = vcpu.cr4(), efer = vcpu.efer(), rflags = vcpu.rflags();
    const bool long_paging = (efer & EFER_LME) != 0 && (cr0 & CR0_PG) != 0;
    check_cpu((cr0 & CR0_NW) != 0 && (cr0 & CR0_CD) == 0, CpuCheck::cr0_nw_without_cd, cr0, where);
    check_cpu((cr0 >> 32) != 0, CpuCheck::cr0_high_bits, cr0, where);
    check_cpu((vcpu.cr3() >> 52) != 0, CpuCheck::cr3_high_bits, vcpu.cr3(), where);
    check_cpu((cr4 >> 32) != 0, CpuCheck::cr4_high_bits, cr4, where);
    check_cpu((vcpu.dr6() >> 32) != 0, CpuCheck::dr6_high_bits, vcpu.dr6(), where);
    check_cpu((vcpu.dr7() >> 32) != 0, CpuCheck::dr7_high_bits, vcpu.dr7(), where);
    check_cpu((efer & EFER_RESERVED) != 0, CpuCheck::efer_reserved_bits, efer, where);
    check_cpu(long_paging && (cr4 & CR4_PAE) == 0, CpuCheck::long_mode_without_pae, cr4, where);
    check_cpu(long_paging && (cr0 & CR0_PE) == 0, CpuCheck::long_mode_without_pe, cr0, where);
    check_cpu((rflags & 2) == 0, CpuCheck::rflags_bit1_clear, rflags, where);
    check_cpu((rflags >> 22) != 0, CpuCheck::rflags_high_bits, rflags, where);

    check_cpu(event.kind() == schema::EventKind::exception && event.vector() > 31, CpuCheck::exception_vector,
              event.vector(), where);
    check_cpu(event.kind() == schema::EventKind::nmi && event.vector() != 2, CpuCheck::nmi_vector, event.vector(),
              where);
}

void Validator::check_p2m(schema::Domain::Reader domain, u64 *guest_end)
{
    const u32 id = domain.id();
    const P2mReader p2m = p2m_of(domain);
    p2m_index_.reset();
    p2m_usable_ = false;
    p2m_ranges_ = 0;
    if (!check_count(p2m.chunk_count(), limits_.max_chunks, {Subject::p2m, id}, Field::chunks))
        return;
    P2mTotals totals;
    bool complete = true;
    u64 index = 0;
    // The chunks by hand rather than with for_each(): the index keeps each list followed.
    for (u32 c = 0; c < p2m.chunk_count() && complete; c++) {
        const wire::StructListReader<schema::P2mRange> ranges = p2m.chunk(c);
        // Cannot fail: check_count above kept the chunk count within the index's lists
        // (the constructor clamps max_chunks to P2mIndex::MAX_LISTS).
        (void)p2m_index_.add(ranges);
        for (u32 i = 0; i < ranges.size(); i++, index++) {
            if (index >= limits_.max_ranges) {
                complete = report(Problem::too_many, {Subject::p2m, id}, index + 1, limits_.max_ranges);
                break;
            }
            // A million ranges pass through here: decide quickly, explain slowly.
            if (__builtin_expect(!p2m_range_fine(ranges[i], &totals), 0))
                explain_p2m_range(ranges[i], {Subject::p2m, id, index}, &totals);
            if (stop_) {
                complete = false;
                break;
            }
        }
    }
    *guest_end = totals.guest_end;
    p2m_ranges_ = index;
    p2m_usable_ = complete && totals.searchable;
    if (domain.max_frames() != 0 && totals.ram_frames > domain.max_frames())
        report(Problem::over_limit, {Subject::domain, id}, totals.ram_frames, domain.max_frames());
}

// Reports everything wrong with a range p2m_range_fine() refused, and accounts for it.
void Validator::explain_p2m_range(schema::P2mRange::Reader range, const Where &where, P2mTotals *totals)
{
    const u64 guest = range.guest_frame(), count = range.frame_count();
    const bool valid = check_sorted_range(guest, count, where, &totals->cursor, Field::guest_frames);
    const schema::P2mType type = range.type();
    totals->searchable &= valid && schema::is_known(type);
    check_enum(type, Field::type, where);
    check_enum(range.access(), Field::access, where);
    if (!valid)
        return;
    account(totals, guest, count, type);
    if (maps_ram(type))
        check_kept(range.machine_frame(), count, where, Field::machine_frames);
    else if (type == schema::P2mType::mmio && !frame_range_fits(range.machine_frame(), count))
        report(Problem::range_overflow, where, range.machine_frame(), count, Field::machine_frames);
    else if (type == schema::P2mType::mmio_emulated && range.machine_frame() != 0)
        report(Problem::not_applicable, where, range.machine_frame(), static_cast<u16>(type), Field::machine_frames);
}

void Validator::note_altp2m_views(schema::Domain::Reader domain)
{
    altp2m_views_ = domain.altp2m_views();
    view_mask_ = 0;
    // Over the limit the list is not examined (check_altp2m() says so), and what vCPUs
    // name cannot be judged.
    view_mask_complete_ = altp2m_views_.size() <= schema::ALTP2M_MAX_VIEWS;
    for (u32 i = 0; view_mask_complete_ && i < altp2m_views_.size(); i++) {
        const u16 index = altp2m_views_[i].index();
        if (index != 0 && index <= schema::ALTP2M_MAX_VIEWS)
            view_mask_ |= u32{1} << index;
    }
}

void Validator::check_vcpu_view(schema::VcpuState::Reader vcpu, const Where &where)
{
    const u16 view = vcpu.altp2m_view();
    // Index 0 is the host p2m. The mask holds only indices in 1..altp2mMaxViews, so a larger
    // one is never found.
    const bool known = view <= schema::ALTP2M_MAX_VIEWS && (view_mask_ & (u32{1} << view)) != 0;
    if (view != 0 && view_mask_complete_ && !known)
        report(Problem::unknown_view, where, view);
}

void Validator::check_altp2m(u32 domain)
{
    const wire::StructListReader<schema::Altp2mView> views = altp2m_views_;
    if (views.size() == 0)
        return;
    // A reader older than v3 would drop the views and run every vCPU in the host p2m:
    // the writer must have said so in minReaderVersion (docs/abi.md, rule 3).
    if (record_.min_reader_version() < schema::ALTP2M_MIN_READER_VERSION && !reader_for_views_reported_) {
        reader_for_views_reported_ = true;
        report(Problem::min_reader_too_low, {Subject::header}, record_.min_reader_version(), domain);
    }
    if (!check_count(views.size(), schema::ALTP2M_MAX_VIEWS, {Subject::altp2m_view, domain}, Field::view_index))
        return;
    // Remap targets may walk the domain's p2m once per possible view in all: far more than
    // real views need (their remaps are mostly single pages), and still linear in the record.
    remap_steps_left_ = p2m_ranges_ * schema::ALTP2M_MAX_VIEWS;
    remap_budget_spent_ = false;
    for (u32 i = 0; i < views.size() && !stop_; i++) {
        const schema::Altp2mView::Reader view = views[i];
        const u16 index = view.index();
        const Where where{Subject::altp2m_view, domain, i, index};
        const u16 previous = i > 0 ? views[i - 1].index() : 0;
        if (index == 0 || index > schema::ALTP2M_MAX_VIEWS)
            report(Problem::view_index_out_of_range, where, index, schema::ALTP2M_MAX_VIEWS, Field::view_index);
        else if (i > 0 && index == previous)
            report(Problem::duplicate, where, index, 0, Field::view_index);
        else if (i > 0 && index < previous)
            report(Problem::unsorted, where, index, previous, Field::view_index);
        check_altp2m_entries(view, domain);
    }
}

void Validator::check_altp2m_entries(schema::Altp2mView::Reader view, u32 domain)
{
    const wire::StructListReader<schema::Altp2mEntry> entries = view.entries();
    const Where list{Subject::altp2m_entry, domain, NO_INDEX, view.index()};
    if (!check_count(entries.size(), limits_.max_altp2m_entries, list))
        return;
    SortCursor cursor;
    for (u32 i = 0; i < entries.size() && !stop_; i++) {
        const schema::Altp2mEntry::Reader entry = entries[i];
        const Where where{Subject::altp2m_entry, domain, i, view.index()};
        const u64 guest = entry.guest_frame(), count = entry.frame_count(), target = entry.target_guest_frame();
        const bool valid = check_sorted_range(guest, count, where, &cursor, Field::guest_frames);
        const schema::P2mAccess access = entry.access();
        check_enum(access, Field::access, where);
        // A present x86 page-table entry is readable: write or execute without read
        // cannot be expressed (the kernel's p2m accepts n, r, rw, rx and rwx).
        const u16 bits = static_cast<u16>(access);
        if (schema::is_known(access) && bits != 0 && (bits & 1) == 0)
            report(Problem::access_not_expressible, where, bits, 0, Field::access);
        if (!valid || target == guest)
            continue; // an access-only entry: the host view's own frames
        if (!frame_range_fits(target, count))
            report(Problem::range_overflow, where, target, count, Field::target_frames);
        else if (p2m_usable_)
            check_remap_target(target, count, where);
    }
}

void Validator::check_remap_target(u64 target, u64 count, const Where &where)
{
    if (remap_budget_spent_)
        return; // reported once; the domain's other targets stay unchecked
    switch (p2m_index_.ram_coverage(target, count, &remap_steps_left_)) {
    case RamCoverage::ram: break;
    case RamCoverage::not_ram: report(Problem::target_not_ram, where, target, count, Field::target_frames); break;
    case RamCoverage::too_costly:
        report(Problem::too_many, {Subject::altp2m_entry, where.domain, NO_INDEX, where.parent},
               p2m_ranges_ * schema::ALTP2M_MAX_VIEWS, p2m_ranges_, Field::target_frames);
        remap_budget_spent_ = true;
        break;
    }
}

void Validator::check_extra_pages(schema::Domain::Reader domain)
{
    const u32 id = domain.id();
    const auto pages = domain.extra_pages();
    if (!check_count(pages.size(), limits_.max_extra_pages, {Subject::extra_page, id}))
        return;
    SeenIds vcpu_info;
    bool shared_info = false, console = false;
    for (u32 i = 0; i < pages.size() && !stop_; i++) {
        const schema::ExtraPage::Reader page = pages[i];
        const Where where{Subject::extra_page, id, i};
        const schema::ExtraPageRole role = page.role();
        check_enum(role, Field::role, where);
        bool *singleton = role == schema::ExtraPageRole::shared_info ? &shared_info
                          : role == schema::ExtraPageRole::console   ? &console
                                                                     : nullptr;
        if (singleton != nullptr && *singleton)
            report(Problem::duplicate, where, static_cast<u16>(role), page.vcpu());
        if (singleton != nullptr)
            *singleton = true;
        if (role == schema::ExtraPageRole::vcpu_info) {
            // v7: a reader before vcpuInfoMinReaderVersion refuses the domain after the jump.
            if (record_.abi_version() >= 7 && record_.min_reader_version() < schema::VCPU_INFO_MIN_READER_VERSION &&
                !reader_for_vcpu_info_reported_) {
                reader_for_vcpu_info_reported_ = true;
                report(Problem::min_reader_too_low, {Subject::header}, record_.min_reader_version(), id, Field::role);
            }
            if (page.vcpu() >= vcpu_count_)
                report(Problem::bad_vcpu, where, page.vcpu(), vcpu_count_);
            else if (vcpu_info.mark(page.vcpu()))
                report(Problem::duplicate, where, static_cast<u16>(role), page.vcpu());
        }
        const bool mapped = page.guest_frame() != schema::NO_GUEST_FRAME;
        const bool guest_fits = page.guest_frame() < MAX_FRAME;
        if (mapped && !guest_fits)
            report(Problem::range_overflow, where, page.guest_frame(), 1, Field::guest_frames);
        check_kept(page.machine_frame(), 1, where, Field::machine_frames);
        // v1 writers had no way to say "not mapped": their guest frames may be anything.
        if (mapped && guest_fits && written_by_v2_or_later() && p2m_usable_)
            check_extra_page_mapping(page, where);
    }
}

void Validator::check_extra_page_mapping(schema::ExtraPage::Reader page, const Where &where)
{
    // The p2m is the base layer: the page is mapped over the guest's RAM, which stays the
    // guest's, so the range holding it maps that RAM, not the page (docs/abi.md).
    schema::P2mRange::Reader range;
    if (!p2m_index_.find(page.guest_frame(), &range) || !maps_ram(range.type()))
        report(Problem::not_in_p2m, where, page.guest_frame(), 0, Field::guest_frames);
}

void Validator::check_event_channels(schema::Domain::Reader domain)
{
    const u32 id = domain.id();
    const auto channels = domain.event_channels();
    if (!check_count(channels.size(), limits_.max_event_channels, {Subject::event_channel, id}))
        return;
    for (u32 i = 0; i < channels.size() && !stop_; i++) {
        const schema::EventChannel::Reader channel = channels[i];
        const Where where{Subject::event_channel, id, i};
        const u32 port = channel.port();
        if (i > 0 && port == channels[i - 1].port())
            report(Problem::duplicate, where, port);
        else if (i > 0 && port < channels[i - 1].port())
            report(Problem::unsorted, where, port, channels[i - 1].port());
        const schema::EventChannelState state = channel.state();
        check_enum(state, Field::state, where);
        if (state == schema::EventChannelState::free)
            report(Problem::free_entry, where, port);
        if (channel.notify_vcpu() >= vcpu_count_)
            report(Problem::bad_vcpu, where, channel.notify_vcpu(), vcpu_count_);
        const bool has_peer =
            state == schema::EventChannelState::unbound || state == schema::EventChannelState::interdomain;
        if (has_peer && !domain_exists(channel.remote_domain()))
            report(Problem::unknown_domain, where, channel.remote_domain());
        if (schema::is_known(state))
            check_timer_fields(channel, where);
    }
}

void Validator::check_timer_fields(schema::EventChannel::Reader channel, const Where &where)
{
    const u16 state = static_cast<u16>(channel.state());
    if (channel.state() != schema::EventChannelState::timer) {
        if (channel.timer_period_ns() != 0)
            report(Problem::not_applicable, where, channel.timer_period_ns(), state, Field::timer_period);
        if (channel.timer_deadline_tsc() != 0)
            report(Problem::not_applicable, where, channel.timer_deadline_tsc(), state, Field::timer_deadline);
        return;
    }
    // A periodic timer always has a period and its next expiry (which may be overdue).
    if (channel.timer_period_ns() == 0)
        report(Problem::below_minimum, where, 0, 1, Field::timer_period);
    if (channel.timer_deadline_tsc() == 0)
        report(Problem::below_minimum, where, 0, 1, Field::timer_deadline);
    if (channel.remote_domain() != 0)
        report(Problem::not_applicable, where, channel.remote_domain(), state, Field::remote_domain);
    if (channel.remote_port() != 0)
        report(Problem::not_applicable, where, channel.remote_port(), state, Field::remote_port);
    if (channel.virq() != 0)
        report(Problem::not_applicable, where, channel.virq(), state, Field::virq);
}

void Validator::check_log_dirty(schema::Domain::Reader domain, u64 guest_end)
{
    const schema::LogDirty::Reader log_dirty = domain.log_dirty();
    const Where where{Subject::log_dirty, domain.id()};
    check_enum(log_dirty.mode(), Field::mode, where);
    if (log_dirty.mode() != schema::LogDirtyMode::enabled)
        return;
    const schema::FrameRange::Reader bitmap = log_dirty.bitmap();
    if (bitmap.frame_count() == 0) {
        report(Problem::missing, where);
        return;
    }
    // One bit per guest frame, up to the larger of what it claims and what the p2m maps.
    const u64 covered = log_dirty.guest_frames() > guest_end ? log_dirty.guest_frames() : guest_end;
    const u64 needed = covered / BITMAP_BITS_PER_FRAME + (covered % BITMAP_BITS_PER_FRAME != 0 ? 1 : 0);
    if (bitmap.frame_count() < needed)
        report(Problem::too_small, where, bitmap.frame_count(), needed);
    check_kept(bitmap.first_frame(), bitmap.frame_count(), where);
}

void Validator::check_iommu()
{
    const auto units = record_.iommu();
    if (!check_count(units.size(), limits_.max_iommu_units, {Subject::iommu_unit}))
        return;
    for (u32 i = 0; i < units.size() && !stop_; i++)
        check_iommu_unit(units[i], i);
}

void Validator::check_iommu_unit(schema::IommuUnit::Reader unit, u32 index)
{
    const Where where{Subject::iommu_unit, schema::NO_DOMAIN, index};
    check_enum(unit.kind(), Field::kind, where);
    const schema::FrameRange::Reader root = unit.root_table();
    if (root.frame_count() == 0)
        report(Problem::missing, where);
    else
        check_kept(root.first_frame(), root.frame_count(), where);

    const auto devices = unit.devices();
    if (check_count(devices.size(), limits_.max_iommu_devices,
                    {Subject::iommu_device, schema::NO_DOMAIN, NO_INDEX, index})) {
        for (u32 j = 0; j < devices.size() && !stop_; j++) {
            const schema::IommuDevice::Reader device = devices[j];
            const Where at{Subject::iommu_device, device.domain_id(), j, index};
            if (j > 0 && device.requester_id() == devices[j - 1].requester_id())
                report(Problem::duplicate, at, device.requester_id());
            else if (j > 0 && device.requester_id() < devices[j - 1].requester_id())
                report(Problem::unsorted, at, device.requester_id(), devices[j - 1].requester_id());
            if (domains_usable_ && !domain_exists(device.domain_id()))
                report(Problem::unknown_domain, at, device.domain_id());
            if (device.page_table_root() == 0)
                continue;
            if (device.page_table_levels() == 0 || device.page_table_levels() > 6)
                report(Problem::unknown_value, at, device.page_table_levels(), 0, Field::levels);
            check_kept(device.page_table_root(), 1, at);
        }
    }

    const auto frames = unit.table_frames();
    if (!check_count(frames.size(), limits_.max_iommu_frame_ranges,
                     {Subject::iommu_frames, schema::NO_DOMAIN, NO_INDEX, index}))
        return;
    for (u32 j = 0; j < frames.size() && !stop_; j++) {
        const schema::IommuFrames::Reader range = frames[j];
        const Where at{Subject::iommu_frames, range.domain_id(), j, index};
        check_enum(range.kind(), Field::kind, at);
        const bool owned = range.kind() == schema::IommuFrameKind::page_table;
        if (domains_usable_ && (owned || range.domain_id() != schema::NO_DOMAIN) && !domain_exists(range.domain_id()))
            report(Problem::unknown_domain, at, range.domain_id());
        if (range.frame_count() == 0)
            report(Problem::empty_range, at, range.first_frame());
        else
            check_kept(range.first_frame(), range.frame_count(), at);
    }
}

} // namespace handover::validation
