// SPDX-License-Identifier: MIT
// Semantic validation of a handover record: the validator, shared by validate*.cpp.
#pragma once
#include "handover/range_set.hpp"
#include "handover/record_reader.hpp"
#include "handover/validate.hpp"

namespace handover::validation {

using schema::PreservedKind;

// Bitmap of small ids (vCPUs, per-vCPU pages); the caller refuses ids past CAPACITY.
class SeenIds final {
public:
    static constexpr u32 CAPACITY = 1024;
    // True if `id` was already marked.
    [[nodiscard]] bool mark(u32 id)
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

// RAM as the p2m knows it: populated guest memory, whatever its rights or tracking.
constexpr bool maps_ram(schema::P2mType type)
{
    return type == schema::P2mType::ram_rw || type == schema::P2mType::ram_ro || type == schema::P2mType::log_dirty;
}

// What the p2m holds at a span of guest frames that a remap shows elsewhere.
enum class RamCoverage : u8 {
    ram, // every frame is RAM
    not_ram, // some frame is a hole, MMIO or beyond the p2m
    too_costly, // the span crosses more ranges than the caller allowed: not decided
};

// The chunk lists of the p2m that check_p2m() walked, kept so that guest frames (of
// extra pages, of remap targets) can be looked up afterwards without following, and
// paying for, the lists again. Lookups are a binary search; the caller has checked the
// order.
class P2mIndex final {
public:
    static constexpr u32 MAX_LISTS = 16;

    void reset() { list_count_ = 0; }

    [[nodiscard]] bool add(wire::StructListReader<schema::P2mRange> list)
    {
        if (list.size() == 0)
            return true;
        if (list_count_ == MAX_LISTS)
            return false;
        lists_[list_count_] = list;
        list_first_[list_count_++] = list[0].guest_frame();
        return true;
    }

    // The range that holds guest frame `frame`; false if none does.
    [[nodiscard]] bool find(u64 frame, schema::P2mRange::Reader *found) const
    {
        Position at;
        if (!locate(frame, &at))
            return false;
        *found = lists_[at.list][at.index];
        return true;
    }

    // Whether [first, first + count) (a span that fits below MAX_FRAME) is RAM, with
    // abutting ranges covering together, as the list holds them. Each range stepped onto
    // after the first costs one of *steps_left: a span can cross a great many ranges, and
    // many remaps can name the same span, so the caller bounds the total work.
    RamCoverage ram_coverage(u64 first, u64 count, u64 *steps_left) const
    {
        Position at;
        if (!locate(first, &at))
            return RamCoverage::not_ram;
        schema::P2mRange::Reader range = lists_[at.list][at.index];
        const u64 end = first + count;
        u64 covered_to = range.guest_frame() + range.frame_count();
        while (maps_ram(range.type()) && covered_to < end) {
            if (!advance(&at))
                return RamCoverage::not_ram;
            if (*steps_left == 0)
                return RamCoverage::too_costly;
            --*steps_left;
            range = lists_[at.list][at.index];
            if (range.guest_frame() != covered_to)
                return RamCoverage::not_ram;
            covered_to += range.frame_count();
        }
        return maps_ram(range.type()) ? RamCoverage::ram : RamCoverage::not_ram;
    }

private:
    using Position = ChunkPosition;

    // The last range starting at or before `frame`; true if it holds the frame.
    [[nodiscard]] bool locate(u64 frame, Position *at) const
    {
        const u32 lists = count_at_or_before(list_count_, frame, [&](u32 i) { return list_first_[i]; });
        if (lists == 0)
            return false;
        const wire::StructListReader<schema::P2mRange> &list = lists_[lists - 1];
        *at = {lists - 1, count_at_or_before(list.size(), frame, [&](u32 i) { return list[i].guest_frame(); }) - 1};
        const schema::P2mRange::Reader range = list[at->index];
        return frame - range.guest_frame() < range.frame_count();
    }

    // The next range in guest-frame order (lists in the index are never empty).
    [[nodiscard]] bool advance(Position *at) const { return advance_in_chunks(lists_, list_count_, at); }

    wire::StructListReader<schema::P2mRange> lists_[MAX_LISTS];
    u64 list_first_[MAX_LISTS] = {};
    u32 list_count_ = 0;
};

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
        if (limits_.max_chunks > P2mIndex::MAX_LISTS)
            limits_.max_chunks = P2mIndex::MAX_LISTS;
    }

    u64 run();

private:
    struct Where {
        Subject subject;
        u32 domain = schema::NO_DOMAIN;
        u64 index = NO_INDEX;
        u64 parent = NO_INDEX;
    };

    // Always false, so that checks can write `ok = report(...)`. Cold: valid records,
    // the case that must be fast, never get here.
    [[gnu::cold, gnu::noinline]] bool report(Problem problem, const Where &where, u64 a = 0, u64 b = 0,
                                             Field field = Field::none)
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

    [[nodiscard]] bool check_count(u64 count, u64 limit, const Where &where, Field field = Field::none)
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

    template <typename E>
    void check_enum(E value, Field field, const Where &where)
    {
        if (!schema::is_known(value))
            report(Problem::unknown_value, where, static_cast<u16>(value), 0, field);
    }

    // Rules about the meaning of v1 fields that v2 made precise apply to records of v2
    // and later writers only: older records are read as they always were.
    bool written_by_v2_or_later() const { return record_.abi_version() >= 2; }

    // A TSC the writer recorded (0: not known, as in records of v1 writers) lies between
    // the hypervisor's time origin and the record's creation.
    void check_recorded_tsc(u64 tsc, const Where &where, Field field)
    {
        const u64 origin = record_.time_origin_tsc(), created = record_.created_tsc();
        if (tsc != 0 && tsc < origin)
            report(Problem::before_time_origin, where, tsc, origin, field);
        if (tsc > created)
            report(Problem::after_creation, where, tsc, created, field);
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
        if (__builtin_expect(!kept_fine(first, count), 0))
            report_kept(first, count, where, field);
    }

    bool kept_fine(u64 first, u64 count)
    {
        return frame_range_fits(first, count) && (!ram_usable_ || ram_.covers(first, count)) &&
               !in_bootmem(first, count) && (!preserved_usable_ || preserved_.covers(first, count));
    }

    [[gnu::cold, gnu::noinline]] void report_kept(u64 first, u64 count, const Where &where, Field field)
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

    void check_header();

    void check_ram();

    void check_bootmem();

    void check_domain_list();

    static bool owned_by_a_domain(PreservedKind kind)
    {
        return kind == PreservedKind::guest_ram || kind == PreservedKind::extra_page ||
               kind == PreservedKind::nested_page_table || kind == PreservedKind::log_dirty_bitmap;
    }

    bool owner_fine(PreservedKind kind, u32 owner)
    {
        if (!domains_usable_ || (!owned_by_a_domain(kind) && owner == schema::NO_DOMAIN) ||
            (have_last_owner_ && owner == last_owner_))
            return true;
        if (!domain_exists(owner))
            return false;
        last_owner_ = owner; // ranges come in runs of one owner: skip the search next time
        have_last_owner_ = true;
        return true;
    }

    void check_preserved();

    // v5: the kit and the preserved image copies lie in preserved ranges of their kinds,
    // and a record with a kit needs a v5 reader.
    void check_transaction();
    bool in_kind(PreservedKind kind, u64 first, u64 count) const
    {
        for (usize i = 0; i < transaction_range_count_; i++)
            if (transaction_ranges_[i].kind == kind && first >= transaction_ranges_[i].first &&
                first + count <= transaction_ranges_[i].end)
                return true;
        return false;
    }

    // Reports what is wrong with a preserved range; false if its frames are unusable.
    [[gnu::cold, gnu::noinline]] bool explain_preserved_range(schema::PreservedRange::Reader range, const Where &where,
                                                              SortCursor *cursor);

    void check_domain(schema::Domain::Reader domain, u32 index);

    void check_guest_kind(schema::Domain::Reader domain, const Where &where);
    void check_vcpus(schema::Domain::Reader domain);

    void check_cpu(bool bad, CpuCheck check, u64 value, const Where &where);

    void check_cpu_state(schema::VcpuState::Reader vcpu, schema::PendingEvent::Reader event, const Where &where);

    struct P2mTotals {
        SortCursor cursor;
        u64 guest_end = 0;
        u64 ram_frames = 0;
        bool searchable = true; // sorted, disjoint, types known: p2m_index_ answers lookups
    };

    // Machine frames of a range that maps no RAM: passed-through MMIO names real frames
    // (not necessarily RAM, so not kept); an emulated MMIO range owns none at all.
    static bool device_frames_fine(schema::P2mType type, u64 machine, u64 count)
    {
        if (type == schema::P2mType::mmio)
            return frame_range_fits(machine, count);
        return type != schema::P2mType::mmio_emulated || machine == 0;
    }

    static void account(P2mTotals *totals, u64 guest, u64 count, schema::P2mType type)
    {
        totals->guest_end = guest + count > totals->guest_end ? guest + count : totals->guest_end;
        if (maps_ram(type) && add_overflows(totals->ram_frames, count, &totals->ram_frames))
            totals->ram_frames = ~u64{0};
    }

    void check_p2m(schema::Domain::Reader domain, u64 *guest_end);

    // True, with the range accounted for, if nothing is wrong with it.
    bool p2m_range_fine(schema::P2mRange::Reader range, P2mTotals *totals)
    {
        const u64 guest = range.guest_frame(), count = range.frame_count();
        const schema::P2mType type = range.type();
        if (!frame_range_fits(guest, count) || (totals->cursor.have && guest < totals->cursor.end) ||
            !schema::is_known(type) || !schema::is_known(range.access()))
            return false;
        if (maps_ram(type) ? !kept_fine(range.machine_frame(), count)
                           : !device_frames_fine(type, range.machine_frame(), count))
            return false;
        totals->cursor = {true, guest, guest + count};
        account(totals, guest, count, type);
        return true;
    }

    // Reports everything wrong with a range p2m_range_fine() refused, and accounts for it.
    [[gnu::cold, gnu::noinline]] void explain_p2m_range(schema::P2mRange::Reader range, const Where &where,
                                                        P2mTotals *totals);

    void check_extra_pages(schema::Domain::Reader domain);

    // v2: a mapped extra page lies over guest RAM of the domain's p2m.
    void check_extra_page_mapping(schema::ExtraPage::Reader page, const Where &where);

    // v3: which view indices (1..altp2mMaxViews) the domain's views have, as bits, for
    // the vCPUs' altp2mView; nothing is reported here (check_altp2m() does that).
    void note_altp2m_views(schema::Domain::Reader domain);

    // v3: a vCPU runs in the host p2m (0) or in a view its domain has.
    void check_vcpu_view(schema::VcpuState::Reader vcpu, const Where &where);

    // v3: the views (index, order, count), their entries, and the minReaderVersion they need.
    void check_altp2m(u32 domain);

    void check_altp2m_entries(schema::Altp2mView::Reader view, u32 domain);

    // v3: a remap shows host-view frames that are RAM.
    void check_remap_target(u64 target, u64 count, const Where &where);

    // v2: a timer port has a period and a deadline and no peer; other ports neither.
    void check_timer_fields(schema::EventChannel::Reader channel, const Where &where);

    void check_event_channels(schema::Domain::Reader domain);

    void check_log_dirty(schema::Domain::Reader domain, u64 guest_end);

    void check_iommu();

    void check_iommu_unit(schema::IommuUnit::Reader unit, u32 index);

    // One list of phase stamps: known phases in phase order, TSCs that never go back, the
    // first not before the time origin. Stamps of the next image's phases are refused in
    // `phases` (this record's own update, which ends when the record is written).
    void check_stamps(wire::StructListReader<schema::PhaseStamp> stamps, Subject subject);

    void check_phases();

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
    P2mIndex p2m_index_; // of the domain being checked
    bool p2m_usable_ = false;
    u64 p2m_ranges_ = 0; // of the domain being checked
    // v3, of the domain being checked: its views (followed once), the indices they have
    // (bit i: view i), whether that mask is complete, and what remap targets may still cost.
    wire::StructListReader<schema::Altp2mView> altp2m_views_;
    u32 view_mask_ = 0;
    bool view_mask_complete_ = false;
    u64 remap_steps_left_ = 0;
    bool remap_budget_spent_ = false;
    bool reader_for_views_reported_ = false; // min_reader_too_low is said once per record
    bool reader_for_pc_reported_ = false; // likewise for PC guests
    bool reader_for_smp_reported_ = false; // likewise for domains of more than one vCPU
    bool reader_for_vcpu_info_reported_ = false; // likewise for per-vCPU info pages (v7)
    SortedRangeSet<schema::FrameRange, 1> ram_;
    bool ram_usable_ = false;
    u64 bootmem_first_ = 0;
    u64 bootmem_count_ = 0; // 0: no usable bootmem region
    PreservedSet preserved_;
    // The few preserved ranges of kinds hypervisorImage and rollbackKit, kept from the one
    // walk of the preserved list.
    struct KindRange {
        PreservedKind kind;
        u64 first, end;
    };
    static constexpr usize MAX_TRANSACTION_RANGES = 8;
    KindRange transaction_ranges_[MAX_TRANSACTION_RANGES] = {};
    usize transaction_range_count_ = 0;
    bool preserved_usable_ = false;
    u32 last_owner_ = 0; // a domain known to exist, once have_last_owner_
    bool have_last_owner_ = false;
};

} // namespace handover::validation
