// SPDX-License-Identifier: MIT
// A realistic handover record as plain data, written with the freestanding codec. Tests
// mutate one thing and check what the reader and the validator say about it.
#pragma once
#include "handover/record_writer.hpp"
#include <string>
#include <utility>
#include <vector>

namespace handover_test {

namespace hs = handover::schema;

struct Frames {
    u64 first = 0;
    u64 count = 0;
};

struct SampleP2m {
    u64 guest, machine, count;
    hs::P2mType type;
    hs::P2mAccess access;
};

struct SampleExtraPage {
    hs::ExtraPageRole role;
    u32 vcpu;
    u64 guest, machine; // guest: NO_GUEST_FRAME while the guest has not mapped it
};

struct SampleVcpu {
    u32 id = 0;
    hs::VcpuRunState run_state = hs::VcpuRunState::runnable;
    u64 rip = 0, rsp = 0, rax = 0;
    u64 rflags = 0x202, cr0 = 0x80050033, cr3 = 0x1000, cr4 = 0x6a0, efer = 0xd01;
    u64 dr6 = 0xffff0ff0, dr7 = 0x400;
    hs::EventKind event = hs::EventKind::none;
    u8 event_vector = 0;
    std::vector<std::pair<u32, u64>> msrs; // sorted by index
    u64 timer_deadline = 0;
    std::vector<u8> fpu;
    u16 altp2m_view = 0; // 0: the host p2m
    u32 last_cpu = 0; // v6: the physical CPU it last ran on
};

struct SampleChannel {
    u32 port;
    hs::EventChannelState state;
    u32 notify_vcpu, remote_domain, remote_port, virq;
    u64 timer_period_ns = 0, timer_deadline_tsc = 0; // timer ports
};

struct SampleAltp2mEntry {
    u64 guest, count, target; // target == guest: an access-only entry
    hs::P2mAccess access;
};

struct SampleAltp2mView {
    u16 index;
    std::vector<SampleAltp2mEntry> entries;
};

struct SampleDomain {
    u32 id = 0;
    std::string name;
    u32 flags = 0;
    hs::DomainState state = hs::DomainState::running;
    u64 max_frames = 0;
    std::vector<SampleP2m> p2m;
    std::vector<SampleExtraPage> extra_pages;
    std::vector<SampleVcpu> vcpus;
    std::vector<SampleChannel> channels;
    u8 upcall_vector = 0xf3;
    hs::LogDirtyMode log_dirty = hs::LogDirtyMode::off;
    Frames log_dirty_bitmap;
    u64 log_dirty_guest_frames = 0;
    u64 npt_root = 0;
    std::string stop_reason; // shutdown and crashed domains
    u64 created_tsc = 0;
    std::vector<SampleAltp2mView> altp2m_views; // empty: the list is not written
};

struct SampleIommuDevice {
    u16 requester_id;
    u32 domain;
    u64 page_table_root;
    u8 levels;
};

struct SampleIommuFrames {
    hs::IommuFrameKind kind;
    u32 domain;
    u64 first, count;
};

struct SampleIommu {
    hs::IommuKind kind = hs::IommuKind::amd_vi;
    u64 register_base = 0;
    Frames root_table;
    std::vector<SampleIommuDevice> devices;
    std::vector<SampleIommuFrames> frames;
};

struct SamplePreserved {
    u64 first, count;
    hs::PreservedKind kind;
    u32 domain;
};

// v5: an image copy and a rollback as the record names them.
struct SampleImage {
    u64 address = 0, bytes = 0; // bytes 0: none
    std::string build_id;
    bool preserved = false;
};

struct SampleRollback {
    std::string failed_build_id, failed_version, reason; // failed_build_id empty: none
    hs::Phase reached = hs::Phase::entered;
    u64 failed_tsc = 0;
};

struct SampleRecord {
    u64 magic = hs::HANDOVER_MAGIC;
    u32 abi_version = hs::HANDOVER_ABI_VERSION;
    u32 min_reader_version = hs::HANDOVER_MIN_READER_VERSION;
    std::string build_id = "5eed0000cafe-A";
    std::string version = "0.1.0";
    u64 created_tsc = 4000000, tsc_khz = 2000000, created_unix_seconds = 1700000000;
    u64 lapic_timer_khz = 1000000; // v7
    Frames bootmem;
    std::vector<Frames> ram;
    std::vector<SampleDomain> domains;
    std::vector<SampleIommu> iommu;
    std::vector<SamplePreserved> preserved;
    std::vector<std::pair<hs::Phase, u64>> phases;
    u64 time_origin_tsc = 1000, update_count = 1; // a cold-booted writer's first update
    std::vector<std::pair<hs::Phase, u64>> last_update;
    SampleImage writer_image, next_image;
    Frames rollback_kit{0, 0};
    u64 rollback_count = 0;
    SampleRollback last_rollback;
    u32 ranges_per_chunk = handover::DEFAULT_RANGES_PER_CHUNK;
};

// Two domains (one running, with two alternate p2m views and a vCPU in view 1; one
// paused with log-dirty on), an AMD-Vi unit, every preserved frame accounted for, the
// timings of the update that started the writer and of this one: valid in every respect.
// The views make its minReaderVersion altp2mMinReaderVersion.
SampleRecord sample_record();

// The same machine a moment later: vCPUs moved on, a page changed hands, a remap moved,
// view 2 went and view 3 came, domain 2 crashed, a third domain appeared. Also valid; the
// diff tests compare it with sample_record().
SampleRecord sample_record_later();

// Writes the record with the freestanding writer; fails the test if it does not fit.
std::vector<u8> write_record(const SampleRecord &record, size_t buffer_bytes = 1 << 20);

} // namespace handover_test
