// SPDX-License-Identifier: MIT
// Walking VT-d tables in memory: what a live update hands over and the next image adopts.
#pragma once
#include "arch/x86_64/iommu/vtd_format.hpp"
#include "mm/frame_table.hpp"

// Pure logic over the direct map (host tests walk tables built in simulated memory). The
// tables may come from another image, so every pointer is checked before it is followed:
// `reachable(phys)` says whether a table frame may be read at all.
namespace vtd {

// A frame a handed-over table may live in: a preserved page_table frame of `owner` (the
// hypervisor for root and context tables, the domain for its IO page tables).
inline bool preserved_table_frame(const FrameTable &table, u64 phys, frame_owner_t owner)
{
    const u64 frame = addr_to_frame(phys);
    return is_aligned(phys, PAGE_SIZE) && table.contains(frame) && table[frame].type == FrameType::page_table &&
           table[frame].owner == owner && table[frame].has(FRAME_PRESERVED);
}

// Calls visit(bus, context_table_phys) for every present root entry, in bus order.
// False (and stops) at an entry pointing at a frame `reachable` refuses.
template <typename Reachable, typename Visit>
[[nodiscard]] bool for_each_context_table(u64 root_phys, Reachable &&reachable, Visit &&visit)
{
    if (!reachable(root_phys))
        return false;
    const Entry128 *roots = phys_to<Entry128>(root_phys);
    for (unsigned bus = 0; bus < ROOT_ENTRIES; bus++) {
        if (!entry_present(roots[bus]))
            continue;
        if (!reachable(entry_address(roots[bus])))
            return false;
        visit(static_cast<u8>(bus), entry_address(roots[bus]));
    }
    return true;
}

namespace walk_detail {
template <typename Reachable, typename Visit>
[[nodiscard]] bool walk_tables(TableFormat format, u64 table_phys, unsigned level, Reachable &reachable, Visit &visit)
{
    if (!reachable(table_phys))
        return false;
    visit(table_phys);
    if (level == 1)
        return true;
    const u64 *entries = phys_to<u64>(table_phys);
    for (unsigned i = 0; i < SL_ENTRIES; i++) {
        const u64 entry = entries[i];
        if (!io_pte::present(format, entry) || io_pte::large_leaf(format, entry, level))
            continue; // not present, or a large leaf
        if (!walk_tables(format, io_pte::address(entry), level - 1, reachable, visit))
            return false;
    }
    return true;
}
} // namespace walk_detail

// Calls visit(table_phys) for every table of the IO page-table tree at `root_phys`
// (`levels` deep, 3 or 4, in `format`), the root first. False (and stops) for another
// level count or a table `reachable` refuses.
template <typename Reachable, typename Visit>
[[nodiscard]] bool for_each_io_table(u64 root_phys, unsigned levels, Reachable &&reachable, Visit &&visit,
                                     TableFormat format = TableFormat::vtd)
{
    if (levels < 3 || levels > 4)
        return false;
    return walk_detail::walk_tables(format, root_phys, levels, reachable, visit);
}

} // namespace vtd
