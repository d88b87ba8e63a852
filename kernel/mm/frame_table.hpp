// SPDX-License-Identifier: MIT
// The frame table: one 16-byte entry per machine frame, from frame 0 to the RAM extent.
#pragma once
#include "mm/phys.hpp"

// Who a frame belongs to: a domain id, or one of the special owners below.
using frame_owner_t = u16;
inline constexpr frame_owner_t OWNER_NONE = 0xffff;
inline constexpr frame_owner_t OWNER_HYPERVISOR = 0xfffe;

enum class FrameType : u8 {
    free, // in a buddy zone
    reserved, // firmware, unusable, a hole in the map, or RAM kept out of the heap
    kernel_image, // this image's code and data
    boot_info, // the loader's boot information block
    boot_module, // a multiboot module (e.g. a staged next image)
    boot_alloc, // handed out by the boot allocator (frame table, early page tables)
    heap, // ephemeral kernel heap: slab pages and large heap blocks
    page_table, // a page-table page (hypervisor, nested or IOMMU)
    guest_ram, // a domain's memory
    extra, // a hypervisor-allocated page mapped into a guest (shared_info, ...)
    record, // the live-update handover record
    log_dirty_bitmap, // a domain's dirty bitmap, adopted in place by the next image
    hypervisor_image, // a hypervisor image's ELF kept for a live update and its rollback
    rollback_kit, // the old image's way back, until the new one commits
};
inline constexpr unsigned FRAME_TYPE_COUNT = static_cast<unsigned>(FrameType::rollback_kit) + 1;
const char *frame_type_name(FrameType type);

// Entry flags.
inline constexpr u8 FRAME_PRESERVED = 1u << 0; // survives a live update (set on every frame)
inline constexpr u8 FRAME_EXTRA_PAGE = 1u << 1; // mapped into its owner as an extra page
inline constexpr u8 FRAME_BLOCK_HEAD = 1u << 2; // first frame of an allocated block; `order` valid
inline constexpr u8 FRAME_FREE_HEAD = 1u << 3; // first frame of a free buddy block; `order` valid
inline constexpr u8 FRAME_SLAB = 1u << 4; // heap page cut into small objects (`slab` valid)
inline constexpr u8 FRAME_PENDING = 1u << 5; // free, but not yet given to a zone (deferred start-up)

// The table is built a section at a time: 2^9 frames (2 MiB), so that the part a live
// update needs before the guests resume costs what that part holds, not what RAM holds.
inline constexpr unsigned FRAME_SECTION_ORDER = 9;
inline constexpr frame_t FRAME_SECTION_FRAMES = frame_t{1} << FRAME_SECTION_ORDER;

inline constexpr u32 NO_FRAME_LINK = 0xffffffff;

struct FrameEntry {
    // What the frame is doing decides which view is live.
    union {
        struct {
            u32 next; // free-list links as frame indexes: buddy lists for free block
            u32 prev; // heads, the partial-page list for slab pages
        } link;
        struct {
            u32 refcount; // allocated block heads: references, 1 after allocation
            u32 tag; // free for the owner (e.g. a page-table level, a guest frame)
        } use;
    };
    frame_owner_t owner;
    FrameType type;
    u8 order; // log2 of the block size in frames, on block heads
    u8 flags;
    struct {
        u8 size_class; // index into the slab's size classes
        u8 in_use; // objects handed out from this page
        u8 free_index; // first free object, or SLAB_NO_OBJECT
    } slab;

    bool has(u8 flag) const { return (flags & flag) != 0; }
};
static_assert(sizeof(FrameEntry) == 16, "keep frame-table entries compact");

// Built lazily (init_lazy), a section's entries are written by its filler the first time
// anything reads or writes one of them, so no reader ever sees an unwritten entry: the
// filler marks what the section holds, every free frame FRAME_PENDING (FrameAllocator
// gives those to its zones later). Sections a mark() covers whole are written by it
// instead. With one CPU nothing else can run inside a fill; with more, filling must be
// serialized (docs/memory.md).
class FrameTable final {
public:
    // Frame indexes are 32-bit in the links: at most 16 TiB of RAM.
    static constexpr frame_t MAX_FRAMES = NO_FRAME_LINK;
    // Writes the entries of [first, end), one whole section, with write_entry().
    using SectionFiller = void (*)(void *context, FrameTable &table, frame_t first, frame_t end);

    static constexpr u64 bytes_for(frame_t frames) { return align_up(frames * sizeof(FrameEntry), PAGE_SIZE); }
    static constexpr frame_t sections_for(frame_t frames)
    {
        return (frames + FRAME_SECTION_FRAMES - 1) >> FRAME_SECTION_ORDER;
    }
    // Bytes of the ready-section bitmap init_lazy() needs.
    static constexpr u64 ready_bytes_for(frame_t frames) { return align_up(sections_for(frames), 64) / 8; }

    constexpr FrameTable() = default;

    // `entries` is where the table lives (through the direct map); every entry starts
    // out reserved and unowned, written here and now.
    void init(FrameEntry *entries, frame_t frames);
    // The same table with nothing written yet: `ready_words` (ready_bytes_for(frames))
    // tracks the sections written so far, `filler` writes one on first use.
    void init_lazy(FrameEntry *entries, frame_t frames, u64 *ready_words, SectionFiller filler, void *context);

    frame_t frames() const { return frames_; }
    bool contains(frame_t frame) const { return frame < frames_; }
    FrameEntry &operator[](frame_t frame)
    {
        make_ready(frame);
        return entries_[frame];
    }
    const FrameEntry &operator[](frame_t frame) const { return const_cast<FrameTable &>(*this)[frame]; }
    // The entry of the frame holding `phys`, or nullptr beyond the table.
    FrameEntry *find(u64 phys) { return contains(addr_to_frame(phys)) ? &(*this)[addr_to_frame(phys)] : nullptr; }

    // Whether the section holding `frame` is written (a walk that must not build the
    // table, such as the memory report, skips the others).
    bool section_ready(frame_t frame) const
    {
        frame_t section = frame >> FRAME_SECTION_ORDER;
        return ready_ == nullptr || (ready_[section / 64] >> (section % 64) & 1) != 0;
    }
    // Sections not yet written; 0 for a table built by init().
    frame_t unready_sections() const { return unready_; }
    // Writes the section holding `frame` if it is not written yet.
    void make_ready(frame_t frame)
    {
        if (!section_ready(frame))
            fill(frame >> FRAME_SECTION_ORDER);
    }
    // For fillers only: the entry, written or not.
    FrameEntry &unchecked(frame_t frame) { return entries_[frame]; }
    static void write_entry(FrameEntry &entry, FrameType type, frame_owner_t owner, u8 flags);

    // Sets type, owner and flags of every frame touching `range` (widened to pages and
    // clipped to the table); clears the rest of each entry.
    void mark(PhysRange range, FrameType type, frame_owner_t owner, u8 flags);
    // Turns [first, first + 2^order) into one allocated block: head flagged and holding
    // the order and a reference count of 1, every frame typed and owned alike.
    void mark_block(frame_t first, unsigned order, FrameType type, frame_owner_t owner, u8 flags);

private:
    void fill(frame_t section);
    void set_ready(frame_t section);

    FrameEntry *entries_ = nullptr;
    frame_t frames_ = 0;
    u64 *ready_ = nullptr; // null: every section is written
    frame_t unready_ = 0;
    SectionFiller filler_ = nullptr;
    void *filler_context_ = nullptr;
};
