// SPDX-License-Identifier: MIT
// Google Benchmark of the freestanding handover codec: encode, and validate+decode, of a
// record with 10^6 p2m ranges (32 MB). `make baton-bench` runs it; docs/abi.md has figures.
#include "handover/record_reader.hpp"
#include "handover/record_writer.hpp"
#include "handover/validate.hpp"
#include <benchmark/benchmark.h>
#include <cstdlib>
#include <vector>

using namespace handover;

namespace {

constexpr u64 RANGES = 1000000;
constexpr u64 FRAMES_PER_RANGE = 16;
constexpr u64 GUEST_RAM_BASE = 0x100000; // machine frame 4 GiB

// One word-aligned buffer reused by every iteration (no page faults in the timing).
std::vector<u64> &buffer()
{
    static std::vector<u64> words((RANGES * 64 + (1 << 20)) / 8, 0);
    return words;
}

// A record whose domain maps RANGES ranges of 16 frames, every other 16 machine frames;
// `preserve_each` lists one preserved range per p2m range instead of one for them all.
u64 encode(u64 *words, u64 bytes, bool preserve_each)
{
    wire::MessageBuilder message(words, bytes);
    WriterIdentity identity;
    identity.build_id = "bench";
    identity.version = "0";
    identity.tsc_khz = 1;
    schema::Handover::Builder record = begin_record(message, identity);
    record.set_update_count(1); // a record is written by an update: the first one is 1
    auto bootmem = record.init_bootmem();
    bootmem.set_first_frame(0x1000);
    bootmem.set_frame_count(0x1000);
    auto ram = record.init_ram(1)[0];
    ram.set_first_frame(0x100);
    ram.set_frame_count(u64{1} << 30);
    auto domain = record.init_domains(1)[0];
    domain.set_id(1);
    domain.set_name("bench");
    domain.set_state(schema::DomainState::paused);
    P2mWriter p2m = init_p2m(domain, RANGES);
    for (u64 i = 0; i < RANGES; i++)
        p2m.add({.guest_frame = i * FRAMES_PER_RANGE,
                 .machine_frame = GUEST_RAM_BASE + i * 2 * FRAMES_PER_RANGE,
                 .frame_count = FRAMES_PER_RANGE,
                 .type = schema::P2mType::ram_rw,
                 .access = schema::P2mAccess::rwx});
    PreservedWriter preserved = init_preserved(record, preserve_each ? RANGES + 1 : 2);
    for (u64 i = 0; i < (preserve_each ? RANGES : 1); i++)
        preserved.add({.first_frame = GUEST_RAM_BASE + i * 2 * FRAMES_PER_RANGE,
                       .frame_count = preserve_each ? FRAMES_PER_RANGE : RANGES * 2 * FRAMES_PER_RANGE,
                       .kind = schema::PreservedKind::guest_ram,
                       .domain_id = 1});
    schema::PreservedRange::Builder own = preserved.next();
    own.set_first_frame(GUEST_RAM_BASE + RANGES * 2 * FRAMES_PER_RANGE);
    own.set_frame_count(0x4000);
    own.set_kind(schema::PreservedKind::handover_record);
    return message.finish();
}

bool count_finding(void *context, const Finding &)
{
    ++*static_cast<u64 *>(context);
    return true;
}

// What the new image does: open (structure walk, overlap bitmap, header), validate every
// field's meaning, then read every range to rebuild the p2m.
u64 validate_and_decode(const u64 *words, u64 size, std::vector<u64> &bitmap)
{
    wire::MessageReader message(words, size);
    schema::Handover::Reader record;
    if (open_record(message, &record, bitmap.data(), bitmap.size()) != RecordStatus::ok)
        abort();
    u64 findings = 0;
    validate_record(message, record, {}, count_finding, &findings);
    if (findings != 0)
        abort();
    u64 sum = 0;
    p2m_of(record.domains()[0]).for_each([&](schema::P2mRange::Reader range, u64) {
        sum += range.guest_frame() + range.machine_frame() + range.frame_count() + static_cast<u16>(range.type());
        return true;
    });
    if (!message.ok())
        abort();
    return sum;
}

void BM_Encode(benchmark::State &state)
{
    const bool preserve_each = state.range(0) != 0;
    std::vector<u64> &words = buffer();
    u64 size = 0;
    for (auto _ : state) {
        size = encode(words.data(), words.size() * 8, preserve_each);
        benchmark::DoNotOptimize(words.data());
        benchmark::ClobberMemory();
    }
    if (size == 0)
        state.SkipWithError("record did not fit");
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
    state.counters["record_MB"] = static_cast<double>(size) / 1e6;
}

void BM_ValidateDecode(benchmark::State &state)
{
    const bool preserve_each = state.range(0) != 0;
    std::vector<u64> &words = buffer();
    const u64 size = encode(words.data(), words.size() * 8, preserve_each);
    std::vector<u64> bitmap((size / 8 + 63) / 64 + 1);
    for (auto _ : state)
        benchmark::DoNotOptimize(validate_and_decode(words.data(), size, bitmap));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
    state.counters["record_MB"] = static_cast<double>(size) / 1e6;
}

// The parts of validate+decode on their own, to see where the time goes.
void BM_StructureWalk(benchmark::State &state)
{
    std::vector<u64> &words = buffer();
    const u64 size = encode(words.data(), words.size() * 8, false);
    std::vector<u64> bitmap((size / 8 + 63) / 64 + 1);
    for (auto _ : state) {
        wire::MessageReader message(words.data(), size);
        benchmark::DoNotOptimize(message.check_structure(bitmap.data(), bitmap.size()));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

// The fastest repetition: on a shared machine the least disturbed one.
double minimum(const std::vector<double> &values)
{
    double low = values.empty() ? 0 : values[0];
    for (const double value : values)
        low = value < low ? value : low;
    return low;
}

// Arg 0: one preserved range for all guest RAM; arg 1: one per p2m range (10^6 more).
BENCHMARK(BM_Encode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->ComputeStatistics("min", minimum);
BENCHMARK(BM_ValidateDecode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->ComputeStatistics("min", minimum);
BENCHMARK(BM_StructureWalk)->Unit(benchmark::kMillisecond)->ComputeStatistics("min", minimum);

} // namespace

BENCHMARK_MAIN();
