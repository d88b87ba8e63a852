// SPDX-License-Identifier: MIT
// AMD64 nested page tables: building, marking stale, recomputing and auditing the tables.
#include "arch/x86_64/svm/npt.hpp"
#include "abi/errno.h"
#include "lib/log.hpp"

namespace npt {

namespace {

// The walker sets these on its own; they never make a leaf differ from the p2m's view.
constexpr u64 HARDWARE_BITS = ACCESSED | DIRTY;

u64 *entries(u64 table_phys) { return phys_to<u64>(table_phys); }
// A running guest's walker may read any entry at any time: no torn or reordered stores.
u64 load(const u64 *entry) { return __atomic_load_n(entry, __ATOMIC_ACQUIRE); }
void store(u64 *entry, u64 value) { __atomic_store_n(entry, value, __ATOMIC_RELEASE); }

// Guest frames one entry at `level` spans.
constexpr u64 frames_per_entry(unsigned level) { return u64{1} << (9 * (level - 1)); }
// First guest frame of the entry at `level` that covers `gfn`.
constexpr u64 entry_base(u64 gfn, unsigned level) { return gfn & ~(frames_per_entry(level) - 1); }

} // namespace

int NestedPageTable::init(FrameAllocator *frames, frame_owner_t owner)
{
    if (root_ != 0)
        return -BATON_EBUSY;
    frames_ = frames;
    owner_ = owner;
    root_ = alloc_table();
    return root_ != 0 ? 0 : -BATON_ENOMEM;
}

u64 NestedPageTable::alloc_table(bool zeroed)
{
    const u64 phys = frames_->alloc_frames(0, MemClass::ephemeral, owner_, FrameType::page_table);
    if (phys == 0)
        return 0;
    if (zeroed)
        __builtin_memset(phys_to_virt(phys), 0, PAGE_SIZE);
    table_frames_++;
    return phys;
}

int NestedPageTable::prepare(u64 gfn, u64 count) { return prepare_paths(gfn, count, true); }

int NestedPageTable::prepare_hidden(u64 gfn, u64 count) { return prepare_paths(gfn, count, false); }

int NestedPageTable::prepare_paths(u64 gfn, u64 count, bool zero_leaf_tables)
{
    const u64 end = gfn + count;
    for (u64 frame = gfn; frame < end; frame = entry_base(frame, 2) + FRAMES_PER_LEAF_TABLE) {
        u64 table = root_;
        for (unsigned level = LEVELS; level > 1; level--) {
            u64 *entry = &entries(table)[index_at(frame, level)];
            const u64 value = load(entry);
            if ((value & (PRESENT | STALE)) != 0) {
                table = value & ADDRESS_MASK; // a stale subtree is still the right place
                continue;
            }
            // The table linked at level 2 is a leaf table.
            const u64 fresh = alloc_table(level > 2 || zero_leaf_tables);
            if (fresh == 0)
                return -BATON_ENOMEM;
            // An empty table maps nothing, so linking it early is harmless even under a
            // stale ancestor (opening that ancestor later marks it stale like the rest).
            store(entry, table_entry(fresh));
            table = fresh;
        }
    }
    return 0;
}

void NestedPageTable::fill_leaf_table(u64 table_phys, u64 first_gfn, const LeafSource &source)
{
    u64 *leaves = entries(table_phys);
    for (unsigned i = 0; i < ENTRIES; i++)
        store(&leaves[i], leaf_entry(source(first_gfn + i)));
}

// Makes a stale entry present again. Children are brought up to date first, so a walker
// that finds the entry present never reaches stale leaves through it.
void NestedPageTable::open(u64 *entry, unsigned level, u64 first_gfn, const LeafSource &source)
{
    const u64 child = load(entry) & ADDRESS_MASK;
    if (level == 2) {
        fill_leaf_table(child, first_gfn, source);
    } else {
        u64 *children = entries(child);
        for (unsigned i = 0; i < ENTRIES; i++) {
            const u64 value = load(&children[i]);
            if ((value & PRESENT) != 0) {
                store(&children[i], (value & ~PRESENT) | STALE);
                stale_++;
            }
        }
    }
    store(entry, table_entry(child));
    stale_--;
}

void NestedPageTable::sync(u64 gfn, u64 count, const LeafSource &source)
{
    const u64 end = gfn + count;
    u64 frame = gfn;
    while (frame < end) {
        const u64 chunk_end =
            entry_base(frame, 2) + FRAMES_PER_LEAF_TABLE < end ? entry_base(frame, 2) + FRAMES_PER_LEAF_TABLE : end;
        u64 table = root_;
        for (unsigned level = LEVELS; level > 1 && table != 0; level--) {
            u64 *entry = &entries(table)[index_at(frame, level)];
            if ((load(entry) & STALE) != 0)
                open(entry, level, entry_base(frame, level), source);
            const u64 value = load(entry);
            table = (value & PRESENT) != 0 ? value & ADDRESS_MASK : 0;
        }
        for (u64 at = frame; at < chunk_end; at++) {
            const Mapping mapping = source(at);
            if (table != 0)
                store(&entries(table)[index_at(at, 1)], leaf_entry(mapping));
            else if (mapping.present)
                panic("npt: guest frame 0x%lx is mapped but has no table (prepare() skipped)", at);
        }
        frame = chunk_end;
    }
}

Refresh NestedPageTable::refresh(u64 gfn, const LeafSource &source)
{
    bool changed = false;
    u64 table = root_;
    for (unsigned level = LEVELS; level > 1; level--) {
        u64 *entry = &entries(table)[index_at(gfn, level)];
        if ((load(entry) & STALE) != 0) {
            open(entry, level, entry_base(gfn, level), source);
            changed = true;
        }
        const u64 value = load(entry);
        if ((value & PRESENT) == 0) {
            if (source(gfn).present)
                return Refresh::missing_table;
            return changed ? Refresh::changed : Refresh::unchanged;
        }
        table = value & ADDRESS_MASK;
    }
    u64 *leaf = &entries(table)[index_at(gfn, 1)];
    const u64 wanted = leaf_entry(source(gfn));
    if ((load(leaf) & ~HARDWARE_BITS) != wanted) {
        store(leaf, wanted);
        changed = true;
    }
    return changed ? Refresh::changed : Refresh::unchanged;
}

void NestedPageTable::mark_all_stale()
{
    u64 *top = entries(root_);
    for (unsigned i = 0; i < ENTRIES; i++) {
        const u64 value = load(&top[i]);
        if ((value & PRESENT) != 0) {
            store(&top[i], (value & ~PRESENT) | STALE);
            stale_++;
        }
    }
}

void NestedPageTable::resolve_all(const LeafSource &source)
{
    if (stale_ != 0)
        resolve_table(root_, LEVELS, 0, source);
}

void NestedPageTable::resolve_table(u64 table_phys, unsigned level, u64 first_gfn, const LeafSource &source)
{
    u64 *table = entries(table_phys);
    for (unsigned i = 0; i < ENTRIES && stale_ != 0; i++) {
        const u64 base = first_gfn + i * frames_per_entry(level);
        if ((load(&table[i]) & STALE) != 0)
            open(&table[i], level, base, source); // at level 2 this refills the leaf table
        const u64 value = load(&table[i]);
        if (level > 2 && (value & PRESENT) != 0)
            resolve_table(value & ADDRESS_MASK, level - 1, base, source);
    }
}

Translation NestedPageTable::translate(u64 gfn) const
{
    if (root_ == 0 || gfn >= GFN_LIMIT)
        return {};
    bool writable = true, executable = true, user = true;
    u64 table = root_;
    for (unsigned level = LEVELS; level >= 1; level--) {
        const u64 value = load(&entries(table)[index_at(gfn, level)]);
        if ((value & PRESENT) == 0)
            return {};
        writable &= (value & WRITABLE) != 0;
        executable &= (value & NO_EXECUTE) == 0;
        user &= (value & USER) != 0;
        if (level == 1)
            return {true, writable, executable, user, (value & CACHE_DISABLE) != 0, (value & ADDRESS_MASK) >> 12};
        table = value & ADDRESS_MASK;
    }
    return {};
}

u64 NestedPageTable::leaf(u64 gfn) const
{
    if (root_ == 0 || gfn >= GFN_LIMIT)
        return 0;
    u64 table = root_;
    for (unsigned level = LEVELS; level > 1; level--) {
        const u64 value = load(&entries(table)[index_at(gfn, level)]);
        if ((value & (PRESENT | STALE)) == 0)
            return 0;
        table = value & ADDRESS_MASK;
    }
    return load(&entries(table)[index_at(gfn, 1)]);
}

bool NestedPageTable::has_leaf_table(u64 gfn) const
{
    if (root_ == 0 || gfn >= GFN_LIMIT)
        return false;
    u64 table = root_;
    for (unsigned level = LEVELS; level > 1; level--) {
        const u64 value = load(&entries(table)[index_at(gfn, level)]);
        if ((value & (PRESENT | STALE)) == 0)
            return false;
        table = value & ADDRESS_MASK;
    }
    return true;
}

u64 NestedPageTable::audit(const LeafSource &source) const
{
    return root_ != 0 ? audit_table(root_, LEVELS, 0, source) : 0;
}

u64 NestedPageTable::audit_table(u64 table_phys, unsigned level, u64 first_gfn, const LeafSource &source) const
{
    const u64 *table = entries(table_phys);
    u64 wrong = 0;
    for (unsigned i = 0; i < ENTRIES; i++) {
        const u64 value = load(&table[i]);
        const u64 base = first_gfn + i * frames_per_entry(level);
        if (level == 1) {
            if ((value & ~HARDWARE_BITS) != leaf_entry(source(base)))
                wrong++;
        } else if ((value & PRESENT) != 0) {
            if ((value & (USER | WRITABLE)) != (USER | WRITABLE))
                wrong++;
            wrong += audit_table(value & ADDRESS_MASK, level - 1, base, source);
        }
    }
    return wrong;
}

void NestedPageTable::free_table(u64 table_phys, unsigned level)
{
    if (level > 1) {
        const u64 *table = entries(table_phys);
        for (unsigned i = 0; i < ENTRIES; i++) {
            const u64 value = load(&table[i]);
            if ((value & (PRESENT | STALE)) != 0)
                free_table(value & ADDRESS_MASK, level - 1);
        }
    }
    frames_->free_frames(table_phys, 0);
    table_frames_--;
}

void NestedPageTable::destroy()
{
    if (root_ != 0)
        free_table(root_, LEVELS);
    root_ = 0;
    stale_ = 0;
}

} // namespace npt
