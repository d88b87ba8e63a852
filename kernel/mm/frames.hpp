// SPDX-License-Identifier: MIT
// The frame allocator: brings up the memory manager and hands out frames by class.
#pragma once
#include "mm/bootmem.hpp"
#include "mm/bootmem_region.hpp"
#include "mm/buddy.hpp"
#include "mm/memory_map.hpp"
#include "mm/mm_lock.hpp"
#include "mm/preserved_index.hpp"
#include "mm/usable_ram.hpp"

// ephemeral: dies with this image (heap, the hypervisor's page tables, VMCBs).
// preserved: survives a live update (guest RAM, extra pages, adopted page tables, the
// record); never placed inside the bootmem region, where the next image boots.
enum class MemClass : u8 { ephemeral, preserved };
const char *mem_class_name(MemClass mem_class);

// Real-mode structures and AP/kexec trampolines live here; it never reaches the heap.
inline constexpr PhysRange LOW_MEMORY{0, 1 * MiB};

// Memory in use before the allocator starts and kept out of the heap: the kernel
// image, the boot information block, modules, a staged image. Widened to whole pages.
struct ReservedRange {
    PhysRange range;
    FrameType type = FrameType::reserved;
    const char *name = ""; // for messages: "the kernel image"; must outlive the allocator
};

// Memory a handover record says is in use and must survive: marked in the frame table
// before any free memory reaches the zones, so it is skipped by construction.
struct PreservedRange {
    PhysRange range; // page aligned
    frame_owner_t owner = OWNER_NONE;
    FrameType type = FrameType::guest_ram; // guest_ram, extra, page_table or record
    u8 flags = 0; // 0 or FRAME_EXTRA_PAGE
};

// How init() brings free memory to the zones: all of it at once, or (after a live update)
// only the bootmem region's, the rest later, a section at a time, by give_pending() or by
// an allocation that finds the zones empty. Frame-table entries are built when first
// used either way.
enum class StartUp : u8 { complete, deferred };

// How preserved memory is cut into blocks, so that free_range() can give it back: page
// tables and extra pages into single frames (their owner frees them one by one: a
// domain's shared-info and vCPU info pages may lie side by side in one run), the rest
// into the largest aligned blocks.
constexpr unsigned preserved_cut_order(FrameType type)
{
    return type == FrameType::page_table || type == FrameType::extra ? 0 : MAX_ORDER;
}

struct MemoryLayout {
    const MemoryMapEntry *memory_map = nullptr;
    usize memory_map_count = 0;
    const ReservedRange *reserved = nullptr;
    usize reserved_count = 0;
    BootmemRequest bootmem; // from `lu_bootmem=`; size 0 means the default
    // Live update: the boot allocator may use only the bootmem region until init()
    // knows which memory the record preserves.
    bool confine_boot_allocator = false;
};

// Allocation, freeing, reference counts and extra-page flags take the page-allocation
// lock, the innermost mm lock: any p2m or heap operation may allocate. The two start-up
// phases run before anything else and take no lock. Callers read the frame-table entries
// of blocks they own without it (nothing else changes those).
class FrameAllocator final {
public:
    static constexpr usize MAX_RESERVED = 32;

    constexpr FrameAllocator() = default;
    FrameAllocator(const FrameAllocator &) = delete;
    FrameAllocator &operator=(const FrameAllocator &) = delete;

    // Phase 1: sanitizes the memory map, keeps low memory and the reserved ranges out,
    // chooses the bootmem region and starts the boot allocator. Logs the reason and
    // returns a negative errno on failure. Starts everything over when called again.
    [[nodiscard]] int early_init(const MemoryLayout &layout);
    // Usable from phase 1 until init() seals it.
    BootAllocator &boot() { return boot_; }

    // Phase 2 (needs the direct map over all RAM): builds the frame table from boot
    // memory, marks reserved, boot-time and `preserved` frames, then gives what is left
    // to the zones. `preserved` must be sorted and disjoint, and stay where it is (a
    // deferred start-up reads it until every section is built). Logs the reason and
    // returns a negative errno on failure.
    [[nodiscard]] int init(const PreservedRange *preserved = nullptr, usize preserved_count = 0,
                           StartUp start_up = StartUp::complete);
    bool ready() const { return ready_; }

    // Deferred start-up: gives the free memory of up to `max_sections` more sections to
    // the zones, in address order. Returns whether any is left. Takes the lock.
    bool give_pending(usize max_sections);
    // Free frames not yet in a zone; 0 once the deferred start-up is over.
    u64 pending_frames() const;

    // A block of 2^order frames: preserved ones come only from the general zone,
    // ephemeral ones from the bootmem zone first, then the general zone. The block's
    // head holds a reference count of 1. Returns the physical address, or 0 when no
    // block is free. A type/class combination that breaks the design rules (a heap page
    // that is preserved, guest RAM that is ephemeral) panics.
    // With `below` (not 0), only a block that ends at or below that address, for what
    // must be reachable with paging off (the rollback kit, a staged next image).
    u64 alloc_frames(unsigned order, MemClass mem_class, frame_owner_t owner, FrameType type, u64 below = 0);
    // An ephemeral block of the hypervisor's from the general zone only, never the bootmem
    // region (e.g. the next image's load slot: that image boots confined to the region), ending
    // at or below `below` (not 0). Returns the physical address, or 0; free with free_frames.
    u64 alloc_outside_bootmem(unsigned order, FrameType type, u64 below);
    // Frees a block from alloc_frames (or from the record). Panics on a double free, a
    // wrong order, a frame that is not a block head, or a block still referenced.
    void free_frames(u64 phys, unsigned order);
    // Frees every block in `range`, which must start and end on block edges (how
    // preserved ranges from a record are given back: they are cut into blocks at init).
    void free_range(PhysRange range);

    // Reference counts live on block heads; dropping the last reference frees the block.
    void ref_get(u64 phys);
    void ref_put(u64 phys);
    u32 refcount(u64 phys);
    // Flags (or unflags) an allocated preserved block as an extra page; -BATON_EINVAL for
    // anything else.
    [[nodiscard]] int set_extra_page(u64 phys, bool extra);

    // Frames an allocation of that class could draw on.
    u64 free_frame_count(MemClass mem_class) const;
    const BuddyZone &bootmem_zone() const { return bootmem_zone_; }
    const BuddyZone &general_zone() const { return general_zone_; }
    PhysRange bootmem_region() const { return region_; }
    bool in_bootmem_region(u64 phys) const { return region_.contains(phys); }
    FrameTable &table() { return table_; }
    const FrameTable &table() const { return table_; }
    u64 table_phys() const { return table_phys_; }
    const RangeSet &usable_ram() const { return usable_; }
    // The head of every allocated preserved block, whoever owns it: alloc_frames() and
    // init() (for the record's ranges) insert, every way of freeing erases. How the
    // record's preserved list is made without walking the frame table
    // (update/preserved_scan.hpp). Like the frame table, read without the lock: the
    // update reads it with interrupts off on the only CPU (with more CPUs, once the
    // others are stopped).
    const PreservedIndex &preserved_index() const { return preserved_; }
    // For tests that plant a disagreement between the index and the frame table.
    PreservedIndex &preserved_index_for_test() { return preserved_; }

private:
    [[nodiscard]] int check_preserved(const PreservedRange &preserved) const;
    [[nodiscard]] int check_preserved_list(const PreservedRange *preserved, usize count) const;
    static void fill_section(void *self, FrameTable &table, frame_t first, frame_t end);
    void fill_preserved(FrameTable &table, frame_t first, frame_t end) const;
    void give_section(frame_t section);
    bool give_pending_locked(usize max_sections);
    // A free block from the zones (the bootmem zone first if asked), growing them while a
    // deferred start-up has memory pending; NO_FRAME when none fits. Lock held.
    frame_t take(unsigned order, bool bootmem_first, frame_t limit);
    bool all_given() const { return give_cursor_ >= FrameTable::sections_for(table_.frames()); }
    // What an allocation that finds the zones empty gives them at a time: 128 MiB.
    static constexpr usize GROW_SECTIONS = 64;
    FrameEntry &allocated_head(u64 phys, const char *caller);
    void release(frame_t frame, unsigned order);
    BuddyZone &zone_of(frame_t frame) { return bootmem_zone_.owns(frame) ? bootmem_zone_ : general_zone_; }

    mutable MmLock lock_{MmLockLevel::page_alloc, "frames"};
    FixedRangeSet<USABLE_RANGES_CAPACITY> usable_;
    // Usable RAM minus low memory and the reserved ranges: what the boot allocator was
    // given, or will be given once it is no longer confined.
    FixedRangeSet<USABLE_RANGES_CAPACITY + MAX_RESERVED + 1> free_;
    ReservedRange reserved_[MAX_RESERVED];
    usize reserved_count_ = 0;
    PhysRange region_;
    bool confined_ = false;
    bool early_ = false;
    bool ready_ = false;
    BootAllocator boot_;
    FrameTable table_;
    u64 table_phys_ = 0;
    PreservedIndex preserved_;
    // What the frame table's sections are built from: the record's list (in boot memory,
    // kept for good) besides the ranges above.
    const PreservedRange *preserved_list_ = nullptr;
    usize preserved_list_count_ = 0;
    frame_t give_cursor_ = 0; // sections below it have given their free memory
    u64 pending_frames_ = 0;
    BuddyZone bootmem_zone_;
    BuddyZone general_zone_;
};

// The kernel's frame allocator; constant-initialized, so usable before constructors run.
extern FrameAllocator kernel_frame_allocator;
inline FrameAllocator &frame_allocator() { return kernel_frame_allocator; }
