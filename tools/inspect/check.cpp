// SPDX-License-Identifier: MIT
// baton-inspect validate and stats: the kernel's own checks, and where the bytes go.
#include "handover/validate.hpp"
#include "inspect.hpp"
#include <cstring>
#include <vector>

namespace inspect {

namespace {

namespace rec = baton::record;

bool print_finding(void *context, const handover::Finding &finding)
{
    auto *lines = static_cast<std::vector<std::string> *>(context);
    char line[512];
    handover::describe(finding, line, sizeof(line));
    lines->push_back(std::string(line) + "  [" + handover::subject_name(finding.subject) + "." +
                     handover::problem_name(finding.problem) + "]");
    return true;
}

struct Totals {
    uint64_t vcpus = 0, p2m_ranges = 0, p2m_chunks = 0, ram_mapped_frames = 0, mmio_frames = 0;
    uint64_t emulated_mmio_frames = 0, timer_ports = 0;
    uint64_t extra_pages = 0, event_channels = 0, preserved_ranges = 0, preserved_frames = 0;
    uint64_t iommu_devices = 0, iommu_frame_ranges = 0;
    uint64_t domains_with_views = 0, altp2m_views = 0, altp2m_entries = 0, altp2m_remaps = 0;
    uint64_t header_words = 0, ram_words = 0, domain_words = 0, p2m_words = 0, vcpu_words = 0, altp2m_words = 0,
             iommu_words = 0, preserved_words = 0, phase_words = 0, last_update_words = 0;
};

// Words of everything a pointer field leads to (a list's tag included); 0 for a field
// beyond an older writer's struct.
template <typename R>
uint64_t field_words(R reader, const char *field)
{
    const capnp::StructSchema schema = capnp::Schema::from<typename R::Reads>();
    const uint32_t index = schema.getFieldByName(field).getProto().getSlot().getOffset();
    const auto pointers = capnp::AnyStruct::Reader(reader).getPointerSection();
    return index < pointers.size() ? pointers[index].targetSize().wordCount : 0;
}

Totals count(rec::Handover::Reader record, size_t message_bytes)
{
    Totals t;
    for (auto domain : record.getDomains()) {
        t.vcpus += domain.getVcpus().size();
        t.extra_pages += domain.getExtraPages().size();
        t.event_channels += domain.getEventChannels().size();
        for (auto channel : domain.getEventChannels())
            t.timer_ports += channel.getState() == rec::EventChannelState::TIMER ? 1 : 0;
        t.p2m_chunks += domain.getP2m().size();
        t.p2m_words += field_words(domain, "p2m");
        t.vcpu_words += field_words(domain, "vcpus");
        t.altp2m_words += field_words(domain, "altp2mViews");
        t.domains_with_views += domain.getAltp2mViews().size() != 0 ? 1 : 0;
        for (auto view : domain.getAltp2mViews()) {
            t.altp2m_views++;
            for (auto entry : view.getEntries()) {
                t.altp2m_entries++;
                t.altp2m_remaps += entry.getTargetGuestFrame() != entry.getGuestFrame() ? 1 : 0;
            }
        }
        for (auto chunk : domain.getP2m())
            for (auto range : chunk.getRanges()) {
                t.p2m_ranges++;
                switch (range.getType()) {
                case rec::P2mType::RAM_RW:
                case rec::P2mType::RAM_RO:
                case rec::P2mType::LOG_DIRTY: t.ram_mapped_frames += range.getFrameCount(); break;
                case rec::P2mType::MMIO: t.mmio_frames += range.getFrameCount(); break;
                case rec::P2mType::MMIO_EMULATED: t.emulated_mmio_frames += range.getFrameCount(); break;
                default: break; // holes, and types of newer writers
                }
            }
    }
    for (auto chunk : record.getPreserved())
        for (auto range : chunk.getRanges())
            t.preserved_ranges++, t.preserved_frames += range.getFrameCount();
    for (auto unit : record.getIommu())
        t.iommu_devices += unit.getDevices().size(), t.iommu_frame_ranges += unit.getTableFrames().size();
    t.ram_words = field_words(record, "bootmem") + field_words(record, "ram");
    t.domain_words = field_words(record, "domains");
    t.iommu_words = field_words(record, "iommu");
    t.preserved_words = field_words(record, "preserved");
    t.phase_words = field_words(record, "phases");
    t.last_update_words = field_words(record, "lastUpdate");
    // The rest: segment table, root pointer, root struct, the writer's texts.
    t.header_words = message_bytes / 8 - t.ram_words - t.domain_words - t.iommu_words - t.preserved_words -
                     t.phase_words - t.last_update_words;
    return t;
}

std::string phase_name(rec::Phase phase)
{
    return enum_text(capnp::DynamicEnum(capnp::Schema::from<rec::Phase>(), static_cast<uint16_t>(phase)));
}

// The update that started the writer, phase by phase: each stamp's distance from the
// one before, in microseconds (null without a TSC frequency or if time ran backwards).
std::string last_update_json(rec::Handover::Reader record)
{
    std::string text = "[";
    uint64_t previous = 0;
    bool first = true;
    for (auto stamp : record.getLastUpdate()) {
        char since[48] = "null";
        if (!first && record.getTscKhz() != 0 && stamp.getTsc() >= previous)
            snprintf(since, sizeof(since), "%.1f", micros(stamp.getTsc() - previous, record.getTscKhz()));
        text += std::string(first ? "" : ", ") + "{\"phase\": \"" + phase_name(stamp.getPhase()) +
                "\", \"tsc\": " + std::to_string(stamp.getTsc()) + ", \"sincePreviousUs\": " + since + "}";
        previous = stamp.getTsc();
        first = false;
    }
    return text + "]";
}

std::string blackout_json(rec::Handover::Reader record)
{
    const PhaseTimes times(record.getLastUpdate());
    if (!times.has_blackout() || record.getTscKhz() == 0)
        return "null";
    char text[48];
    snprintf(text, sizeof(text), "%.1f", micros(times.blackout(), record.getTscKhz()));
    return text;
}

void print_last_update(FILE *out, rec::Handover::Reader record)
{
    const auto stamps = record.getLastUpdate();
    const uint64_t khz = record.getTscKhz();
    const PhaseTimes times(stamps);
    fprintf(out, "last update:      %u phases", stamps.size());
    if (times.has_blackout())
        fprintf(out, ", blackout %s (paused -> resumed)", micros_text(times.blackout(), khz).c_str());
    fprintf(out, "\n");
    uint64_t previous = 0;
    bool first = true;
    for (auto stamp : stamps) {
        const std::string phase = phase_name(stamp.getPhase());
        if (first)
            fprintf(out, "  %-14s tsc %lu\n", phase.c_str(), stamp.getTsc());
        else if (stamp.getTsc() >= previous)
            fprintf(out, "  %-14s +%s\n", phase.c_str(), micros_text(stamp.getTsc() - previous, khz).c_str());
        else
            fprintf(out, "  %-14s tsc %lu, before the previous stamp\n", phase.c_str(), stamp.getTsc());
        previous = stamp.getTsc();
        first = false;
    }
}

} // namespace

int validate(const RecordFile &file, FILE *out)
{
    std::vector<std::string> lines;
    if (!file.structure_error().empty()) {
        lines.push_back("record: " + file.structure_error() + "  [header.structure]");
    } else {
        std::vector<uint64_t> words(file.size() / 8);
        memcpy(words.data(), file.bytes(), file.size());
        handover::wire::MessageReader message(words.data(), file.size());
        const handover::schema::Handover::Reader record(message.root());
        handover::validate_record(message, record, handover::ValidationLimits{}, print_finding, &lines);
    }
    if (lines.empty()) {
        const rec::Handover::Reader root = file.root();
        fprintf(out, "%s: valid (ABI version %u, %u domain%s)\n", file.name().c_str(), root.getAbiVersion(),
                root.getDomains().size(), root.getDomains().size() == 1 ? "" : "s");
        return exit_ok;
    }
    fprintf(out, "%s: %zu problem%s\n", file.name().c_str(), lines.size(), lines.size() == 1 ? "" : "s");
    for (const std::string &line : lines)
        fprintf(out, "  %s\n", line.c_str());
    return exit_findings;
}

int stats(const RecordFile &file, bool json, FILE *out)
{
    file.require_record();
    const rec::Handover::Reader record = file.root();
    const Totals t = count(record, file.size());
    const uint64_t domains = record.getDomains().size();
    if (json) {
        fprintf(out,
                "{\n  \"bytes\": %zu,\n  \"abiVersion\": %u,\n  \"domains\": %lu,\n  \"vcpus\": %lu,\n"
                "  \"p2mRanges\": %lu,\n  \"p2mChunks\": %lu,\n  \"ramMappedFrames\": %lu,\n"
                "  \"extraPages\": %lu,\n  \"eventChannels\": %lu,\n  \"preservedRanges\": %lu,\n"
                "  \"preservedBytes\": %lu,\n  \"iommuUnits\": %u,\n  \"mmioFrames\": %lu,\n"
                "  \"emulatedMmioFrames\": %lu,\n  \"timerPorts\": %lu,\n  \"updateCount\": %lu,\n"
                "  \"lastUpdate\": %s,\n  \"lastUpdateBlackoutUs\": %s,\n  \"altp2mViews\": %lu,\n"
                "  \"altp2mEntries\": %lu,\n  \"altp2mRemaps\": %lu,\n  \"sections\": {\"header\": %lu, "
                "\"ram\": %lu, \"domains\": %lu, \"p2m\": %lu, \"vcpus\": %lu, \"altp2m\": %lu, \"iommu\": %lu, "
                "\"preserved\": %lu, \"phases\": %lu, \"lastUpdate\": %lu}\n}\n",
                file.size(), record.getAbiVersion(), domains, t.vcpus, t.p2m_ranges, t.p2m_chunks, t.ram_mapped_frames,
                t.extra_pages, t.event_channels, t.preserved_ranges, t.preserved_frames * 4096,
                record.getIommu().size(), t.mmio_frames, t.emulated_mmio_frames, t.timer_ports, record.getUpdateCount(),
                last_update_json(record).c_str(), blackout_json(record).c_str(), t.altp2m_views, t.altp2m_entries,
                t.altp2m_remaps, t.header_words * 8, t.ram_words * 8, t.domain_words * 8, t.p2m_words * 8,
                t.vcpu_words * 8, t.altp2m_words * 8, t.iommu_words * 8, t.preserved_words * 8, t.phase_words * 8,
                t.last_update_words * 8);
        return exit_ok;
    }
    fprintf(out, "record:           %zu bytes, ABI version %u", file.size(), record.getAbiVersion());
    if (file.segments() != 1)
        fprintf(out, " (in one segment; the file has %lu)", file.segments());
    fprintf(out, "\n");
    fprintf(out, "domains:          %lu with %lu vCPUs, %lu extra pages, %lu event channels", domains, t.vcpus,
            t.extra_pages, t.event_channels);
    if (t.timer_ports != 0)
        fprintf(out, " (%lu timer%s)", t.timer_ports, t.timer_ports == 1 ? "" : "s");
    fprintf(out, "\np2m ranges:       %lu in %lu chunks, mapping %s of RAM and %s of MMIO", t.p2m_ranges, t.p2m_chunks,
            size_text(t.ram_mapped_frames * 4096).c_str(), size_text(t.mmio_frames * 4096).c_str());
    if (t.emulated_mmio_frames != 0)
        fprintf(out, ", %s emulated", size_text(t.emulated_mmio_frames * 4096).c_str());
    fprintf(out, "\n");
    if (t.altp2m_views != 0)
        fprintf(out, "altp2m views:     %lu in %lu domain%s, %lu entries (%lu remaps)\n", t.altp2m_views,
                t.domains_with_views, t.domains_with_views == 1 ? "" : "s", t.altp2m_entries, t.altp2m_remaps);
    fprintf(out, "preserved ranges: %lu, %s preserved\n", t.preserved_ranges,
            size_text(t.preserved_frames * 4096).c_str());
    fprintf(out, "iommu units:      %u with %lu devices, %lu table frame ranges\n", record.getIommu().size(),
            t.iommu_devices, t.iommu_frame_ranges);
    if (record.getUpdateCount() != 0)
        fprintf(out, "update count:     %lu (this one included)\n", record.getUpdateCount());
    if (record.getLastUpdate().size() != 0)
        print_last_update(out, record);
    fprintf(out, "sections (bytes, with everything they point to):\n");
    const struct {
        const char *name;
        uint64_t words;
    } sections[] = {{"header", t.header_words},  {"bootmem+ram", t.ram_words},
                    {"domains", t.domain_words}, {"  p2m", t.p2m_words},
                    {"  vcpus", t.vcpu_words},   {"  altp2m", t.altp2m_words},
                    {"iommu", t.iommu_words},    {"preserved", t.preserved_words},
                    {"phases", t.phase_words},   {"last update", t.last_update_words}};
    for (const auto &section : sections)
        fprintf(out, "  %-12s %10lu  %5.1f%%\n", section.name, section.words * 8,
                100.0 * static_cast<double>(section.words * 8) / static_cast<double>(file.size()));
    return exit_ok;
}

} // namespace inspect
