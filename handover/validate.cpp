// Semantic validation of a handover record.
#include "handover/validate.hpp"
#include "handover/range_set.hpp"
#include "handover/record_reader.hpp"

namespace handover {

namespace {

using schema::PreservedKind;

// Bitmap of small ids (vCPUs, per-vCPU pages); the caller refuses ids past CAPACITY.
class SeenIds final {
public:
    static constexpr u32 CAPACITY = 1024;
    // True if `id` was already marked.
    bool mark(u32 id)
    {
        u64 &slot = bits_[id / 64];
        const u64 bit = u64{1} << (id % 64);
        const bool seen = (slot & bit) != 0;
        slot |= bit;
        return seen;
    }

private:
    u64 bits_[CAPACITY / 64] = {};
};

// Where the last element of a list sorted by first frame was.
struct SortCursor {
    bool have = false;
    u64 first = 0;
    u64 end = 0;
};

constexpr u64 CR0_PE = 1ul << 0, CR0_NW = 1ul << 29, CR0_CD = 1ul << 30, CR0_PG = 1ul << 31;
constexpr u64 CR4_PAE = 1ul << 5;
constexpr u64 EFER_LME = 1ul << 8;
constexpr u64 EFER_RESERVED = 0xffffffff000002feul; // bits 1-7 and 9, and the upper half
constexpr u64 BITMAP_BITS_PER_FRAME = PAGE_SIZE * 8;

// As many preserved chunks as ValidationLimits allows at most (16 Mi ranges by default).
using PreservedSet = SortedRangeSet<schema::PreservedRange, 16>;

class Validator final {
public:
    Validator(wire::MessageReader &message, schema::Handover::Reader record, const ValidationLimits &limits,
              FindingSink sink, void *context)
        : message_(message), record_(record), limits_(limits), sink_(sink), context_(context)
    {
        if (limits_.max_chunks > PreservedSet::MAX_LISTS)
            limits_.max_chunks = PreservedSet::MAX_LISTS;
        if (limits_.max_vcpus > SeenIds::CAPACITY)
            limits_.max_vcpus = SeenIds::CAPACITY;
    }

    u64 run()
    {
        if (!message_.ok()) {
            report_structure();
            return findings_;
        }
        // Each list is followed once here and kept: following it again would charge again.
        domains_ = record_.domains();
        check_header();
        check_ram();
        check_bootmem();
        check_domain_list();
        check_preserved();
        if (domains_usable_)
            for (u32 i = 0; i < domains_.size() && !stop_; i++)
                check_domain(domains_[i], i);
        check_iommu();
        check_phases();
        if (!message_.ok())
            report_structure();
        return findings_;
    }

private:
    struct Where {
        Subject subject;
        u32 domain = schema::NO_DOMAIN;
        u64 index = NO_INDEX;
        u64 parent = NO_INDEX;
    };

    // Always false, so that checks can write `ok = report(...)`.
    bool report(Problem problem, const Where &where, u64 a = 0, u64 b = 0, Field field = Field::none)
    {
        findings_++;
        if (!stop_ && !sink_(context_, {problem, where.subject, field, where.domain, where.parent, where.index, a, b}))
            stop_ = true;
        return false;
    }

    void report_structure()
    {
        report(Problem::structure, {Subject::header}, static_cast<u64>(message_.error()), message_.error_offset());
    }

    bool check_count(u64 count, u64 limit, const Where &where, Field field = Field::none)
    {
        return count <= limit || report(Problem::too_many, where, count, limit, field);
    }

    void check_text(wire::TextReader text, Field field, const Where &where, bool required)
    {
        if (required && text.size == 0)
            report(Problem::text_missing, where, 0, 0, field);
        else if (text.size > limits_.max_text)
            report(Problem::text_too_long, where, text.size, limits_.max_text, field);
    }

    template <typename E> void check_enum(E value, Field field, const Where &where)
    {
        if (!schema::is_known(value))
            report(Problem::unknown_value, where, static_cast<u16>(value), 0, field);
    }

    // One element of a list sorted by first frame: non-empty, in range, in order, disjoint.
    bool check_sorted_range(u64 first, u64 count, const Where &where, SortCursor *cursor, Field field = Field::none)
    {
        if (count == 0)
            return report(Problem::empty_range, where, first, 0, field);
        if (!frame_range_fits(first, count))
            return report(Problem::range_overflow, where, first, count, field);
        bool ok = true;
        if (cursor->have && first < cursor->first)
            ok = report(Problem::unsorted, where, first, cursor->first, field);
        else if (cursor->have && first < cursor->end)
            ok = report(Problem::overlap, where, first, cursor->end, field);
        *cursor = {true, first, first + count};
        return ok;
    }

    bool in_bootmem(u64 first, u64 count) const
    {
        return bootmem_count_ != 0 && first < bootmem_first_ + bootmem_count_ && bootmem_first_ < first + count;
    }

    // Frames the next image keeps using: inside RAM, outside bootmem, preserved.
    void check_kept(u64 first, u64 count, const Where &where, Field field = Field::none)
    {
        if (!frame_range_fits(first, count)) {
            report(Problem::range_overflow, where, first, count, field);
            return;
        }
        if (ram_usable_ && !ram_.covers(first, count))
            report(Problem::outside_ram, where, first, count, field);
        if (in_bootmem(first, count))
            report(Problem::in_bootmem, where, first, count, field);
        if (preserved_usable_ && !preserved_.covers(first, count))
            report(Problem::not_preserved, where, first, count, field);
    }

    bool domain_exists(u32 id) const
    {
        u32 low = 0, high = domains_.size();
        while (low < high) {
            const u32 middle = low + (high - low) / 2;
            const u32 here = domains_[middle].id();
            if (here == id)
                return true;
            if (here < id)
                low = middle + 1;
            else
                high = middle;
        }
        return false;
    }

    void check_header()
    {
        const Where where{Subject::header};
        switch (check_record_header(record_)) {
        case RecordStatus::ok:
        case RecordStatus::bad_structure: break;
        case RecordStatus::bad_magic: report(Problem::bad_magic, where, record_.magic(), schema::HANDOVER_MAGIC); break;
        case RecordStatus::version_missing: report(Problem::version_missing, where); break;
        case RecordStatus::versions_inconsistent:
            report(Problem::versions_inconsistent, where, record_.abi_version(), record_.min_reader_version());
            break;
        case RecordStatus::version_too_new:
            report(Problem::version_too_new, where, record_.min_reader_version(), schema::HANDOVER_ABI_VERSION);
            break;
        }
        check_text(record_.writer_build_id(), Field::writer_build_id, where, true);
        check_text(record_.writer_version(), Field::writer_version, where, true);
        if (record_.tsc_khz() == 0)
            report(Problem::tsc_frequency_missing, where);
    }

    void check_ram()
    {
        const auto ram = record_.ram();
        if (ram.size() == 0) {
            report(Problem::missing, {Subject::ram});
            return;
        }
        if (!check_count(ram.size(), limits_.max_ram_ranges, {Subject::ram}))
            return;
        bool ok = true;
        SortCursor cursor;
        for (u32 i = 0; i < ram.size(); i++)
            ok &= check_sorted_range(ram[i].first_frame(), ram[i].frame_count(),
                                     {Subject::ram, schema::NO_DOMAIN, i}, &cursor);
        ram_usable_ = ok && ram_.add(ram);
    }

    void check_bootmem()
    {
        const auto bootmem = record_.bootmem();
        const Where where{Subject::bootmem};
        if (bootmem.frame_count() == 0) {
            report(Problem::missing, where);
            return;
        }
        if (!frame_range_fits(bootmem.first_frame(), bootmem.frame_count())) {
            report(Problem::range_overflow, where, bootmem.first_frame(), bootmem.frame_count());
            return;
        }
        if (ram_usable_ && !ram_.covers(bootmem.first_frame(), bootmem.frame_count()))
            report(Problem::outside_ram, where, bootmem.first_frame(), bootmem.frame_count());
        bootmem_first_ = bootmem.first_frame();
        bootmem_count_ = bootmem.frame_count();
    }

    void check_domain_list()
    {
        if (!check_count(domains_.size(), limits_.max_domains, {Subject::domain}))
            return;
        bool ok = true;
        for (u32 i = 0; i < domains_.size(); i++) {
            const u32 id = domains_[i].id();
            const Where where{Subject::domain, id, i};
            if (id == schema::NO_DOMAIN)
                ok = report(Problem::reserved_id, where, id);
            const u32 previous = i > 0 ? domains_[i - 1].id() : 0;
            if (i > 0 && id == previous)
                ok = report(Problem::duplicate, where, id);
            else if (i > 0 && id < previous)
                ok = report(Problem::unsorted, where, id, previous);
        }
        domains_usable_ = ok;
    }

    void check_preserved()
    {
        const PreservedReader preserved = preserved_of(record_);
        if (!check_count(preserved.chunk_count(), limits_.max_chunks, {Subject::preserved}, Field::chunks))
            return;
        bool ok = true, holds_record = false, complete = true;
        SortCursor cursor;
        preserved.for_each([&](schema::PreservedRange::Reader range, u64 index) {
            if (index >= limits_.max_ranges) {
                ok = complete = report(Problem::too_many, {Subject::preserved}, index + 1, limits_.max_ranges);
                return false;
            }
            const Where where{Subject::preserved, schema::NO_DOMAIN, index};
            const u64 first = range.first_frame(), count = range.frame_count();
            const bool valid = check_sorted_range(first, count, where, &cursor);
            ok &= valid;
            const PreservedKind kind = range.kind();
            check_enum(kind, Field::kind, where);
            holds_record |= kind == PreservedKind::handover_record;
            const bool owned = kind == PreservedKind::guest_ram || kind == PreservedKind::extra_page ||
                               kind == PreservedKind::nested_page_table || kind == PreservedKind::log_dirty_bitmap;
            const u32 owner = range.domain_id();
            if (domains_usable_ && (owned || owner != schema::NO_DOMAIN) && !domain_exists(owner))
                report(Problem::unknown_domain, where, owner);
            if (valid && ram_usable_ && !ram_.covers(first, count))
                report(Problem::outside_ram, where, first, count);
            if (valid && in_bootmem(first, count))
                report(Problem::in_bootmem, where, first, count);
            complete = !stop_;
            return complete;
        });
        if (complete && !holds_record)
            report(Problem::missing, {Subject::preserved}, static_cast<u64>(PreservedKind::handover_record));
        for (u32 c = 0; ok && c < preserved.chunk_count(); c++)
            ok = preserved_.add(preserved.chunk(c));
        preserved_usable_ = ok;
    }

    void check_domain(schema::Domain::Reader domain, u32 index)
    {
        const u32 id = domain.id();
        const Where where{Subject::domain, id, index};
        check_text(domain.name(), Field::name, where, false);
        check_enum(domain.state(), Field::state, where);
        check_vcpus(domain);
        u64 guest_end = 0;
        check_p2m(domain, &guest_end);
        check_extra_pages(domain);
        check_event_channels(domain);
        check_log_dirty(domain, guest_end);
        if (domain.nested_page_table_root() != 0)
            check_kept(domain.nested_page_table_root(), 1, {Subject::nested_page_table, id});
    }

    void check_vcpus(schema::Domain::Reader domain)
    {
        const u32 id = domain.id();
        const auto vcpus = domain.vcpus();
        vcpu_count_ = 0;
        if (!check_count(vcpus.size(), limits_.max_vcpus, {Subject::vcpu, id}))
            return;
        vcpu_count_ = vcpus.size();
        if (domain.state() == schema::DomainState::running && vcpus.size() == 0)
            report(Problem::missing, {Subject::vcpu, id});
        SeenIds seen;
        for (u32 i = 0; i < vcpus.size() && !stop_; i++) {
            const schema::VcpuState::Reader vcpu = vcpus[i];
            const Where where{Subject::vcpu, id, i};
            if (vcpu.id() >= vcpus.size())
                report(Problem::bad_vcpu, where, vcpu.id(), vcpus.size());
            else if (seen.mark(vcpu.id()))
                report(Problem::duplicate, where, vcpu.id());
            check_enum(vcpu.run_state(), Field::run_state, where);
            // A vCPU that never ran may hold all zeroes; any other must be enterable.
            if (vcpu.run_state() != schema::VcpuRunState::down)
                check_cpu_state(vcpu, where);
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

    void check_cpu(bool bad, CpuCheck check, u64 value, const Where &where)
    {
        if (bad)
            report(Problem::invalid_cpu_state, where, static_cast<u64>(check), value);
    }

    void check_cpu_state(schema::VcpuState::Reader vcpu, const Where &where)
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

        const schema::PendingEvent::Reader event = vcpu.pending_event();
        check_enum(event.kind(), Field::event_kind, where);
        check_cpu(event.kind() == schema::EventKind::exception && event.vector() > 31, CpuCheck::exception_vector,
                  event.vector(), where);
        check_cpu(event.kind() == schema::EventKind::nmi && event.vector() != 2, CpuCheck::nmi_vector, event.vector(),
                  where);
    }

    void check_p2m(schema::Domain::Reader domain, u64 *guest_end)
    {
        const u32 id = domain.id();
        const P2mReader p2m = p2m_of(domain);
        if (!check_count(p2m.chunk_count(), limits_.max_chunks, {Subject::p2m, id}, Field::chunks))
            return;
        SortCursor cursor;
        u64 ram_frames = 0;
        p2m.for_each([&](schema::P2mRange::Reader range, u64 index) {
            if (index >= limits_.max_ranges) {
                report(Problem::too_many, {Subject::p2m, id}, index + 1, limits_.max_ranges);
                return false;
            }
            const Where where{Subject::p2m, id, index};
            const u64 guest = range.guest_frame(), count = range.frame_count();
            const bool valid = check_sorted_range(guest, count, where, &cursor, Field::guest_frames);
            const schema::P2mType type = range.type();
            check_enum(type, Field::type, where);
            check_enum(range.access(), Field::access, where);
            if (!valid)
                return !stop_;
            *guest_end = guest + count > *guest_end ? guest + count : *guest_end;
            if (type == schema::P2mType::ram_rw || type == schema::P2mType::ram_ro ||
                type == schema::P2mType::log_dirty) {
                check_kept(range.machine_frame(), count, where, Field::machine_frames);
                if (add_overflows(ram_frames, count, &ram_frames))
                    ram_frames = ~u64{0};
            } else if (type == schema::P2mType::mmio && !frame_range_fits(range.machine_frame(), count)) {
                report(Problem::range_overflow, where, range.machine_frame(), count, Field::machine_frames);
            }
            return !stop_;
        });
        if (domain.max_frames() != 0 && ram_frames > domain.max_frames())
            report(Problem::over_limit, {Subject::domain, id}, ram_frames, domain.max_frames());
    }

    void check_extra_pages(schema::Domain::Reader domain)
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
                if (page.vcpu() >= vcpu_count_)
                    report(Problem::bad_vcpu, where, page.vcpu(), vcpu_count_);
                else if (vcpu_info.mark(page.vcpu()))
                    report(Problem::duplicate, where, static_cast<u16>(role), page.vcpu());
            }
            if (page.guest_frame() >= MAX_FRAME)
                report(Problem::range_overflow, where, page.guest_frame(), 1, Field::guest_frames);
            check_kept(page.machine_frame(), 1, where, Field::machine_frames);
        }
    }

    void check_event_channels(schema::Domain::Reader domain)
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
        }
    }

    void check_log_dirty(schema::Domain::Reader domain, u64 guest_end)
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

    void check_iommu()
    {
        const auto units = record_.iommu();
        if (!check_count(units.size(), limits_.max_iommu_units, {Subject::iommu_unit}))
            return;
        for (u32 i = 0; i < units.size() && !stop_; i++)
            check_iommu_unit(units[i], i);
    }

    void check_iommu_unit(schema::IommuUnit::Reader unit, u32 index)
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
            if (domains_usable_ && (owned || range.domain_id() != schema::NO_DOMAIN) &&
                !domain_exists(range.domain_id()))
                report(Problem::unknown_domain, at, range.domain_id());
            if (range.frame_count() == 0)
                report(Problem::empty_range, at, range.first_frame());
            else
                check_kept(range.first_frame(), range.frame_count(), at);
        }
    }

    void check_phases()
    {
        const auto phases = record_.phases();
        if (!check_count(phases.size(), limits_.max_phases, {Subject::phase}))
            return;
        for (u32 i = 0; i < phases.size(); i++) {
            const Where where{Subject::phase, schema::NO_DOMAIN, i};
            check_enum(phases[i].phase(), Field::phase, where);
            if (i == 0)
                continue;
            const u16 phase = static_cast<u16>(phases[i].phase()), previous = static_cast<u16>(phases[i - 1].phase());
            if (phase <= previous)
                report(Problem::out_of_order, where, phase, previous);
            if (phases[i].tsc() < phases[i - 1].tsc())
                report(Problem::time_backwards, where, phases[i].tsc(), phases[i - 1].tsc());
        }
    }

    wire::MessageReader &message_;
    schema::Handover::Reader record_;
    ValidationLimits limits_;
    FindingSink sink_;
    void *context_;
    u64 findings_ = 0;
    bool stop_ = false;

    wire::StructListReader<schema::Domain> domains_;
    bool domains_usable_ = false;
    u32 vcpu_count_ = 0; // of the domain being checked
    SortedRangeSet<schema::FrameRange, 1> ram_;
    bool ram_usable_ = false;
    u64 bootmem_first_ = 0;
    u64 bootmem_count_ = 0; // 0: no usable bootmem region
    PreservedSet preserved_;
    bool preserved_usable_ = false;
};

} // namespace

u64 validate_record(wire::MessageReader &message, schema::Handover::Reader record, const ValidationLimits &limits,
                    FindingSink sink, void *context)
{
    Validator validator(message, record, limits, sink, context);
    return validator.run();
}

} // namespace handover
