// SPDX-License-Identifier: MIT
// Semantic validation of a handover record: the record as a whole.
#include "handover/validator.hpp"

namespace handover {

namespace validation {

u64 Validator::run()
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
    check_transaction();
    if (!message_.ok())
        report_structure();
    return findings_;
}

void Validator::check_header()
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
    // The clock the next image keeps starts before the record was written.
    if (record_.time_origin_tsc() > record_.created_tsc())
        report(Problem::after_creation, where, record_.time_origin_tsc(), record_.created_tsc(), Field::time_origin);
    // v2 writers count updates, this one included; v1 records leave the count 0 (unknown).
    if (written_by_v2_or_later() && record_.update_count() == 0)
        report(Problem::below_minimum, where, 0, 1, Field::update_count);
}

void Validator::check_ram()
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
        ok &= check_sorted_range(ram[i].first_frame(), ram[i].frame_count(), {Subject::ram, schema::NO_DOMAIN, i},
                                 &cursor);
    ram_usable_ = ok && ram_.add(ram);
}

void Validator::check_bootmem()
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

void Validator::check_domain_list()
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

void Validator::check_preserved()
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
        const u64 first = range.first_frame(), count = range.frame_count();
        const PreservedKind kind = range.kind();
        holds_record |= kind == PreservedKind::handover_record;
        if ((kind == PreservedKind::hypervisor_image || kind == PreservedKind::rollback_kit) &&
            transaction_range_count_ < MAX_TRANSACTION_RANGES)
            transaction_ranges_[transaction_range_count_++] = {kind, first, first + count};
        const bool fine = frame_range_fits(first, count) && (!cursor.have || first >= cursor.end) &&
                          schema::is_known(kind) && owner_fine(kind, range.domain_id()) &&
                          (!ram_usable_ || ram_.covers(first, count)) && !in_bootmem(first, count);
        if (__builtin_expect(fine, 1))
            cursor = {true, first, first + count};
        else
            ok &= explain_preserved_range(range, {Subject::preserved, schema::NO_DOMAIN, index}, &cursor);
        complete = !stop_;
        return complete;
    });
    if (complete && !holds_record)
        report(Problem::missing, {Subject::preserved}, static_cast<u64>(PreservedKind::handover_record));
    for (u32 c = 0; ok && c < preserved.chunk_count(); c++)
        ok = preserved_.add(preserved.chunk(c));
    preserved_usable_ = ok;
}

// Reports what is wrong with a preserved range; false if its frames are unusable.
bool Validator::explain_preserved_range(schema::PreservedRange::Reader range, const Where &where, SortCursor *cursor)
{
    const u64 first = range.first_frame(), count = range.frame_count();
    const bool valid = check_sorted_range(first, count, where, cursor);
    const PreservedKind kind = range.kind();
    check_enum(kind, Field::kind, where);
    const u32 owner = range.domain_id();
    if (domains_usable_ && (owned_by_a_domain(kind) || owner != schema::NO_DOMAIN) && !domain_exists(owner))
        report(Problem::unknown_domain, where, owner);
    if (valid && ram_usable_ && !ram_.covers(first, count))
        report(Problem::outside_ram, where, first, count);
    if (valid && in_bootmem(first, count))
        report(Problem::in_bootmem, where, first, count);
    return valid;
}

void Validator::check_stamps(wire::StructListReader<schema::PhaseStamp> stamps, Subject subject)
{
    if (!check_count(stamps.size(), limits_.max_phases, {subject}))
        return;
    for (u32 i = 0; i < stamps.size() && !stop_; i++) {
        const Where where{subject, schema::NO_DOMAIN, i};
        const schema::Phase phase = stamps[i].phase();
        check_enum(phase, Field::phase, where);
        // The next image stamps these after it read the record: they cannot be in its update.
        if (subject == Subject::phase && schema::is_known(phase) && phase > schema::Phase::serialized)
            report(Problem::not_applicable, where, static_cast<u16>(phase), 0, Field::phase);
        if (i == 0) {
            const u64 origin = record_.time_origin_tsc();
            if (stamps[0].tsc() < origin)
                report(Problem::before_time_origin, where, stamps[0].tsc(), origin);
            continue;
        }
        const u16 raw = static_cast<u16>(phase), previous = static_cast<u16>(stamps[i - 1].phase());
        if (raw <= previous)
            report(Problem::out_of_order, where, raw, previous);
        if (stamps[i].tsc() < stamps[i - 1].tsc())
            report(Problem::time_backwards, where, stamps[i].tsc(), stamps[i - 1].tsc());
    }
}

void Validator::check_phases()
{
    // The update that started the writer came before this one, in the same TSC time.
    const auto last_update = record_.last_update();
    check_stamps(last_update, Subject::last_update);
    const u32 last_count = last_update.size();
    if (last_count != 0 && record_.update_count() < 2)
        report(Problem::below_minimum, {Subject::header}, record_.update_count(), 2, Field::update_count);
    const bool have_last = last_count != 0 && last_count <= limits_.max_phases;
    const u64 last_end = have_last ? last_update[last_count - 1].tsc() : 0;
    if (have_last && last_end > record_.created_tsc())
        report(Problem::after_creation, {Subject::last_update, schema::NO_DOMAIN, last_count - 1}, last_end,
               record_.created_tsc());

    const auto phases = record_.phases();
    check_stamps(phases, Subject::phase);
    if (have_last && phases.size() != 0 && phases.size() <= limits_.max_phases && phases[0].tsc() < last_end)
        report(Problem::time_backwards, {Subject::phase, schema::NO_DOMAIN, 0}, phases[0].tsc(), last_end,
               Field::last_update);
}

void Validator::check_transaction()
{
    const Where where{Subject::header};
    const auto kit = record_.rollback_kit();
    if (kit.frame_count() != 0) {
        if (record_.min_reader_version() < schema::ROLLBACK_MIN_READER_VERSION)
            report(Problem::min_reader_too_low, where, record_.min_reader_version(), 0, Field::rollback_kit);
        if (preserved_usable_ && !in_kind(PreservedKind::rollback_kit, kit.first_frame(), kit.frame_count()))
            report(Problem::not_preserved, where, kit.first_frame(), kit.frame_count(), Field::rollback_kit);
    }
    struct Named {
        schema::ImageCopy::Reader image;
        Field field;
    };
    const Named images[] = {{record_.writer_image(), Field::writer_image}, {record_.next_image(), Field::next_image}};
    for (const Named &named : images) {
        const schema::ImageCopy::Reader image = named.image;
        const Field field = named.field;
        if (image.bytes() == 0 || !image.preserved())
            continue;
        const u64 first = image.address() >> 12;
        u64 end = 0;
        if (__builtin_add_overflow(image.address(), image.bytes() + 4095, &end) || image.bytes() > (u64{1} << 40)) {
            report(Problem::range_overflow, where, first, image.bytes(), field);
            continue;
        }
        if (preserved_usable_ && !in_kind(PreservedKind::hypervisor_image, first, (end >> 12) - first))
            report(Problem::not_preserved, where, first, (end >> 12) - first, field);
    }
}

} // namespace validation

u64 validate_record(wire::MessageReader &message, schema::Handover::Reader record, const ValidationLimits &limits,
                    FindingSink sink, void *context)
{
    validation::Validator validator(message, record, limits, sink, context);
    return validator.run();
}

} // namespace handover
