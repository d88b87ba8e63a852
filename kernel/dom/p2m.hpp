// SPDX-License-Identifier: MIT
// The p2m: a domain's guest-physical to machine map, its nested page tables and log-dirty state.
#pragma once
#include "arch/arch.hpp"
#include "dom/p2m_io.hpp"
#include "dom/p2m_log_dirty.hpp"
#include "dom/p2m_pins.hpp"
#include "dom/p2m_ranges.hpp"
#include "dom/p2m_view.hpp"
#include "dom/p2m_views.hpp"
#include "dom/tlb_shootdown.hpp"
#include "lib/time.hpp"

// Truth and cache (docs/p2m.md has the whole story):
// - The ranges are the truth: what each guest frame maps to, its type and rights. Every
//   call that changes them has finished when it returns, so lookup() is always current.
// - The nested page tables are a cache: each leaf is a pure function of the ranges and
//   the dirty bitmap (leaf_of()), so tables rebuilt from a saved range list behave the
//   same. A global type change only marks the top of the tables stale; nested faults
//   recompute what is touched, resolve_pending() the rest.
// - Guest RAM comes from populate_ram() as preserved guest_ram blocks owned by the domain
//   (never from the bootmem region); the p2m frees them in destroy(). Tables and the range
//   storage are ephemeral frames owned by the domain.
// - A mapping over populated RAM (a shared-info page at a guest-chosen frame) keeps the
//   RAM underneath as a covered range; unmap() puts it back.
//
// Locking (docs/p2m.md, "Locking" and "Concurrency"): the p2m lock, the outermost mm lock,
// is a reader-writer lock. Lookups take its read side and run on many CPUs at once
// (lookup, get_frame, translate, for_each_range, dirty_count, log_dirty_state, audit, a
// nested fault that only judges the access, mark_dirty of a frame already dirty); every
// change takes the write side for its whole length (a nested fault that fills the tables
// drops the read side and takes the write side, judging again). Either may take the
// log-dirty and page-allocation locks inside. Accessors that read one word (ready,
// ram_frames, nested_root, tlb_generation, has_pending, log_dirty_enabled, range_count)
// take none and return a snapshot.
//
// Changes that took rights or frames away move tlb_generation() and, after dropping the
// lock and before returning, wait until every CPU that ran the domain has left guest mode
// or entered again at the new generation (tlb(), TlbShootdown): when a change returns, no
// CPU uses a translation it removed. A CPU that does not answer within
// TLB_SHOOTDOWN_TIMEOUT_NS is a hypervisor fault: the p2m panics naming it.
//
// Frame references (get_frame, P2mFrameRef): map() and unmap() over a referenced frame
// return -BATON_EBUSY and change nothing; destroy() waits for references to go.
class P2m final {
public:
    explicit P2m(frame_owner_t owner, FrameAllocator &frames = frame_allocator(), u64 gfn_limit = npt::GFN_LIMIT);
    P2m(const P2m &) = delete;
    P2m &operator=(const P2m &) = delete;

    // --- life cycle ---------------------------------------------------------------------
    // An empty map with its root table. -BATON_EBUSY if already created, -BATON_ENOMEM.
    [[nodiscard]] int create();
    // Creates the map from a saved range list (for_each_range()'s output, in that order
    // or any order sorted within each layer) and log-dirty state, adopting the RAM and
    // bitmap frames they name and rebuilding the tables. Checks everything first:
    // -BATON_EINVAL / -BATON_ERANGE for a bad list, -BATON_EPERM for frames this domain
    // does not own, -BATON_EBUSY if already created, -BATON_ENOMEM. On failure nothing
    // is adopted: the named frames stay allocated and are the caller's.
    [[nodiscard]] int restore(const P2mRange *ranges, usize count, const LogDirtyState &log_dirty);
    // Returns every frame: guest RAM, the bitmap, the tables and the range storage.
    void destroy();
    bool ready() const { return tables_.ready(); }

    // --- building -----------------------------------------------------------------------
    // Allocates `count` zeroed frames of guest RAM in the largest blocks available and maps
    // them at gfn (ram_rw, or log_dirty with every new frame dirty while log-dirty is on).
    // -BATON_EEXIST if anything is mapped there; -BATON_ENOMEM frees what it took.
    [[nodiscard]] int populate_ram(u64 gfn, u64 count, P2mAccess access);
    // Maps frames the p2m does not own: mmio (device frames outside managed RAM), ram_rw /
    // ram_ro (extra pages: preserved FrameType::extra frames owned by the domain) or
    // mmio_emulated (no frames; mfn ignored). Populated RAM in the span is covered and kept;
    // any other mapping there gives -BATON_EEXIST. -BATON_EPERM for frames not allowed.
    [[nodiscard]] int map(u64 gfn, u64 mfn, u64 count, P2mType type, P2mAccess access);
    // Removes map()'s mappings in the span and uncovers the RAM under them; holes are
    // fine. -BATON_EPERM if the span holds visible populated RAM (that is freed by destroy).
    // Both: -BATON_EBUSY while the hypervisor holds a reference to a frame of the span
    // (get_frame): the guest's own p2m change never moves a frame under a hypercall's copy.
    [[nodiscard]] int unmap(u64 gfn, u64 count);

    // --- queries ------------------------------------------------------------------------
    // What the guest sees at gfn right now (type invalid for holes and beyond the limit).
    // The machine frame may change as soon as the call returns: to use the frame, take a
    // reference with get_frame instead.
    P2mEntry lookup(u64 gfn) const;
    // lookup() plus a reference that keeps the frame mapped at gfn (and so the domain's)
    // until `ref` is released: map(), unmap() over it give -BATON_EBUSY, destroy() waits.
    // Holes and emulated MMIO come back in ref.entry() without a reference. 0, or
    // -BATON_EAGAIN when every reference slot is taken (ref holds nothing).
    [[nodiscard]] int get_frame(u64 gfn, P2mFrameRef &ref) const;
    // References held now (tests, destroy()).
    usize frame_refs() const { return refs_.held(); }
    // Frames populate_ram() allocated (covered ones included).
    u64 ram_frames() const { return ram_frames_; }
    u64 gfn_limit() const { return gfn_limit_; }
    frame_owner_t owner() const { return owner_; }
    // Both layers, sorted by gfn (a covered range after the mapping over it), each range
    // flagged; restore() takes this sequence back. Cost follows the number of ranges.
    // `visit` runs under the p2m lock: it may allocate, it must not call this p2m.
    template <typename Visit>
    void for_each_range(Visit &&visit) const
    {
        MmReadGuard guard(lock_);
        usize v = 0, c = 0;
        while (v < visible_.count() || c < covered_.count()) {
            if (c == covered_.count() || (v < visible_.count() && visible_[v].gfn <= covered_[c].gfn))
                visit(visible_[v++]);
            else
                visit(covered_[c++]);
        }
    }
    usize range_count() const { return visible_.count() + covered_.count(); }
    // The lists themselves, unlocked (tests, and callers that own the domain outright).
    const P2mRangeList &visible_ranges() const { return visible_; }
    const P2mRangeList &covered_ranges() const { return covered_; }

    // --- global type changes --------------------------------------------------------------
    // ram_rw -> ram_ro or back, for the whole domain, covered RAM included. Looks immediate
    // (the ranges change now); the tables catch up lazily. -BATON_EINVAL for any other pair
    // (log_dirty goes through enable/disable_log_dirty()), -BATON_EBUSY while log-dirty is
    // on (tracked RAM is log_dirty, so the change would silently miss it).
    [[nodiscard]] int change_type_global(P2mType from, P2mType to);
    // Brings every stale table entry up to date (before a handover, or to stop taking
    // faults). Cannot fail.
    void resolve_pending();
    bool has_pending() const { return tables_.stale_entries() != 0; }

    // --- running the guest --------------------------------------------------------------
    // For the VMCB's N_CR3.
    u64 nested_root() const { return tables_.root(); }
    // A nested page fault at guest-physical `gpa` (write / instruction fetch) of a vCPU
    // running in view `view`. A first write to a log_dirty frame marks it dirty and makes
    // it writable (in every view that shows it).
    NpfAction handle_nested_fault(u64 gpa, bool write, bool fetch, u16 view = P2M_HOST_VIEW);
    // Moves whenever rights were taken away from entries the guest may have cached.
    u64 tlb_generation() const { return tlb_.generation(); }
    // Which CPUs may cache this domain's translations: the vCPU loop enters and leaves the
    // guest through it (see TlbShootdown), and changes wait on it.
    TlbShootdown &tlb() { return tlb_; }
    // Generous: under TCG a CPU is a host thread that may wait for a host core.
    static constexpr u64 TLB_SHOOTDOWN_TIMEOUT_NS = 1000 * NS_PER_MS;

    // --- alternate views (docs/p2m.md, "Alternate views") --------------------------------
    // Their own class, which this p2m keeps in step with every change it makes.
    P2mViews &views() { return views_; }
    const P2mViews &views() const { return views_; }

    // --- log-dirty ----------------------------------------------------------------------
    // Every ram_rw range (covered RAM included) becomes log_dirty, write-protected until
    // written. -BATON_EBUSY if already on, -BATON_ENOMEM for the bitmap.
    [[nodiscard]] int enable_log_dirty();
    // log_dirty becomes ram_rw again and the bitmap is freed. -BATON_EINVAL if off.
    [[nodiscard]] int disable_log_dirty();
    bool log_dirty_enabled() const { return dirty_.enabled(); }
    // Dirty bits of [first_gfn, first_gfn + count) into the bounce buffer `out` (see
    // DirtyBits): copied under the locks, returned with none held. At most
    // DIRTY_READ_MAX_FRAMES per call; read larger spans window by window. `clean` clears
    // what it reports, in the same atomic step, and write-protects those frames again (TLB
    // generation moves): a write after the clear faults and sets the bit again. Copy the
    // pages only after the domain's vCPUs have flushed. Returns the number of dirty frames
    // reported, or -BATON_EINVAL (off) / -BATON_E2BIG (count too large) / -BATON_ERANGE.
    [[nodiscard]] i64 read_dirty(u64 first_gfn, u64 count, DirtyBits &out, bool clean);
    // The hypervisor wrote guest frame gfn itself (e.g. the shared-info page). Nothing
    // when log-dirty is off; the read side only when the frame is dirty already.
    void mark_dirty(u64 gfn);
    u64 dirty_count() const;
    LogDirtyState log_dirty_state() const;

    // --- IOMMU (docs/iommu.md, "The sync rule") ----------------------------------------
    // From now on every change of the visible RAM mappings reaches `listener` (io_set, then
    // io_flush), starting with every visible range now. Only the host view counts: devices
    // do not run in alternate views. -BATON_EINVAL (no p2m yet), -BATON_EBUSY (a listener
    // is attached, or log-dirty is on: DMA writes would bypass the dirty bitmap),
    // -BATON_ENOMEM (nothing stays attached; the listener's tables may hold mappings).
    // IoLeaves::current: the listener's tables already say what the ranges say (the
    // previous image kept them in step with the very ranges this p2m was restored from), so
    // nothing is rewritten: adopting a device's table costs nothing in the update's blackout.
    enum class IoLeaves : u8 { rewrite, current };
    [[nodiscard]] int attach_io(P2mIoListener &listener, IoLeaves leaves = IoLeaves::rewrite);
    // Stops the mirroring; the caller has blocked the devices first. destroy() does this
    // itself, calling io_detach() before any RAM is freed.
    void detach_io();
    bool io_attached() const { return io_.attached(); }

    // --- checking -----------------------------------------------------------------------
    // Broken invariants (0 when healthy): tables that disagree with leaf_of() where the
    // hardware can see them, mappable frames without tables, bitmap coverage, type rules.
    u64 audit() const;
    // What the hardware would see for gfn right now (tests, debugging).
    npt::Translation translate(u64 gfn) const;
    const npt::NestedPageTable &tables() const { return tables_; }

private:
    // The write side of the lock for one change. On release: if the change asked for a
    // flush (request_flush), the generation moves under the lock, and after the lock is
    // dropped the shootdown waits for every CPU (finish_change).
    class Change final {
    public:
        explicit Change(P2m &p2m) : p2m_(p2m) { p2m_.lock_.lock(); }
        ~Change() { p2m_.finish_change(); }
        Change(const Change &) = delete;
        Change &operator=(const Change &) = delete;

    private:
        P2m &p2m_;
    };
    // Under the write side: rights or frames were taken away from cached translations.
    void request_flush() { flush_requested_ = true; }
    void finish_change();
    void destroy_unreferenced();
    // Under the read side: the access judged against what the view shows.
    [[nodiscard]] NpfAction judge_fault(u64 gfn, bool write, bool fetch, u16 view, P2mShown *shown) const;

    [[nodiscard]] int check_span(u64 gfn, u64 count) const;
    [[nodiscard]] int check_frames(u64 mfn, u64 count, P2mType type) const;
    [[nodiscard]] int check_restore_range(const P2mRange &range, const LogDirtyState &log_dirty) const;
    bool covered_ranges_hidden() const;
    npt::LeafSource source() const { return {&P2m::leaf_of, this}; }
    static npt::Mapping leaf_of(const void *self, u64 gfn);
    npt::Mapping mapping_of(u64 gfn) const;
    // Host tables plus every view's: room for [gfn, gfn + count), and its leaves rewritten
    // (in views also where a remap shows these frames).
    [[nodiscard]] int prepare_tables(u64 gfn, u64 count);
    void sync_tables(u64 gfn, u64 count);
    // What a view (nullptr: the host view) shows at gfn. One rule for lookups and faults.
    P2mShown shown_at(const P2mView *view, u64 gfn) const;
    P2mEntry entry_of(const P2mShown &shown) const;
    static NpfAction access_verdict(const P2mShown &shown, bool write, bool fetch);
    // The leaf of what is shown (the one function the host's and the views' tables cache).
    npt::Mapping mapping_shown(const P2mShown &shown) const;
    P2mType stored_type(P2mType type) const;
    void retype_all(P2mType from, P2mType to, bool takes_rights);
    u64 ram_span() const;
    void mark_span_dirty(u64 gfn, u64 count);
    void release_ram(u64 mfn, u64 count);
    void forget_all();

    // P2mViews reads what views show through shown_at, mapping_shown and entry_of, checks
    // spans with check_span, and takes lock_ (Change), reads the ranges, requests flushes.
    friend class P2mViews;

    mutable MmRwLock lock_;
    FrameAllocator *frames_;
    frame_owner_t owner_;
    u64 gfn_limit_;
    P2mRangeList visible_; // what the guest sees
    P2mRangeList covered_; // populated RAM hidden under map()'s mappings
    DirtyBitmap dirty_;
    npt::NestedPageTable tables_;
    u64 ram_frames_ = 0;
    bool flush_requested_ = false; // under the write side
    TlbShootdown tlb_;
    mutable P2mRefSlots refs_;
    P2mIoMirror io_; // the IOMMU's tables for this domain, if a device is assigned
    P2mViews views_; // constructed last: it names this p2m's members
};
