// SPDX-License-Identifier: MIT
// The p2m: life cycle, populating RAM, mapping and unmapping, lookups and leaf values.
#include "dom/p2m.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"
#include "lib/time.hpp"

const char *p2m_type_name(P2mType type)
{
    switch (type) {
    case P2mType::invalid: return "invalid";
    case P2mType::ram_rw: return "ram_rw";
    case P2mType::ram_ro: return "ram_ro";
    case P2mType::log_dirty: return "log_dirty";
    case P2mType::mmio: return "mmio";
    case P2mType::mmio_emulated: return "mmio_emulated";
    }
    return "unknown";
}

const char *p2m_access_name(P2mAccess access)
{
    // P2mAccess is the schema's P2mAccess (p2m_types.hpp), so its names are the schema's.
    const char *name = handover::schema::name_of(static_cast<handover::schema::P2mAccess>(access));
    return name != nullptr ? name : "unknown";
}

const char *npf_action_name(NpfAction action)
{
    switch (action) {
    case NpfAction::retry: return "retry";
    case NpfAction::emulate_mmio: return "emulate_mmio";
    case NpfAction::crash_not_mapped: return "crash_not_mapped";
    case NpfAction::crash_access_denied: return "crash_access_denied";
    case NpfAction::crash_internal: return "crash_internal";
    }
    return "unknown";
}

P2m::P2m(frame_owner_t owner, FrameAllocator &frames, u64 gfn_limit)
    : lock_(MmLockLevel::p2m, "p2m", owner), frames_(&frames), owner_(owner),
      gfn_limit_(gfn_limit < npt::GFN_LIMIT ? gfn_limit : npt::GFN_LIMIT), views_(*this, frames, owner)
{
    visible_.attach(frames_, owner_);
    covered_.attach(frames_, owner_);
    dirty_.attach(frames_, owner_);
}

int P2m::create()
{
    Change guard(*this);
    return tables_.init(frames_, owner_);
}

int P2m::check_span(u64 gfn, u64 count) const
{
    u64 end = 0;
    if (count == 0)
        return -BATON_EINVAL;
    if (add_overflows(gfn, count, &end) || end > gfn_limit_)
        return -BATON_ERANGE;
    return 0;
}

// RAM types through map() take only the domain's extra pages: populated RAM is never
// aliased (log-dirty tracks guest frames, an alias would hide writes). Device frames must
// not be memory the allocator manages.
int P2m::check_frames(u64 mfn, u64 count, P2mType type) const
{
    u64 end = 0;
    if (add_overflows(mfn, count, &end) || end > npt::MFN_LIMIT)
        return -BATON_ERANGE;
    const FrameTable &table = frames_->table();
    for (u64 frame = mfn; frame < end; frame++) {
        const bool managed = table.contains(frame);
        if (type == P2mType::mmio) {
            if (managed && table[frame].type != FrameType::reserved)
                return -BATON_EPERM;
        } else if (!managed || table[frame].type != FrameType::extra || table[frame].owner != owner_ ||
                   !table[frame].has(FRAME_PRESERVED)) {
            return -BATON_EPERM;
        }
    }
    return 0;
}

// While log-dirty is on, writable RAM is tracked: it is stored as log_dirty.
P2mType P2m::stored_type(P2mType type) const
{
    return type == P2mType::ram_rw && dirty_.enabled() ? P2mType::log_dirty : type;
}

// One past the last guest frame of RAM in either layer: what the bitmap must cover.
u64 P2m::ram_span() const
{
    u64 span = 0;
    const P2mRangeList *const lists[] = {&visible_, &covered_};
    for (const P2mRangeList *list : lists) {
        for (usize i = list->count(); i > 0; i--) {
            if (p2m_type_is_ram((*list)[i - 1].type)) {
                span = (*list)[i - 1].end() > span ? (*list)[i - 1].end() : span;
                break;
            }
        }
    }
    return span;
}

void P2m::mark_span_dirty(u64 gfn, u64 count)
{
    if (dirty_.enabled())
        dirty_.set_range(gfn, count);
}

// Frees the guest_ram blocks whose heads lie in [mfn, mfn + count). Every block the p2m
// owns lies wholly inside its owned ranges, so walking all of them frees each block once,
// whatever blocks the allocator cut (after a live update they need not be populate's).
void P2m::release_ram(u64 mfn, u64 count)
{
    FrameTable &table = frames_->table();
    u64 frame = mfn;
    while (frame < mfn + count) {
        if (!table.contains(frame))
            panic("p2m %u: owned frame 0x%lx is outside the frame table", owner_, frame);
        const FrameEntry &entry = table[frame];
        if (!entry.has(FRAME_BLOCK_HEAD)) {
            frame++;
            continue;
        }
        if (entry.type != FrameType::guest_ram || entry.owner != owner_)
            panic("p2m %u: owned frame 0x%lx is %s of owner %u", owner_, frame, frame_type_name(entry.type),
                  entry.owner);
        const unsigned order = entry.order;
        frames_->free_frames(frame_to_addr(frame), order);
        frame += u64{1} << order;
    }
}

// A reference is held for one page of a copy, so waiting for references to go is short;
// one that stays a second was leaked, and freeing under it would hand the holder a frame
// the domain no longer owns. The lock is dropped between looks: a holder may need it
// (marking the page dirty) before it lets go.
void P2m::destroy()
{
    constexpr u64 REF_WAIT_NS = NS_PER_S;
    const u64 deadline = time_now_ns() + REF_WAIT_NS;
    for (;;) {
        {
            Change guard(*this);
            if (refs_.held() == 0)
                return destroy_unreferenced();
        }
        if (time_now_ns() > deadline)
            panic("p2m %u: destroy waited 1 s for %zu frame reference(s) to go; one was leaked", owner_, refs_.held());
        asm volatile("pause" ::: "memory");
    }
}

// Under the write side, no reference held (and none can be taken meanwhile).
void P2m::destroy_unreferenced()
{
    io_.release(); // devices blocked before a frame of their RAM is freed
    const P2mRangeList *const lists[] = {&visible_, &covered_};
    for (const P2mRangeList *list : lists) {
        for (const P2mRange &range : *list) {
            if (range.owned())
                release_ram(range.mfn, range.count);
        }
    }
    dirty_.disable();
    forget_all();
    request_flush(); // no CPU may keep translations to freed frames
}

// Drops the ranges, the tables and the range storage; RAM and the bitmap are the caller's.
void P2m::forget_all()
{
    views_.destroy_all();
    visible_.release();
    covered_.release();
    dirty_.forget();
    tables_.destroy();
    ram_frames_ = 0;
}

int P2m::populate_ram(u64 gfn, u64 count, P2mAccess access)
{
    Change guard(*this);
    if (!ready())
        return -BATON_EINVAL;
    if (int error = check_span(gfn, count))
        return error;
    if (!p2m_access_valid(access))
        return -BATON_EINVAL;
    if (visible_.overlaps(gfn, count))
        return -BATON_EEXIST;
    if (dirty_.enabled() && dirty_.cover(gfn + count) != 0)
        return -BATON_ENOMEM;
    if (prepare_tables(gfn, count) != 0)
        return -BATON_ENOMEM;

    // Largest blocks first so ranges stay few; after a failure at some order, only
    // smaller orders are tried. Each block becomes a range (neighbours merge). A slot
    // beyond the insert stays reserved so that undoing can split a merged range.
    const P2mType type = stored_type(P2mType::ram_rw);
    unsigned order_cap = MAX_ORDER;
    u64 done = 0;
    int error = 0;
    while (done < count) {
        unsigned order = order_cap;
        while ((u64{1} << order) > count - done)
            order--;
        u64 phys = 0;
        for (;;) {
            phys = frames_->alloc_frames(order, MemClass::preserved, owner_, FrameType::guest_ram);
            if (phys != 0 || order == 0)
                break;
            order_cap = --order;
        }
        if (phys == 0 || visible_.reserve(2) != 0) {
            if (phys != 0)
                frames_->free_frames(phys, order);
            error = -BATON_ENOMEM;
            break;
        }
        __builtin_memset(phys_to_virt(phys), 0, PAGE_SIZE << order);
        visible_.insert({gfn + done, addr_to_frame(phys), u64{1} << order, type, access, P2M_RANGE_OWNED});
        done += u64{1} << order;
    }
    if (error != 0) {
        visible_.for_each_in(gfn, done, [&](const P2mRange &piece) { release_ram(piece.mfn, piece.count); });
        visible_.remove(gfn, done);
        return error;
    }
    mark_span_dirty(gfn, count); // new memory: whoever copies the guest has not seen it
    ram_frames_ += count;
    sync_tables(gfn, count);
    return 0;
}

int P2m::map(u64 gfn, u64 mfn, u64 count, P2mType type, P2mAccess access)
{
    Change guard(*this);
    if (!ready())
        return -BATON_EINVAL;
    if (int error = check_span(gfn, count))
        return error;
    if (!p2m_access_valid(access) ||
        (type != P2mType::ram_rw && type != P2mType::ram_ro && type != P2mType::mmio && type != P2mType::mmio_emulated))
        return -BATON_EINVAL;
    if (type == P2mType::mmio_emulated)
        mfn = 0;
    else if (int error = check_frames(mfn, count, type))
        return error;

    usize covers = 0;
    bool foreign = false;
    visible_.for_each_in(gfn, count, [&](const P2mRange &piece) {
        if (piece.owned())
            covers++;
        else
            foreign = true;
    });
    if (foreign)
        return -BATON_EEXIST;
    if (refs_.any_in(gfn, count))
        return -BATON_EBUSY; // the hypervisor is using RAM this would cover
    const bool tracked = p2m_type_is_ram(type) || covers != 0;
    if (tracked && dirty_.enabled() && dirty_.cover(gfn + count) != 0)
        return -BATON_ENOMEM;
    if (prepare_tables(gfn, count) != 0 || visible_.reserve(2) != 0 || covered_.reserve(covers) != 0)
        return -BATON_ENOMEM;

    // Nothing below can fail.
    visible_.for_each_in(gfn, count, [&](P2mRange piece) {
        piece.flags |= P2M_RANGE_COVERED;
        covered_.insert(piece);
    });
    visible_.remove(gfn, count);
    visible_.insert({gfn, mfn, count, stored_type(type), access, 0});
    if (tracked)
        mark_span_dirty(gfn, count); // the guest sees different memory there now
    if (covers != 0)
        request_flush(); // the covered RAM must not stay reachable through the TLB
    sync_tables(gfn, count);
    return 0;
}

int P2m::unmap(u64 gfn, u64 count)
{
    Change guard(*this);
    if (!ready())
        return -BATON_EINVAL;
    if (int error = check_span(gfn, count))
        return error;
    bool populated = false, mapped = false;
    visible_.for_each_in(gfn, count, [&](const P2mRange &piece) {
        populated |= piece.owned();
        mapped = true;
    });
    if (populated)
        return -BATON_EPERM;
    if (!mapped)
        return 0;
    if (refs_.any_in(gfn, count))
        return -BATON_EBUSY; // the hypervisor is using a frame this would take away
    usize uncovers = 0;
    covered_.for_each_in(gfn, count, [&](const P2mRange &) { uncovers++; });
    if (visible_.reserve(uncovers + 1) != 0 || covered_.reserve(1) != 0)
        return -BATON_ENOMEM;

    // Nothing below can fail.
    visible_.for_each_in(gfn, count, [&](const P2mRange &piece) {
        if (p2m_type_is_ram(piece.type))
            mark_span_dirty(piece.gfn, piece.count);
    });
    visible_.remove(gfn, count);
    covered_.for_each_in(gfn, count, [&](P2mRange piece) {
        piece.flags &= static_cast<u8>(~P2M_RANGE_COVERED);
        visible_.insert(piece);
        mark_span_dirty(piece.gfn, piece.count);
    });
    covered_.remove(gfn, count);
    request_flush();
    sync_tables(gfn, count);
    return 0;
}

// Host tables, the IOMMU's and every view's: room for [gfn, gfn + count).
int P2m::prepare_tables(u64 gfn, u64 count)
{
    if (tables_.prepare(gfn, count) != 0 || io_.prepare(gfn, count) != 0)
        return -BATON_ENOMEM;
    return views_.prepare(gfn, count);
}

void P2m::sync_tables(u64 gfn, u64 count)
{
    tables_.sync(gfn, count, source());
    views_.sync(gfn, count);
    io_.sync(visible_, gfn, count);
}

P2mEntry P2m::lookup(u64 gfn) const
{
    MmReadGuard guard(lock_);
    return entry_of(shown_at(nullptr, gfn));
}

int P2m::get_frame(u64 gfn, P2mFrameRef &ref) const
{
    ref.release();
    MmReadGuard guard(lock_);
    ref.entry_ = entry_of(shown_at(nullptr, gfn));
    if (!p2m_type_has_frames(ref.entry_.type))
        return 0;
    const int slot = refs_.take(gfn);
    if (slot < 0)
        return -BATON_EAGAIN;
    ref.slots_ = &refs_;
    ref.slot_ = static_cast<usize>(slot);
    return 0;
}

// The write side's end: a requested flush moves the generation while the lock still
// orders it after the change, then every CPU is waited for with no lock held.
void P2m::finish_change()
{
    const bool flush = flush_requested_;
    flush_requested_ = false;
    const u64 generation = flush ? tlb_.advance() : 0;
    lock_.unlock();
    if (!flush)
        return;
    TlbShootdown::CpuMask late = 0;
    if (tlb_.wait(generation, TLB_SHOOTDOWN_TIMEOUT_NS, &late) != 0)
        panic("p2m %u: CPUs 0x%lx did not leave guest mode within %lu ms of TLB generation %lu; they may still "
              "use translations it removed",
              owner_, late, TLB_SHOOTDOWN_TIMEOUT_NS / NS_PER_MS, generation);
}

P2mShown P2m::shown_at(const P2mView *view, u64 gfn) const
{
    const P2mRange *override_range = view != nullptr && gfn < gfn_limit_ ? view->find(gfn) : nullptr;
    const u64 target = override_range != nullptr ? override_range->mfn_at(gfn) : gfn;
    const P2mRange *range = target < gfn_limit_ ? visible_.find(target) : nullptr;
    const P2mAccess access = override_range != nullptr ? override_range->access
                             : range != nullptr        ? range->access
                                                       : P2mAccess::n;
    return {target, range, access, target != gfn};
}

P2mEntry P2m::entry_of(const P2mShown &shown) const
{
    if (shown.range == nullptr)
        return {};
    P2mType type = shown.range->type;
    if (type == P2mType::log_dirty && dirty_.test(shown.target))
        type = P2mType::ram_rw; // written since the last clean: writable again
    return {shown.range->mfn_at(shown.target), type, shown.access, shown.range->owned()};
}

// retry when the type and rights allow the access, else what stops it.
NpfAction P2m::access_verdict(const P2mShown &shown, bool write, bool fetch)
{
    if (shown.range == nullptr)
        return NpfAction::crash_not_mapped;
    if (shown.range->type == P2mType::mmio_emulated) // emulated where it is, never through a remap
        return shown.remapped ? NpfAction::crash_not_mapped : NpfAction::emulate_mmio;
    const P2mAccess access = shown.access;
    if (!access_reads(access) || (write && !access_writes(access)) || (fetch && !access_executes(access)) ||
        (write && shown.range->type == P2mType::ram_ro))
        return NpfAction::crash_access_denied;
    return NpfAction::retry;
}

// The one function the tables cache: a leaf depends on the visible range and, for
// log_dirty frames, on the dirty bit. Nothing else.
npt::Mapping P2m::mapping_of(u64 gfn) const { return mapping_shown(shown_at(nullptr, gfn)); }

// A view's leaves use the same function with the view's rights in place of the range's.
npt::Mapping P2m::mapping_shown(const P2mShown &shown) const
{
    const P2mRange *range = shown.range;
    if (range == nullptr || !p2m_type_has_frames(range->type) || !access_reads(shown.access))
        return {};
    const P2mType type = range->type;
    const bool writable_type =
        type == P2mType::ram_rw || type == P2mType::mmio || (type == P2mType::log_dirty && dirty_.test(shown.target));
    return {range->mfn_at(shown.target), true, writable_type && access_writes(shown.access),
            access_executes(shown.access), type == P2mType::mmio};
}

npt::Translation P2m::translate(u64 gfn) const
{
    MmReadGuard guard(lock_);
    return tables_.translate(gfn);
}

npt::Mapping P2m::leaf_of(const void *self, u64 gfn) { return static_cast<const P2m *>(self)->mapping_of(gfn); }
