// SPDX-License-Identifier: MIT
// The memory report printed at boot (and asked for later over the control channel).
#pragma once
#include "mm/frames.hpp"

struct MemoryReport {
    u64 total_bytes = 0; // usable RAM according to the memory map
    u64 free_bytes = 0; // in both zones
    u64 free_preserved_bytes = 0; // what a preserved allocation can draw on
    PhysRange bootmem; // the live-update bootmem region
    u64 bootmem_free_bytes = 0;
    u64 bootmem_used_bytes = 0; // boot-time and ephemeral allocations inside the region
    u64 ephemeral_bytes = 0; // allocated ephemeral frames, boot-time ones excluded
    u64 ephemeral_frames = 0;
    u64 boot_bytes = 0; // the boot allocator's, frame table included
    u64 boot_frames = 0;
    u64 preserved_bytes = 0;
    u64 preserved_frames = 0;
    u64 extra_frames = 0;
    u64 kernel_image_bytes = 0;
    u64 boot_info_bytes = 0;
    u64 boot_module_bytes = 0;
    u64 reserved_ram_bytes = 0; // usable RAM kept out of the heap: low memory
    u64 frame_table_bytes = 0;
    u64 preserved_index_bytes = 0; // the preserved-block index beside it, whole pages
    u64 frame_count = 0;
    // A deferred start-up (after a live update) still going: free memory not yet in a
    // zone, and usable RAM whose frame-table entries are not built (counted nowhere
    // above).
    u64 pending_bytes = 0;
    u64 unbuilt_bytes = 0;
};

// Counts by walking the frame table over usable RAM: the table is the one truth. Parts of
// the table not built yet are counted as such, not built.
MemoryReport memory_report(const FrameAllocator &frames);

// Writes the report as stable, greppable `mem:` lines, one call of `sink` per line.
using ReportLineSink = void (*)(void *context, const char *line);
void write_memory_report(const MemoryReport &report, ReportLineSink sink, void *context);
// Logs those lines at info level.
void print_memory_report(const MemoryReport &report);
