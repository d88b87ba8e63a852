// SPDX-License-Identifier: MIT
// Names and one-line descriptions of validation findings.
#include "handover/validate.hpp"
#include "lib/format.hpp"

namespace handover {

const char *problem_name(Problem problem)
{
    switch (problem) {
    case Problem::structure: return "structure";
    case Problem::bad_magic: return "bad_magic";
    case Problem::version_missing: return "version_missing";
    case Problem::versions_inconsistent: return "versions_inconsistent";
    case Problem::version_too_new: return "version_too_new";
    case Problem::text_missing: return "text_missing";
    case Problem::text_too_long: return "text_too_long";
    case Problem::tsc_frequency_missing: return "tsc_frequency_missing";
    case Problem::missing: return "missing";
    case Problem::too_many: return "too_many";
    case Problem::empty_range: return "empty_range";
    case Problem::range_overflow: return "range_overflow";
    case Problem::unsorted: return "unsorted";
    case Problem::overlap: return "overlap";
    case Problem::duplicate: return "duplicate";
    case Problem::reserved_id: return "reserved_id";
    case Problem::outside_ram: return "outside_ram";
    case Problem::in_bootmem: return "in_bootmem";
    case Problem::not_preserved: return "not_preserved";
    case Problem::unknown_value: return "unknown_value";
    case Problem::unknown_domain: return "unknown_domain";
    case Problem::bad_vcpu: return "bad_vcpu";
    case Problem::too_small: return "too_small";
    case Problem::over_limit: return "over_limit";
    case Problem::invalid_cpu_state: return "invalid_cpu_state";
    case Problem::free_entry: return "free_entry";
    case Problem::out_of_order: return "out_of_order";
    case Problem::time_backwards: return "time_backwards";
    case Problem::not_applicable: return "not_applicable";
    case Problem::below_minimum: return "below_minimum";
    case Problem::not_in_p2m: return "not_in_p2m";
    case Problem::before_time_origin: return "before_time_origin";
    case Problem::after_creation: return "after_creation";
    case Problem::view_index_out_of_range: return "view_index_out_of_range";
    case Problem::access_not_expressible: return "access_not_expressible";
    case Problem::target_not_ram: return "target_not_ram";
    case Problem::unknown_view: return "unknown_view";
    case Problem::min_reader_too_low: return "min_reader_too_low";
    }
    return "unknown";
}

const char *subject_name(Subject subject)
{
    switch (subject) {
    case Subject::header: return "header";
    case Subject::ram: return "ram";
    case Subject::bootmem: return "bootmem";
    case Subject::preserved: return "preserved";
    case Subject::domain: return "domain";
    case Subject::p2m: return "p2m";
    case Subject::extra_page: return "extra_page";
    case Subject::vcpu: return "vcpu";
    case Subject::event_channel: return "event_channel";
    case Subject::log_dirty: return "log_dirty";
    case Subject::nested_page_table: return "nested_page_table";
    case Subject::iommu_unit: return "iommu_unit";
    case Subject::iommu_device: return "iommu_device";
    case Subject::iommu_frames: return "iommu_frames";
    case Subject::phase: return "phase";
    case Subject::last_update: return "last_update";
    case Subject::altp2m_view: return "altp2m_view";
    case Subject::altp2m_entry: return "altp2m_entry";
    }
    return "unknown";
}

namespace {

const char *field_text(Field field)
{
    switch (field) {
    case Field::none: return "value";
    case Field::writer_build_id: return "writer build id";
    case Field::writer_version: return "writer version";
    case Field::name: return "name";
    case Field::state: return "state";
    case Field::type: return "type";
    case Field::access: return "access";
    case Field::role: return "role";
    case Field::run_state: return "run state";
    case Field::event_kind: return "pending event kind";
    case Field::kind: return "kind";
    case Field::mode: return "mode";
    case Field::levels: return "page-table levels";
    case Field::phase: return "phase";
    case Field::guest_frames: return "guest frames";
    case Field::machine_frames: return "machine frames";
    case Field::chunks: return "chunks";
    case Field::stop_reason: return "stop reason";
    case Field::created_tsc: return "creation TSC";
    case Field::time_origin: return "time origin TSC";
    case Field::update_count: return "update count";
    case Field::last_update: return "last update";
    case Field::timer_period: return "timer period (ns)";
    case Field::timer_deadline: return "timer deadline TSC";
    case Field::remote_domain: return "remote domain";
    case Field::remote_port: return "remote port";
    case Field::virq: return "VIRQ";
    case Field::view_index: return "view index";
    case Field::target_frames: return "target guest frames";
    case Field::guest_kind: return "guest kind";
    case Field::pc_platform: return "PC platform";
    case Field::console_line: return "console line";
    case Field::writer_image: return "writer image";
    case Field::next_image: return "next image";
    case Field::rollback_kit: return "rollback kit";
    case Field::vcpus: return "vCPUs";
    case Field::wake_deadline: return "wake-up deadline TSC";
    }
    return "value";
}

const char *cpu_check_text(u64 check)
{
    switch (static_cast<CpuCheck>(check)) {
    case CpuCheck::cr0_nw_without_cd: return "CR0.NW set without CR0.CD";
    case CpuCheck::cr0_high_bits: return "CR0 bits 63:32 set";
    case CpuCheck::cr3_high_bits: return "CR3 bits 63:52 set";
    case CpuCheck::cr4_high_bits: return "CR4 bits 63:32 set";
    case CpuCheck::dr6_high_bits: return "DR6 bits 63:32 set";
    case CpuCheck::dr7_high_bits: return "DR7 bits 63:32 set";
    case CpuCheck::efer_reserved_bits: return "EFER reserved bits set";
    case CpuCheck::long_mode_without_pae: return "long-mode paging without CR4.PAE";
    case CpuCheck::long_mode_without_pe: return "long-mode paging without CR0.PE";
    case CpuCheck::rflags_bit1_clear: return "RFLAGS bit 1 clear";
    case CpuCheck::rflags_high_bits: return "RFLAGS reserved bits 63:22 set";
    case CpuCheck::exception_vector: return "pending exception with a vector above 31";
    case CpuCheck::nmi_vector: return "pending NMI with a vector other than 2";
    }
    return "invalid state";
}

// "domain 3 p2m range 5", "iommu unit 0 device 2", "record" ...
usize describe_where(const Finding &f, char *out, usize capacity)
{
    const bool indexed = f.index != NO_INDEX;
    const char *noun = nullptr;
    switch (f.subject) {
    case Subject::header: return format(out, capacity, "record");
    case Subject::ram: noun = indexed ? "ram range" : "ram"; break;
    case Subject::bootmem: return format(out, capacity, "bootmem region");
    case Subject::preserved: noun = indexed ? "preserved range" : "preserved ranges"; break;
    case Subject::domain:
        return indexed                         ? format(out, capacity, "domain %u (entry %lu)", f.domain, f.index)
               : f.domain != schema::NO_DOMAIN ? format(out, capacity, "domain %u", f.domain)
                                               : format(out, capacity, "domains");
    case Subject::p2m: noun = indexed ? "p2m range" : "p2m"; break;
    case Subject::extra_page: noun = indexed ? "extra page" : "extra pages"; break;
    case Subject::vcpu: noun = indexed ? "vcpu entry" : "vcpus"; break;
    case Subject::event_channel: noun = indexed ? "event channel entry" : "event channels"; break;
    case Subject::log_dirty: noun = "log-dirty bitmap"; break;
    case Subject::nested_page_table: noun = "nested page table root"; break;
    case Subject::iommu_unit: noun = indexed ? "iommu unit" : "iommu units"; break;
    case Subject::iommu_device:
    case Subject::iommu_frames: {
        const char *what = f.subject == Subject::iommu_device ? "device" : "table frames";
        return indexed ? format(out, capacity, "iommu unit %lu %s %lu", f.parent, what, f.index)
                       : format(out, capacity, "iommu unit %lu %ss", f.parent, what);
    }
    case Subject::phase: noun = indexed ? "phase stamp" : "phase stamps"; break;
    case Subject::last_update: noun = indexed ? "last update stamp" : "last update stamps"; break;
    case Subject::altp2m_view: noun = indexed ? "altp2m view" : "altp2m views"; break;
    case Subject::altp2m_entry: noun = "altp2m view"; break;
    }
    usize length = 0;
    if (f.domain != schema::NO_DOMAIN)
        length = format(out, capacity, "domain %u ", f.domain);
    const usize room = length < capacity ? capacity - length : 0;
    char *rest = out + (room ? length : 0);
    // Views are named by their index, as decode shows them; the entry says where in the list.
    if (f.subject == Subject::altp2m_view && indexed)
        return length + format(rest, room, "%s %lu (entry %lu)", noun, f.parent, f.index);
    if (f.subject == Subject::altp2m_entry)
        return length + (indexed ? format(rest, room, "%s %lu entry %lu", noun, f.parent, f.index)
                                 : format(rest, room, "%s %lu entries", noun, f.parent));
    return length + (indexed ? format(rest, room, "%s %lu", noun, f.index) : format(rest, room, "%s", noun));
}

usize describe_missing(const Finding &f, char *out, usize capacity)
{
    switch (f.subject) {
    case Subject::ram: return format(out, capacity, "the record lists no RAM");
    case Subject::bootmem: return format(out, capacity, "absent or empty");
    case Subject::preserved: return format(out, capacity, "no range holds the record itself");
    case Subject::vcpu: return format(out, capacity, "a running domain without vCPUs");
    case Subject::log_dirty: return format(out, capacity, "log-dirty mode is enabled but there is no bitmap");
    case Subject::iommu_unit: return format(out, capacity, "root table missing");
    default: return format(out, capacity, "missing");
    }
}

// The schema's name of an enumerant a finding carries, for the v2 descriptions.
template <typename E>
const char *enumerant_text(u64 raw)
{
    const char *name = schema::name_of(static_cast<E>(raw));
    return name != nullptr ? name : "unknown";
}

usize describe_not_applicable(const Finding &f, char *out, usize capacity)
{
    switch (f.field) {
    case Field::stop_reason:
        return format(out, capacity,
                      "has a stop reason (%lu bytes) but is %s: only shutdown and crashed domains have one", f.a,
                      enumerant_text<schema::DomainState>(f.b));
    case Field::machine_frames:
        return format(out, capacity, "machine frame 0x%lx is set, but %s ranges own no frames", f.a,
                      enumerant_text<schema::P2mType>(f.b));
    case Field::phase:
        return format(out, capacity, "phase %lu (%s) is stamped by the next image, after the record was written", f.a,
                      enumerant_text<schema::Phase>(f.a));
    case Field::pc_platform:
        return format(out, capacity, "has a PC platform but is a %s guest: only PC guests have one",
                      enumerant_text<schema::GuestKind>(f.b));
    case Field::run_state:
        return format(out, capacity, "vCPU 0 is %s, but the domain is %s: vCPU 0 starts with its domain",
                      enumerant_text<schema::VcpuRunState>(f.a), enumerant_text<schema::DomainState>(f.b));
    case Field::wake_deadline:
        return format(out, capacity, "wake-up deadline TSC %lu is set, but the vCPU is %s: it waits for nothing", f.a,
                      enumerant_text<schema::VcpuRunState>(f.b));
    case Field::timer_period:
    case Field::timer_deadline:
        return format(out, capacity, "%s %lu is set, but the port is %s: only timer ports have one",
                      field_text(f.field), f.a, enumerant_text<schema::EventChannelState>(f.b));
    default:
        return format(out, capacity, "%s %lu is set, but a %s port has none", field_text(f.field), f.a,
                      enumerant_text<schema::EventChannelState>(f.b));
    }
}

usize describe_below_minimum(const Finding &f, char *out, usize capacity)
{
    switch (f.field) {
    case Field::update_count:
        return f.b > 1 ? format(out, capacity,
                                "update count is %lu, but the record lists the update that started its "
                                "writer (at least %lu)",
                                f.a, f.b)
                       : format(out, capacity, "update count is %lu: v2 writers count updates, 1 for the first", f.a);
    case Field::timer_period: return format(out, capacity, "timer port with a period of %lu ns", f.a);
    case Field::timer_deadline: return format(out, capacity, "timer port without its next deadline (TSC %lu)", f.a);
    default: return format(out, capacity, "%s is %lu, at least %lu expected", field_text(f.field), f.a, f.b);
    }
}

usize describe_too_many(const Finding &f, char *out, usize capacity)
{
    if (f.field == Field::target_frames)
        return format(out, capacity,
                      "remap targets cross more than %lu p2m ranges in all (once per possible view "
                      "over the %lu ranges): the rest are not checked",
                      f.a, f.b);
    if (f.subject == Subject::altp2m_view)
        return format(out, capacity, "%lu views, more than the %lu a domain may have (altp2mMaxViews)", f.a, f.b);
    return format(out, capacity, "%lu %s, more than the limit of %lu", f.a,
                  f.field == Field::chunks ? "chunks" : "entries", f.b);
}

usize describe_what(const Finding &f, char *out, usize capacity)
{
    const char *field = field_text(f.field);
    const char *frames = f.field == Field::none ? "frames" : field;
    switch (f.problem) {
    case Problem::structure:
        return format(out, capacity, "malformed message: %s (at byte %lu)",
                      wire::error_text(static_cast<wire::Error>(f.a)), f.b);
    case Problem::bad_magic: return format(out, capacity, "wrong magic 0x%lx (expected 0x%lx)", f.a, f.b);
    case Problem::version_missing: return format(out, capacity, "ABI version is 0");
    case Problem::versions_inconsistent:
        return format(out, capacity, "minimum reader version %lu is above the record's ABI version %lu", f.b, f.a);
    case Problem::version_too_new:
        return format(out, capacity, "needs a reader of ABI version %lu or later; this reader implements %lu", f.a,
                      f.b);
    case Problem::text_missing: return format(out, capacity, "%s is empty", field);
    case Problem::text_too_long: return format(out, capacity, "%s is %lu bytes, limit %lu", field, f.a, f.b);
    case Problem::tsc_frequency_missing: return format(out, capacity, "TSC frequency is 0");
    case Problem::missing: return describe_missing(f, out, capacity);
    case Problem::too_many: return describe_too_many(f, out, capacity);
    case Problem::empty_range: return format(out, capacity, "empty range at frame 0x%lx", f.a);
    case Problem::range_overflow:
        return format(out, capacity, "%s 0x%lx+0x%lx run past the 2^40-frame physical limit", frames, f.a, f.b);
    case Problem::unsorted:
        return f.field == Field::view_index
                   ? format(out, capacity, "view index %lu comes after %lu: views are sorted by index", f.a, f.b)
                   : format(out, capacity, "0x%lx comes after 0x%lx: not sorted", f.a, f.b);
    case Problem::overlap:
        return format(out, capacity, "%s start at 0x%lx, inside the previous range (ends 0x%lx)", frames, f.a, f.b);
    case Problem::duplicate:
        return format(out, capacity, "%s%lu appears twice", f.field == Field::view_index ? "view index " : "", f.a);
    case Problem::reserved_id: return format(out, capacity, "id 0x%lx is reserved (noDomain)", f.a);
    case Problem::outside_ram: return format(out, capacity, "%s 0x%lx+0x%lx are not inside RAM", frames, f.a, f.b);
    case Problem::in_bootmem:
        return format(out, capacity, "%s 0x%lx+0x%lx overlap the bootmem region", frames, f.a, f.b);
    case Problem::not_preserved: return format(out, capacity, "%s 0x%lx+0x%lx are not preserved", frames, f.a, f.b);
    case Problem::unknown_value: return format(out, capacity, "unknown %s value %lu", field, f.a);
    case Problem::unknown_domain: return format(out, capacity, "refers to domain %lu, which is not in the record", f.a);
    case Problem::bad_vcpu: return format(out, capacity, "refers to vCPU %lu, but the domain has %lu", f.a, f.b);
    case Problem::too_small: return format(out, capacity, "%lu frames, %lu needed", f.a, f.b);
    case Problem::over_limit: return format(out, capacity, "maps %lu RAM frames, more than its limit of %lu", f.a, f.b);
    case Problem::invalid_cpu_state: return format(out, capacity, "%s (0x%lx)", cpu_check_text(f.a), f.b);
    case Problem::free_entry: return format(out, capacity, "port %lu is recorded but free", f.a);
    case Problem::out_of_order: return format(out, capacity, "phase %lu recorded after phase %lu", f.a, f.b);
    case Problem::time_backwards:
        return f.field == Field::last_update
                   ? format(out, capacity, "TSC %lu is before the last update's final stamp (TSC %lu)", f.a, f.b)
                   : format(out, capacity, "TSC %lu is before the previous stamp's %lu", f.a, f.b);
    case Problem::not_applicable: return describe_not_applicable(f, out, capacity);
    case Problem::below_minimum: return describe_below_minimum(f, out, capacity);
    case Problem::not_in_p2m:
        return format(out, capacity, "guest frame 0x%lx is not inside the RAM of the domain's p2m", f.a);
    case Problem::before_time_origin:
        return format(out, capacity, "%s %lu is before the hypervisor's time origin (TSC %lu)",
                      f.field == Field::none ? "TSC" : field_text(f.field), f.a, f.b);
    case Problem::after_creation:
        return format(out, capacity, "%s %lu is after the record was written (TSC %lu)",
                      f.field == Field::none ? "TSC" : field_text(f.field), f.a, f.b);
    case Problem::view_index_out_of_range:
        return format(out, capacity, "view index %lu is outside 1..%lu (0 is the host p2m, which is not listed)", f.a,
                      f.b);
    case Problem::access_not_expressible:
        return format(out, capacity, "access %s cannot be expressed in x86 page tables (n, r, rw, rx or rwx)",
                      enumerant_text<schema::P2mAccess>(f.a));
    case Problem::target_not_ram:
        return format(out, capacity, "remaps to guest frames 0x%lx+0x%lx, which are not all RAM in the domain's p2m",
                      f.a, f.b);
    case Problem::unknown_view:
        return format(out, capacity, "runs in p2m view %lu, which the domain does not have", f.a);
    case Problem::min_reader_too_low:
        if (f.field == Field::rollback_kit)
            return format(out, capacity,
                          "minimum reader version %lu, but the record carries a rollback kit, which readers "
                          "before version %u would not free",
                          f.a, schema::ROLLBACK_MIN_READER_VERSION);
        if (f.field == Field::vcpus)
            return format(out, capacity,
                          "minimum reader version %lu, but domain %lu has more than one vCPU, which readers "
                          "before version %u cannot restore",
                          f.a, f.b, schema::SMP_MIN_READER_VERSION);
        if (f.field == Field::role)
            return format(out, capacity,
                          "minimum reader version %lu, but domain %lu has per-vCPU info pages, which readers "
                          "before version %u refuse",
                          f.a, f.b, schema::VCPU_INFO_MIN_READER_VERSION);
        if (f.field == Field::guest_kind)
            return format(out, capacity,
                          "minimum reader version %lu, but domain %lu is a PC guest, whose devices readers "
                          "before version %u would drop",
                          f.a, f.b, schema::PC_GUEST_MIN_READER_VERSION);
        return format(out, capacity,
                      "minimum reader version %lu, but domain %lu has alternate p2m views, which "
                      "readers before version %u would drop",
                      f.a, f.b, schema::ALTP2M_MIN_READER_VERSION);
    }
    return format(out, capacity, "unknown problem");
}

} // namespace

usize describe(const Finding &finding, char *buffer, usize capacity)
{
    usize length = describe_where(finding, buffer, capacity);
    length += format(length < capacity ? buffer + length : nullptr, length < capacity ? capacity - length : 0, ": ");
    length += describe_what(finding, length < capacity ? buffer + length : nullptr,
                            length < capacity ? capacity - length : 0);
    return length;
}

} // namespace handover
