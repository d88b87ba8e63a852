// SPDX-License-Identifier: MIT
// Semantic validation of a handover record: what the fields mean, beyond the wire format.
//
// The new image runs this before it acts on anything in the record (after
// open_record()). Every problem is reported to a sink as a Finding — a problem in a
// subject (e.g. `overlap` in `preserved`) with the place and the values involved — and
// describe() turns a finding into one line of text. The work is linear in the
// record's size (plus a logarithmic search per frame range): no problem in the input
// can make it quadratic, because the counts that would are bounded by the limits first.
#pragma once
#include "handover_layout.hpp"

namespace handover {

enum class Subject : u8 {
    header,
    ram,
    bootmem,
    preserved,
    domain,
    p2m,
    extra_page,
    vcpu,
    event_channel,
    log_dirty,
    nested_page_table,
    iommu_unit,
    iommu_device,
    iommu_frames,
    phase,
    last_update, // v2: the phase stamps of the update that started the writer
    // v3
    altp2m_view, // index: the view's place in Domain.altp2mViews; parent: its index field
    altp2m_entry, // index: the entry's place in its view; parent: the view's index field
};

enum class Problem : u8 {
    structure, // a = wire::Error, b = byte offset; findings before it may be its echoes
    bad_magic, // a = magic found
    version_missing,
    versions_inconsistent, // a = abiVersion, b = minReaderVersion
    version_too_new, // a = minReaderVersion, b = this reader's version
    text_missing, // field: which text
    text_too_long, // field: which text; a = length, b = limit
    tsc_frequency_missing,
    missing, // a required list, range or frame is absent or empty
    too_many, // a = count, b = limit
    empty_range, // a = first frame
    range_overflow, // a = first frame, b = count: past 2^40 frames (52-bit addresses)
    unsorted, // a = this key, b = the previous key
    overlap, // a = this first frame, b = end of the previous range
    duplicate, // a = the repeated key
    reserved_id, // a = the id (noDomain)
    outside_ram, // a = first frame, b = count
    in_bootmem, // a = first frame, b = count
    not_preserved, // a = first frame, b = count
    unknown_value, // field: which enum; a = the value this reader does not know
    unknown_domain, // a = the domain id referred to
    bad_vcpu, // a = the vCPU referred to, b = the domain's vCPU count
    too_small, // a = frames present, b = frames needed
    over_limit, // a = RAM frames mapped, b = the domain's maxFrames
    invalid_cpu_state, // a = CpuCheck, b = the register value
    free_entry, // a = the port recorded although free
    out_of_order, // a = this phase, b = the previous phase
    time_backwards, // a = this TSC, b = the previous TSC (field last_update: the last update's final one)
    // v2
    not_applicable, // field: what is set where it has no meaning; a = its value (a text's length,
                    // a phase), b = the state or type that rules it out
    below_minimum, // field: which; a = the value, b = the least it may be
    not_in_p2m, // a = the guest frame, which no RAM range of the domain's p2m holds
    before_time_origin, // field: which TSC; a = the TSC, b = the record's timeOriginTsc
    after_creation, // field: which TSC; a = the TSC, b = the record's createdTsc
    // v3
    view_index_out_of_range, // a = the view's index (0 or above b), b = altp2mMaxViews
    access_not_expressible, // a = the P2mAccess value (w, x, wx: no x86 table entry grants them)
    target_not_ram, // a = first target guest frame, b = count: not all RAM in the domain's p2m
    unknown_view, // a = the view a vCPU runs in, which its domain does not have
    min_reader_too_low, // a = the record's minReaderVersion, b = a domain with alternate p2m views
};

// Which field a finding is about, where the subject alone does not say.
enum class Field : u8 {
    none,
    writer_build_id,
    writer_version,
    name,
    state,
    type,
    access,
    role,
    run_state,
    event_kind,
    kind,
    mode,
    levels,
    phase,
    guest_frames,
    machine_frames,
    chunks,
    // v2
    stop_reason,
    created_tsc,
    time_origin,
    update_count,
    last_update,
    timer_period,
    timer_deadline,
    remote_domain,
    remote_port,
    virq,
    // v3
    view_index,
    target_frames,
    // v4
    guest_kind,
    pc_platform,
    console_line,
    // v5
    writer_image,
    next_image,
    rollback_kit,
    // v6
    vcpus,
    wake_deadline,
};

// The vCPU state checks, after the consistency checks VMRUN itself makes.
enum class CpuCheck : u8 {
    cr0_nw_without_cd = 1,
    cr0_high_bits,
    cr3_high_bits,
    cr4_high_bits,
    dr6_high_bits,
    dr7_high_bits,
    efer_reserved_bits,
    long_mode_without_pae,
    long_mode_without_pe,
    rflags_bit1_clear,
    rflags_high_bits,
    exception_vector,
    nmi_vector,
};

// Where a problem is, as far as it applies: NO_DOMAIN and NO_INDEX otherwise.
inline constexpr u64 NO_INDEX = ~u64{0};

struct Finding {
    Problem problem;
    Subject subject;
    Field field = Field::none;
    u32 domain = schema::NO_DOMAIN; // the domain's id
    u64 parent = NO_INDEX; // the containing element (the IOMMU unit of a device, the view of an
                           // altp2m entry)
    u64 index = NO_INDEX; // the element in the subject's list
    u64 a = 0;
    u64 b = 0;
};

// The bounds that make "plausible" concrete. Counts above them are reported and the
// list behind them is not examined further.
struct ValidationLimits {
    u32 max_text = 255;
    u32 max_ram_ranges = 4096;
    u32 max_chunks = 16; // per chunked list; at most 16
    u64 max_ranges = u64{1} << 28; // per chunked list
    u32 max_domains = 1024;
    u32 max_vcpus = 256;
    u32 max_extra_pages = 512;
    u32 max_event_channels = 4096;
    u32 max_iommu_units = 64;
    u32 max_iommu_devices = 65536;
    u32 max_iommu_frame_ranges = 65536;
    u32 max_msrs = 256;
    u32 max_phases = 32; // per phase-stamp list (phases, lastUpdate)
    u32 max_altp2m_entries = 1u << 24; // per view (views per domain: the schema's altp2mMaxViews)
};

// Receives each finding; return false to stop validation early.
using FindingSink = bool (*)(void *context, const Finding &finding);

// Validates the meaning of every field of a record opened with open_record() (the
// header is checked again so that a tool gets one complete list). Returns the number
// of findings; 0 means the record may be acted upon. Structural errors met while
// reading are reported last, as a `structure` finding.
u64 validate_record(wire::MessageReader &message, schema::Handover::Reader record, const ValidationLimits &limits,
                    FindingSink sink, void *context);

// Stable identifiers, e.g. "overlap" and "preserved", for tools and tests.
const char *problem_name(Problem problem);
const char *subject_name(Subject subject);

// One line, e.g. "domain 3 p2m range 5: machine frames 0x1000+0x10 are not preserved".
// Returns the length the full text would have (like format()).
usize describe(const Finding &finding, char *buffer, usize capacity);

} // namespace handover
