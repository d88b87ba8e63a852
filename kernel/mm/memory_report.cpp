// SPDX-License-Identifier: MIT
// The memory report printed at boot (and asked for later over the control channel).
#include "mm/memory_report.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

MemoryReport memory_report(const FrameAllocator &frames)
{
    MemoryReport report;
    const FrameTable &table = frames.table();
    report.total_bytes = frames.usable_ram().total_bytes();
    report.free_bytes = frame_to_addr(frames.free_frame_count(MemClass::ephemeral));
    report.free_preserved_bytes = frame_to_addr(frames.free_frame_count(MemClass::preserved));
    report.bootmem = frames.bootmem_region();
    report.bootmem_free_bytes = frame_to_addr(frames.bootmem_zone().free_frames());
    report.bootmem_used_bytes = report.bootmem.size() - report.bootmem_free_bytes;
    report.frame_count = table.frames();
    report.frame_table_bytes = FrameTable::bytes_for(table.frames());
    report.preserved_index_bytes = align_up(align_up(PreservedIndex::bytes_for(table.frames()), sizeof(u64)) +
                                                FrameTable::ready_bytes_for(table.frames()),
                                            PAGE_SIZE);

    report.pending_bytes = frame_to_addr(frames.pending_frames());
    for (const PhysRange &range : frames.usable_ram()) {
        frame_t end = range.end_frame() < table.frames() ? range.end_frame() : table.frames();
        for (frame_t frame = range.first_frame(); frame < end; frame++) {
            // A report must not build the table: sections not built yet are counted, not read.
            if (!table.section_ready(frame)) {
                frame_t section_end = align_up(frame + 1, FRAME_SECTION_FRAMES);
                frame_t stop = section_end < end ? section_end : end;
                report.unbuilt_bytes += frame_to_addr(stop - frame);
                frame = stop - 1;
                continue;
            }
            const FrameEntry &entry = table[frame];
            if (entry.has(FRAME_EXTRA_PAGE))
                report.extra_frames++;
            switch (entry.type) {
            case FrameType::free: break;
            case FrameType::reserved: report.reserved_ram_bytes += PAGE_SIZE; break;
            case FrameType::kernel_image: report.kernel_image_bytes += PAGE_SIZE; break;
            case FrameType::boot_info: report.boot_info_bytes += PAGE_SIZE; break;
            case FrameType::boot_module: report.boot_module_bytes += PAGE_SIZE; break;
            case FrameType::boot_alloc: report.boot_frames++; break;
            default:
                if (entry.has(FRAME_PRESERVED))
                    report.preserved_frames++;
                else
                    report.ephemeral_frames++;
                break;
            }
        }
    }
    report.boot_bytes = frame_to_addr(report.boot_frames);
    report.ephemeral_bytes = frame_to_addr(report.ephemeral_frames);
    report.preserved_bytes = frame_to_addr(report.preserved_frames);
    return report;
}

namespace {
// format_size() into a small buffer that lives as long as the statement using it.
struct Size {
    explicit Size(u64 bytes) { format_size(text, sizeof(text), bytes); }
    char text[24];
};
} // namespace

void write_memory_report(const MemoryReport &report, ReportLineSink sink, void *context)
{
    char line[192];
    auto emit = [&](usize) { sink(context, line); };
    emit(format(line, sizeof(line), "mem: total %s, free %s (preserved allocations can use %s)",
                Size(report.total_bytes).text, Size(report.free_bytes).text, Size(report.free_preserved_bytes).text));
    // Exact counts, for leak checks across live updates.
    emit(format(line, sizeof(line), "mem: free frames %lu, preserved frames %lu", report.free_bytes / PAGE_SIZE,
                report.preserved_frames));
    emit(format(line, sizeof(line), "mem: lu_bootmem 0x%lx-0x%lx (%s), ephemeral used %s, free %s",
                report.bootmem.start, report.bootmem.end, Size(report.bootmem.size()).text,
                Size(report.bootmem_used_bytes).text, Size(report.bootmem_free_bytes).text));
    emit(format(line, sizeof(line), "mem: ephemeral %s in %lu frames, boot-time %s in %lu frames",
                Size(report.ephemeral_bytes).text, report.ephemeral_frames, Size(report.boot_bytes).text,
                report.boot_frames));
    emit(format(line, sizeof(line), "mem: preserved %s in %lu frames, extra pages %lu",
                Size(report.preserved_bytes).text, report.preserved_frames, report.extra_frames));
    emit(format(line, sizeof(line),
                "mem: kept out of the heap: kernel image %s, boot info %s, boot modules %s, reserved %s",
                Size(report.kernel_image_bytes).text, Size(report.boot_info_bytes).text,
                Size(report.boot_module_bytes).text, Size(report.reserved_ram_bytes).text));
    emit(format(line, sizeof(line),
                "mem: frame table %s for %lu frames (%lu B each), preserved-block index and section map %s",
                Size(report.frame_table_bytes).text, report.frame_count, sizeof(FrameEntry),
                Size(report.preserved_index_bytes).text));
    // Counts above are exact once both are 0 (docs/memory.md, deferred start-up).
    emit(format(line, sizeof(line), "mem: deferred: %s free not yet in the heap, %s not yet in the frame table",
                Size(report.pending_bytes).text, Size(report.unbuilt_bytes).text));
}

void print_memory_report(const MemoryReport &report)
{
    write_memory_report(
        report, [](void *, const char *line) { log_info("%s", line); }, nullptr);
}
