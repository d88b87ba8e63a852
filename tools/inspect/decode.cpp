// SPDX-License-Identifier: MIT
// baton-inspect decode: the record as readable text, or as JSON.
#include "inspect.hpp"
#include <algorithm>
#include <capnp/compat/json.h>

namespace inspect {

namespace {

namespace rec = baton::record;

std::string domain_flags(uint32_t flags)
{
    std::string text;
    if (flags & rec::DOMAIN_FLAG_PRIVILEGED)
        text += " privileged";
    if (flags & rec::DOMAIN_FLAG_CONSOLE)
        text += " console";
    const uint32_t unknown = flags & ~(rec::DOMAIN_FLAG_PRIVILEGED | rec::DOMAIN_FLAG_CONSOLE);
    if (unknown != 0)
        text += " " + hex(unknown);
    return text.empty() ? "none" : text.substr(1);
}

template <typename E>
std::string name(E value)
{
    return enum_text(capnp::DynamicEnum(capnp::Schema::from<E>(), static_cast<uint16_t>(value)));
}

std::string plural(uint64_t count, const char *noun)
{
    return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string trimmed(std::string text)
{
    while (!text.empty() && text.back() == ' ')
        text.pop_back();
    return text;
}

// Fields added in ABI v3 are shown for records of v3 and later writers, or when set.
bool shows_v3(rec::Handover::Reader record) { return record.getAbiVersion() >= 3; }
// Likewise the fields of v6 (the CPU a vCPU last ran on).
bool shows_v6(rec::Handover::Reader record) { return record.getAbiVersion() >= 6; }

std::string view_text(uint16_t view) { return view == 0 ? "0 (host)" : std::to_string(view); }

void print_vcpu(FILE *out, rec::VcpuState::Reader vcpu, bool v3, bool v6)
{
    fprintf(out, "  vcpu %u: %s", vcpu.getId(), name(vcpu.getRunState()).c_str());
    if (v3 || vcpu.getAltp2mView() != 0)
        fprintf(out, ", p2m view %s", view_text(vcpu.getAltp2mView()).c_str());
    if (v6 || vcpu.getLastCpu() != 0)
        fprintf(out, ", last ran on CPU %u", vcpu.getLastCpu());
    fprintf(out, "\n");
    // The registers generically, three to a line, so that new fields show up unasked.
    const capnp::DynamicStruct::Reader dynamic = vcpu;
    int column = 0;
    std::string line;
    const auto flush = [&] {
        if (column != 0)
            fprintf(out, "    %s\n", trimmed(line).c_str());
        column = 0;
        line.clear();
    };
    for (auto field : dynamic.getSchema().getFields()) {
        const std::string field_name = field.getProto().getName();
        if (field_name == "id" || field_name == "runState" || field_name == "altp2mView" || field_name == "lastCpu")
            continue; // on the first line
        const auto type = field.getType();
        if (type.isStruct() || type.isList() || type.isData()) {
            if (type.isStruct() && !dynamic.has(field))
                continue;
            flush();
            fprintf(out, "    %-12s %s\n", field_name.c_str(), field_value_text(field, dynamic.get(field)).c_str());
            continue;
        }
        char cell[80];
        snprintf(cell, sizeof(cell), "%-12s %-19s", field_name.c_str(),
                 field_value_text(field, dynamic.get(field)).c_str());
        line += cell;
        if (++column == 3)
            flush();
    }
    flush();
}

// The domain's alternate views: per entry the guest frames, what they show (the same
// frames, or the host view's frames elsewhere) and the rights.
void print_altp2m_views(FILE *out, capnp::List<rec::Altp2mView>::Reader views)
{
    if (views.size() == 0) {
        fprintf(out, "  altp2m views: none\n");
        return;
    }
    fprintf(out, "  altp2m views: %u\n", views.size());
    for (auto view : views) {
        const auto entries = view.getEntries();
        fprintf(out, "    view %u: %u %s%s\n", view.getIndex(), entries.size(),
                entries.size() == 1 ? "entry" : "entries", entries.size() == 0 ? " (the host p2m)" : "");
        for (auto entry : entries) {
            const bool remap = entry.getTargetGuestFrame() != entry.getGuestFrame();
            fprintf(out, "      guest %-22s -> %-30s %s\n",
                    frames_text(entry.getGuestFrame(), entry.getFrameCount()).c_str(),
                    remap ? ("guest " + frames_text(entry.getTargetGuestFrame(), entry.getFrameCount())).c_str()
                          : "(same frames)",
                    name(entry.getAccess()).c_str());
        }
    }
}

// A PC guest's devices (v4), one line each: what a reader of the record wants to know
// (programming, what is pending), not every field (decode --json has them all).
void print_pc_platform(FILE *out, rec::PcPlatform::Reader pc)
{
    fprintf(out, "  pc platform:\n");
    for (uint32_t i = 0; i < pc.getPit().size(); i++) {
        const auto channel = pc.getPit()[i];
        fprintf(out, "    pit channel %u: mode %u, count %u, %s\n", i, channel.getMode(), channel.getCount(),
                channel.getCounting() != 0 ? "counting" : "stopped");
    }
    static const char *const chips[] = {"master", "slave"};
    for (uint32_t i = 0; i < pc.getPic().size() && i < 2; i++) {
        const auto chip = pc.getPic()[i];
        fprintf(out, "    pic %s: vectors %s, mask %s, requests %s, in service %s\n", chips[i],
                hex(chip.getVectorBase()).c_str(), hex(chip.getImr()).c_str(), hex(chip.getIrr()).c_str(),
                hex(chip.getIsr()).c_str());
    }
    const auto ioapic = pc.getIoapic();
    uint32_t unmasked = 0;
    for (uint64_t entry : ioapic.getRedirection())
        unmasked += (entry & (1u << 16)) == 0 ? 1 : 0;
    fprintf(out, "    io-apic %u: %u pins, %u unmasked, asserted %s\n", ioapic.getId() >> 24,
            ioapic.getRedirection().size(), unmasked, hex(ioapic.getLevels()).c_str());
    for (auto lapic : pc.getLapics()) {
        uint32_t pending = 0, in_service = 0;
        for (uint32_t word : lapic.getIrr())
            pending += static_cast<uint32_t>(__builtin_popcount(word));
        for (uint32_t word : lapic.getIsr())
            in_service += static_cast<uint32_t>(__builtin_popcount(word));
        fprintf(out, "    local apic %u: svr %s, tpr %s, timer lvt %s, tsc deadline %lu, %u pending, %u in service\n",
                lapic.getId() >> 24, hex(lapic.getSvr()).c_str(), hex(lapic.getTpr()).c_str(),
                lapic.getLvt().size() != 0 ? hex(lapic.getLvt()[0]).c_str() : "-", lapic.getTscDeadline(), pending,
                in_service);
    }
    const auto uart = pc.getUart();
    fprintf(out, "    uart: ier %s, lcr %s, mcr %s, %u received bytes waiting\n", hex(uart.getIer()).c_str(),
            hex(uart.getLcr()).c_str(), hex(uart.getMcr()).c_str(), uart.getRxCount());
    fprintf(out, "    rtc: unix time %lu at tsc %lu, register index %s\n", pc.getRtc().getSeconds(),
            pc.getRtc().getEpochTsc(), hex(pc.getRtc().getIndex()).c_str());
}

void print_domain(FILE *out, rec::Domain::Reader domain, bool v3, bool v6)
{
    fprintf(out, "domain %u \"%s\": %s, flags %s, max frames %s, upcall vector %s\n", domain.getId(),
            domain.getName().cStr(), name(domain.getState()).c_str(), domain_flags(domain.getFlags()).c_str(),
            hex(domain.getMaxFrames()).c_str(), hex(domain.getUpcallVector()).c_str());
    // v2 fields, when set (records of v1 writers decode as they always did).
    if (domain.getCreatedTsc() != 0)
        fprintf(out, "  created: tsc %lu\n", domain.getCreatedTsc());
    if (domain.getStopReason().size() != 0)
        fprintf(out, "  stop reason: \"%s\"\n", domain.getStopReason().cStr());
    if (domain.getConsoleLine().size() != 0) // v4
        fprintf(out, "  console line: \"%s\"\n", domain.getConsoleLine().cStr());
    // v4: only PC guests say so (every older record's domains are Baton guests).
    if (domain.getGuestKind() != rec::GuestKind::BATON) {
        fprintf(out, "  guest: %s\n", name(domain.getGuestKind()).c_str());
        if (domain.hasPcPlatform())
            print_pc_platform(out, domain.getPcPlatform());
    }

    uint64_t ranges = 0;
    for (auto chunk : domain.getP2m())
        ranges += chunk.getRanges().size();
    fprintf(out, "  p2m: %s in %s\n", plural(ranges, "range").c_str(), plural(domain.getP2m().size(), "chunk").c_str());
    for (auto chunk : domain.getP2m())
        for (auto range : chunk.getRanges()) {
            // Emulated MMIO has no machine frames; show one that is set all the same.
            const bool emulated = range.getType() == rec::P2mType::MMIO_EMULATED && range.getMachineFrame() == 0;
            fprintf(out, "    guest %-22s -> %-30s %-8s %s\n",
                    frames_text(range.getGuestFrame(), range.getFrameCount()).c_str(),
                    emulated ? "(emulated)"
                             : ("machine " + frames_text(range.getMachineFrame(), range.getFrameCount())).c_str(),
                    name(range.getType()).c_str(), name(range.getAccess()).c_str());
        }
    if (v3 || domain.getAltp2mViews().size() != 0)
        print_altp2m_views(out, domain.getAltp2mViews());

    fprintf(out, "  extra pages: %u\n", domain.getExtraPages().size());
    for (auto page : domain.getExtraPages())
        fprintf(out, "    %-10s vcpu %u guest %s -> machine %s\n", name(page.getRole()).c_str(), page.getVcpu(),
                page.getGuestFrame() == rec::NO_GUEST_FRAME ? "(not mapped)" : hex(page.getGuestFrame()).c_str(),
                hex(page.getMachineFrame()).c_str());

    for (auto vcpu : domain.getVcpus())
        print_vcpu(out, vcpu, v3, v6);

    fprintf(out, "  event channels: %u\n", domain.getEventChannels().size());
    for (auto channel : domain.getEventChannels()) {
        fprintf(out, "    port %u %s", channel.getPort(), name(channel.getState()).c_str());
        switch (channel.getState()) {
        case rec::EventChannelState::INTERDOMAIN:
            fprintf(out, " -> domain %u port %u", channel.getRemoteDomain(), channel.getRemotePort());
            break;
        case rec::EventChannelState::UNBOUND: fprintf(out, " for domain %u", channel.getRemoteDomain()); break;
        case rec::EventChannelState::VIRQ: fprintf(out, " %u", channel.getVirq()); break;
        default: break;
        }
        // Timer ports, and any other port a writer wrongly gave timer fields.
        if (channel.getState() == rec::EventChannelState::TIMER || channel.getTimerPeriodNs() != 0 ||
            channel.getTimerDeadlineTsc() != 0)
            fprintf(out, " every %lu ns, next at tsc %lu", channel.getTimerPeriodNs(), channel.getTimerDeadlineTsc());
        fprintf(out, ", notify vcpu %u%s%s\n", channel.getNotifyVcpu(), channel.getPending() ? ", pending" : "",
                channel.getMasked() ? ", masked" : "");
    }

    const auto log_dirty = domain.getLogDirty();
    if (log_dirty.getMode() == rec::LogDirtyMode::OFF)
        fprintf(out, "  log-dirty: off\n");
    else
        fprintf(out, "  log-dirty: %s, bitmap frames %s covering %lu guest frames, %lu dirty\n",
                name(log_dirty.getMode()).c_str(),
                frames_text(log_dirty.getBitmap().getFirstFrame(), log_dirty.getBitmap().getFrameCount()).c_str(),
                log_dirty.getGuestFrames(), log_dirty.getDirtyCount());
    if (domain.getNestedPageTableRoot() == 0)
        fprintf(out, "  nested page tables: rebuilt from the p2m\n");
    else
        fprintf(out, "  nested page tables: adopted, root %s\n", hex(domain.getNestedPageTableRoot()).c_str());
}

void print_iommu(FILE *out, rec::Handover::Reader record)
{
    fprintf(out, "iommu units: %u\n", record.getIommu().size());
    uint32_t index = 0;
    for (auto unit : record.getIommu()) {
        fprintf(out, "  unit %u: %s, segment %u, registers %s, translation %s\n", index++, name(unit.getKind()).c_str(),
                unit.getSegment(), hex(unit.getRegisterBase()).c_str(), unit.getTranslationEnabled() ? "on" : "off");
        fprintf(out, "    root table frames %s\n",
                frames_text(unit.getRootTable().getFirstFrame(), unit.getRootTable().getFrameCount()).c_str());
        for (auto device : unit.getDevices()) {
            const unsigned rid = device.getRequesterId();
            fprintf(out, "    device %02x:%02x.%u -> domain %u, page table %s (%u levels)\n", rid >> 8, (rid >> 3) & 31,
                    rid & 7, device.getDomainId(), hex(device.getPageTableRoot()).c_str(), device.getPageTableLevels());
        }
        for (auto frames : unit.getTableFrames()) {
            fprintf(out, "    %-13s %s", name(frames.getKind()).c_str(),
                    frames_text(frames.getFirstFrame(), frames.getFrameCount()).c_str());
            if (frames.getDomainId() != rec::NO_DOMAIN)
                fprintf(out, " domain %u", frames.getDomainId());
            fprintf(out, "\n");
        }
    }
}

void print_stamps(FILE *out, capnp::List<rec::PhaseStamp>::Reader stamps, uint64_t tsc_khz)
{
    uint64_t first_tsc = 0;
    bool first = true;
    for (auto stamp : stamps) {
        fprintf(out, "  %-14s tsc %lu", name(stamp.getPhase()).c_str(), stamp.getTsc());
        if (!first && stamp.getTsc() >= first_tsc)
            fprintf(out, " (+%s)", duration_text(stamp.getTsc() - first_tsc, tsc_khz).c_str());
        else if (!first)
            fprintf(out, " (before the first stamp)");
        fprintf(out, "\n");
        if (first)
            first_tsc = stamp.getTsc(), first = false;
    }
}

std::string image_text(rec::ImageCopy::Reader image)
{
    if (image.getBytes() == 0)
        return "none";
    char text[160];
    snprintf(text, sizeof(text), "%s at 0x%lx, build %s (%s)", size_text(image.getBytes()).c_str(), image.getAddress(),
             image.getBuildId().cStr(), image.getPreserved() ? "preserved" : "boot module");
    return text;
}

// v5: the update as a transaction (the way back, and the rollbacks so far).
void print_transaction(FILE *out, rec::Handover::Reader record)
{
    fprintf(out, "writer image: %s\n", image_text(record.getWriterImage()).c_str());
    fprintf(out, "next image: %s\n", image_text(record.getNextImage()).c_str());
    const auto kit = record.getRollbackKit();
    const std::string kit_text =
        kit.getFrameCount() == 0 ? "none" : "frames " + frames_text(kit.getFirstFrame(), kit.getFrameCount());
    fprintf(out, "rollback kit: %s\n", kit_text.c_str());
    fprintf(out, "rollbacks: %lu\n", record.getRollbackCount());
    const auto last = record.getLastRollback();
    if (last.getFailedBuildId().size() != 0)
        fprintf(out, "last rollback: build %s (version %s) failed after phase %s at tsc %lu: %s\n",
                last.getFailedBuildId().cStr(), last.getFailedVersion().cStr(), name(last.getReachedPhase()).c_str(),
                last.getFailedTsc(), last.getReason().cStr());
}

} // namespace

int decode_text(const RecordFile &file, FILE *out)
{
    file.require_record();
    const rec::Handover::Reader record = file.root();
    fprintf(out, "handover record: %zu bytes, ABI version %u (readers from version %u)\n", file.size(),
            record.getAbiVersion(), record.getMinReaderVersion());
    fprintf(out, "writer: build %s, version %s\n", record.getWriterBuildId().cStr(), record.getWriterVersion().cStr());
    fprintf(out, "created: tsc %lu at %lu kHz, unix time %lu\n", record.getCreatedTsc(), record.getTscKhz(),
            record.getCreatedUnixSeconds());
    // v7: shown for records of v7 and later writers, or when set.
    if (record.getAbiVersion() >= 7 || record.getLapicTimerKhz() != 0)
        fprintf(out, "local APIC timer: %lu kHz%s\n", record.getLapicTimerKhz(),
                record.getLapicTimerKhz() == 0 ? " (unknown: the reader measures it)" : "");
    // v2: shown for records of v2 and later writers, or when set.
    const bool has_v2_header = record.getAbiVersion() >= 2 || record.getTimeOriginTsc() != 0 ||
                               record.getUpdateCount() != 0 || record.getLastUpdate().size() != 0;
    if (has_v2_header) {
        fprintf(out, "clock: time origin tsc %lu", record.getTimeOriginTsc());
        if (record.getTimeOriginTsc() <= record.getCreatedTsc())
            fprintf(out, " (%s before this record)",
                    duration_text(record.getCreatedTsc() - record.getTimeOriginTsc(), record.getTscKhz()).c_str());
        fprintf(out, "; update %lu\n", record.getUpdateCount());
    }
    const auto bootmem = record.getBootmem();
    fprintf(out, "bootmem: frames %s (%s)\n", frames_text(bootmem.getFirstFrame(), bootmem.getFrameCount()).c_str(),
            size_text(bootmem.getFrameCount() * 4096).c_str());
    uint64_t ram_frames = 0;
    for (auto range : record.getRam())
        ram_frames += range.getFrameCount();
    fprintf(out, "ram: %s, %s\n", plural(record.getRam().size(), "range").c_str(),
            size_text(ram_frames * 4096).c_str());
    for (auto range : record.getRam())
        fprintf(out, "  frames %s (%s)\n", frames_text(range.getFirstFrame(), range.getFrameCount()).c_str(),
                size_text(range.getFrameCount() * 4096).c_str());

    fprintf(out, "domains: %u\n", record.getDomains().size());
    for (auto domain : record.getDomains())
        print_domain(out, domain, shows_v3(record), shows_v6(record));
    print_iommu(out, record);

    uint64_t count = 0, frames = 0;
    for (auto chunk : record.getPreserved())
        for (auto range : chunk.getRanges())
            count++, frames += range.getFrameCount();
    fprintf(out, "preserved: %s in %s, %s\n", plural(count, "range").c_str(),
            plural(record.getPreserved().size(), "chunk").c_str(), size_text(frames * 4096).c_str());
    for (auto chunk : record.getPreserved())
        for (auto range : chunk.getRanges()) {
            std::string line = "  frames " + frames_text(range.getFirstFrame(), range.getFrameCount());
            line.resize(std::max<size_t>(line.size() + 1, 33), ' ');
            line += name(range.getKind());
            if (range.getDomainId() != rec::NO_DOMAIN)
                line.resize(std::max<size_t>(line.size() + 1, 50), ' '),
                    line += "domain " + std::to_string(range.getDomainId());
            fprintf(out, "%s\n", line.c_str());
        }

    if (record.getAbiVersion() >= 5 || record.getRollbackCount() != 0 || record.getRollbackKit().getFrameCount() != 0)
        print_transaction(out, record);
    fprintf(out, "phases: %u\n", record.getPhases().size());
    print_stamps(out, record.getPhases(), record.getTscKhz());
    if (has_v2_header) {
        const auto last_update = record.getLastUpdate();
        if (last_update.size() == 0) {
            fprintf(out, "last update: none (cold boot)\n");
        } else {
            fprintf(out, "last update: %u phases", last_update.size());
            const PhaseTimes times(last_update);
            if (times.has_blackout())
                fprintf(out, ", blackout %s", duration_text(times.blackout(), record.getTscKhz()).c_str());
            fprintf(out, "\n");
            print_stamps(out, last_update, record.getTscKhz());
        }
    }
    return exit_ok;
}

int decode_json(const RecordFile &file, FILE *out)
{
    file.require_record();
    capnp::JsonCodec codec;
    codec.setPrettyPrint(true);
    const kj::String text = codec.encode(file.root());
    fprintf(out, "%s\n", text.cStr());
    return exit_ok;
}

} // namespace inspect
