// SPDX-License-Identifier: MIT
// Concurrency tests of the p2m with threads as CPUs: references, copies against changes, log-dirty, views.
#include "concurrency_support.hpp"
#include "dom/guest_memory.hpp"
#include "test_p2m_support.hpp"
#include <gtest/gtest.h>
#include <map>

using namespace concurrency_test;
using namespace p2m_test;

namespace {

class P2mConcurrencyTest : public P2mViewTest {
protected:
    void SetUp() override
    {
        P2mViewTest::SetUp();
        host_tlb_kick = nullptr; // the simulated CPUs leave the guest on their own
    }
};

// A simulated CPU running one domain's guest code: its TLB caches translations from the
// nested tables (the host view's or a view's) and is flushed when the domain's TLB
// generation moved since its last flush, as the vCPU loop does before VMRUN. A nested
// fault leaves the guest first, as a #VMEXIT does.
class SimulatedCpu final {
public:
    SimulatedCpu(P2m &p2m, u32 cpu, u16 view = P2M_HOST_VIEW) : p2m_(p2m), cpu_(cpu), view_(view) {}

    // One guest access of gfn. `use` runs inside the guest with the cached translation,
    // `stay` times with a yield between (a guest that keeps using it a while).
    template <typename Use>
    NpfAction access(u64 gfn, bool write, Use &&use, unsigned stay = 1)
    {
        // A copier cleaning in a tight loop may write-protect the page again between the
        // fault and the retry, as on hardware; a p2m that never lets the access through
        // is caught by the bound.
        for (int attempt = 0; attempt < 10000; attempt++) {
            const u64 generation = p2m_.tlb().enter_guest(cpu_);
            if (generation != flushed_at_) {
                tlb_.clear();
                flushed_at_ = generation;
            }
            auto cached = tlb_.find(gfn);
            if (cached == tlb_.end()) {
                const npt::Translation walk = p2m_.views().translate(view_, gfn);
                if (walk.present)
                    cached = tlb_.emplace(gfn, walk).first;
            }
            if (cached != tlb_.end() && (!write || cached->second.writable)) {
                for (unsigned i = 0; i < stay; i++) {
                    if (i != 0)
                        std::this_thread::yield();
                    use(cached->second);
                }
                p2m_.tlb().exit_guest(cpu_);
                return NpfAction::retry;
            }
            p2m_.tlb().exit_guest(cpu_);
            tlb_.erase(gfn); // the fault invalidates the entry
            const NpfAction action = p2m_.handle_nested_fault(frame_to_addr(gfn), write, false, view_);
            if (action != NpfAction::retry)
                return action;
        }
        return NpfAction::crash_internal; // the p2m keeps saying retry without fixing anything
    }

    // The TLB generation its cached translations are from (while it runs guest code).
    u64 running_generation() const { return flushed_at_; }

private:
    P2m &p2m_;
    u32 cpu_;
    u16 view_;
    u64 flushed_at_ = ~u64{0};
    std::map<u64, npt::Translation> tlb_;
};

u64 *word_of(u64 mfn) { return phys_to<u64>(frame_to_addr(mfn)); }

} // namespace

// ---- frame references ------------------------------------------------------------------

TEST_F(P2mConcurrencyTest, AReferencedFrameCannotBeUnmappedOrCoveredUntilReleased)
{
    const u64 page = owned_extra_page();
    ASSERT_EQ(p2m().map(2000, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    {
        P2mFrameRef ref;
        ASSERT_EQ(p2m().get_frame(2000, ref), 0);
        EXPECT_TRUE(ref.held());
        EXPECT_EQ(ref.entry().mfn, page);
        EXPECT_EQ(p2m().frame_refs(), 1u);
        EXPECT_EQ(p2m().unmap(2000, 1), -BATON_EBUSY);
        EXPECT_EQ(p2m().unmap(1990, 20), -BATON_EBUSY) << "a span containing it";
        EXPECT_EQ(p2m().lookup(2000).mfn, page) << "a refused change changes nothing";

        P2mFrameRef ram;
        ASSERT_EQ(p2m().get_frame(7, ram), 0);
        EXPECT_EQ(p2m().map(7, owned_extra_page(), 1, P2mType::ram_rw, P2mAccess::rw), -BATON_EBUSY)
            << "covering referenced RAM";
        ram.release();
        EXPECT_FALSE(ram.held());
        EXPECT_EQ(p2m().unmap(3000, 1), 0) << "elsewhere changes go on";
    }
    EXPECT_EQ(p2m().frame_refs(), 0u);
    EXPECT_EQ(p2m().unmap(2000, 1), 0);
    // Holes and emulated MMIO have no frame behind them: nothing to reference.
    P2mFrameRef hole;
    ASSERT_EQ(p2m().get_frame(2000, hole), 0);
    EXPECT_FALSE(hole.held());
    EXPECT_EQ(hole.entry().type, P2mType::invalid);
}

TEST_F(P2mConcurrencyTest, EveryReferenceSlotTakenGivesEagainNotAWait)
{
    std::vector<std::unique_ptr<P2mFrameRef>> refs;
    for (usize i = 0; i < P2M_REF_SLOTS; i++) {
        refs.push_back(std::make_unique<P2mFrameRef>());
        ASSERT_EQ(p2m().get_frame(i, *refs.back()), 0);
    }
    P2mFrameRef one_more;
    EXPECT_EQ(p2m().get_frame(100, one_more), -BATON_EAGAIN);
    EXPECT_FALSE(one_more.held());
    u8 byte = 0;
    EXPECT_EQ(copy_from_guest(p2m(), &byte, frame_to_addr(100), 1), -BATON_EAGAIN);
    refs.pop_back();
    EXPECT_EQ(copy_from_guest(p2m(), &byte, frame_to_addr(100), 1), 0);
}

// A reference held on another CPU blocks the change there; once released, it succeeds.
TEST_F(P2mConcurrencyTest, AReferenceOnAnotherCpuBlocksTheChangeUntilReleased)
{
    const u64 page = owned_extra_page();
    ASSERT_EQ(p2m().map(2000, page, 1, P2mType::ram_rw, P2mAccess::rw), 0);
    std::atomic<int> step{0};
    std::thread holder([&] {
        host_set_cpu_index(1);
        P2mFrameRef ref;
        EXPECT_EQ(p2m().get_frame(2000, ref), 0);
        word_of(ref.entry().mfn)[0] = 0x1234; // the hypervisor uses the frame
        step.store(1);
        while (step.load() != 2)
            std::this_thread::yield();
        word_of(ref.entry().mfn)[1] = 0x5678; // still ours: the change was refused
    });
    while (step.load() != 1)
        std::this_thread::yield();
    EXPECT_EQ(p2m().unmap(2000, 1), -BATON_EBUSY);
    step.store(2);
    holder.join();
    EXPECT_EQ(p2m().unmap(2000, 1), 0);
    EXPECT_EQ(word_of(page)[0], 0x1234u);
    EXPECT_EQ(word_of(page)[1], 0x5678u);
}

// destroy() frees guest RAM only once no reference is held: the holder keeps writing the
// frame and checking the frame table until it lets go (a free meanwhile would be a race
// ThreadSanitizer reports, and a frame-table entry that is no longer guest RAM).
TEST_F(P2mConcurrencyTest, DestroyWaitsForReferencesToGo)
{
    std::atomic<int> step{0};
    std::atomic<unsigned> lost{0};
    std::thread holder([&] {
        host_set_cpu_index(1);
        P2mFrameRef ref;
        EXPECT_EQ(p2m().get_frame(5, ref), 0);
        const u64 mfn = ref.entry().mfn;
        step.store(1);
        while (step.load() != 2)
            std::this_thread::yield();
        for (int i = 0; i < 20000; i++) {
            word_of(mfn)[0] = static_cast<u64>(i);
            const FrameEntry &frame = frames_->table()[mfn];
            if (frame.type != FrameType::guest_ram || frame.owner != DOMAIN)
                lost.fetch_add(1);
        }
    });
    while (step.load() != 1)
        std::this_thread::yield();
    std::thread destroyer([&] {
        host_set_cpu_index(2);
        step.store(2);
        p2m().destroy();
    });
    holder.join();
    destroyer.join();
    EXPECT_EQ(lost.load(), 0u);
    EXPECT_EQ(p2m().frame_refs(), 0u);
    EXPECT_FALSE(p2m().ready());
    ASSERT_EQ(p2m().create(), 0); // TearDown destroys it again
}

// Hypercall copies on several CPUs against a CPU that keeps unmapping a page, handing it
// back to the allocator, scribbling on it as its next owner would, and mapping a fresh
// one: no copy ever touches a frame after its unmap succeeded. ThreadSanitizer sees any
// overlap of a copy with the scribble or the free; the frame table must say "extra page
// of this domain" for every frame a reference holds.
TEST_F(P2mConcurrencyTest, CopiesNeverTouchAFrameAfterItIsUnmappedAndFreed)
{
    constexpr u64 FIRST = 2000, PAGES = 4;
    constexpr unsigned REMAPS = 400;
    auto new_page = [&] {
        return addr_to_frame(frames_->alloc_frames(0, MemClass::preserved, DOMAIN, FrameType::extra));
    };
    for (u64 i = 0; i < PAGES; i++)
        ASSERT_EQ(p2m().map(FIRST + i, new_page(), 1, P2mType::ram_rw, P2mAccess::rw), 0);
    std::atomic<bool> done{false};
    std::atomic<u64> copies{0}, faults{0}, refused{0}, wrong_owner{0};
    Barrier start(CPUS + 1);
    std::thread changer([&] {
        host_set_cpu_index(0);
        start.arrive_and_wait();
        // At least REMAPS, and on until the copies have run a good while beside them.
        for (unsigned n = 0; n < REMAPS || copies.load() < 2000; n++) {
            const u64 gfn = FIRST + n % PAGES;
            const u64 mfn = p2m().lookup(gfn).mfn;
            const int error = p2m().unmap(gfn, 1);
            if (error == -BATON_EBUSY) {
                refused.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            EXPECT_EQ(error, 0);
            __builtin_memset(phys_to<u8>(frame_to_addr(mfn)), 0xee, PAGE_SIZE); // the next owner
            frames_->free_frames(frame_to_addr(mfn), 0);
            if (p2m().map(gfn, new_page(), 1, P2mType::ram_rw, P2mAccess::rw) != 0) {
                ADD_FAILURE() << "map of a fresh extra page failed";
                break;
            }
        }
        done.store(true);
    });
    run_cpus(CPUS, [&](u32 cpu) {
        start.arrive_and_wait();
        for (u64 n = 0; !done.load(std::memory_order_relaxed); n++) {
            const u64 gfn = FIRST + (n + cpu) % PAGES;
            const u64 value = u64{cpu} << 32 | n;
            const u64 gpa = frame_to_addr(gfn) + cpu * sizeof(u64);
            if (copy_to_guest(p2m(), gpa, &value, sizeof(value)) != 0) {
                faults.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            u64 back = 0;
            if (copy_from_guest(p2m(), &back, gpa, sizeof(back)) == 0)
                copies.fetch_add(1, std::memory_order_relaxed);
            // A longer use under one reference (mapping a guest page in the hypervisor):
            // plain writes a while, the frame table checked after each.
            P2mFrameRef ref;
            if (p2m().get_frame(gfn, ref) == 0 && ref.held()) {
                for (int i = 0; i < 4; i++) {
                    word_of(ref.entry().mfn)[cpu] = value + static_cast<u64>(i);
                    std::this_thread::yield();
                    const FrameEntry &frame = frames_->table()[ref.entry().mfn];
                    if (frame.type != FrameType::extra || frame.owner != DOMAIN)
                        wrong_owner.fetch_add(1, std::memory_order_relaxed);
                }
            }
        }
    });
    changer.join();
    EXPECT_EQ(wrong_owner.load(), 0u);
    EXPECT_GT(copies.load(), 0u);
    for (u64 i = 0; i < PAGES; i++) {
        const u64 mfn = p2m().lookup(FIRST + i).mfn;
        ASSERT_EQ(p2m().unmap(FIRST + i, 1), 0);
        frames_->free_frames(frame_to_addr(mfn), 0);
    }
    RecordProperty("refused_changes", static_cast<int>(refused.load()));
    RecordProperty("faulted_copies", static_cast<int>(faults.load()));
}

// ---- log-dirty with several writers -------------------------------------------------------

// Several vCPUs write their own pages (through their TLBs, faulting on write-protected
// leaves) while a migration copies every page reported dirty, round after round, and a
// last round after they stop. The copy must equal memory: a write lost between a clean and
// the copy (for instance through a stale writable TLB entry the clean did not shoot down)
// leaves the copy behind.
TEST_F(P2mConcurrencyTest, NoDirtyPageIsLostWithSeveralWritersAndAConcurrentCopier)
{
    constexpr u64 PAGES_PER_CPU = 24, PAGES = PAGES_PER_CPU * CPUS;
    constexpr unsigned WRITES = 1500;
    ASSERT_EQ(p2m().enable_log_dirty(), 0);
    std::vector<u64> image(PAGES, 0);
    auto copy_page = [&](u64 gfn) { image[gfn] = __atomic_load_n(word_of(p2m().lookup(gfn).mfn), __ATOMIC_RELAXED); };
    for (u64 gfn = 0; gfn < PAGES; gfn++)
        copy_page(gfn); // the first full pass
    std::atomic<unsigned> writers_left{CPUS};
    std::atomic<u64> denied{0}, rounds{0}, stale{0};
    // Once a clean that moved the TLB generation past G has returned, no vCPU may still
    // run on translations older than G: that is what makes the copy right.
    std::atomic<u64> settled{0};
    std::thread copier([&] {
        host_set_cpu_index(0);
        auto bits = std::make_unique<DirtyBits>();
        auto round = [&] {
            const u64 before = p2m().tlb_generation();
            const i64 found = p2m().read_dirty(0, PAGES, *bits, true);
            EXPECT_GE(found, 0);
            if (found > 0)
                settled.store(before + 1);
            bits->for_each_dirty(copy_page); // read_dirty returned: no vCPU writes through an old leaf
            rounds.fetch_add(1, std::memory_order_relaxed);
        };
        while (writers_left.load() != 0) {
            round();
            std::this_thread::yield(); // migration copies pages between rounds
        }
        round(); // the last round, with every vCPU stopped
    });
    run_cpus(CPUS, [&](u32 cpu) {
        SimulatedCpu vcpu(p2m(), cpu);
        for (unsigned n = 1; n <= WRITES; n++) {
            const u64 gfn = (cpu - 1) * PAGES_PER_CPU + n % PAGES_PER_CPU;
            const NpfAction action = vcpu.access(
                gfn, true,
                [&](const npt::Translation &walk) {
                    if (vcpu.running_generation() < settled.load())
                        stale.fetch_add(1);
                    __atomic_store_n(word_of(walk.mfn), u64{cpu} << 32 | n, __ATOMIC_RELAXED);
                },
                3);
            if (action != NpfAction::retry)
                denied.fetch_add(1);
        }
        writers_left.fetch_sub(1);
    });
    copier.join();
    EXPECT_EQ(denied.load(), 0u);
    EXPECT_EQ(stale.load(), 0u) << "writes through translations a returned clean had shot down";
    u64 behind = 0;
    for (u64 gfn = 0; gfn < PAGES; gfn++)
        behind += image[gfn] != __atomic_load_n(word_of(p2m().lookup(gfn).mfn), __ATOMIC_RELAXED) ? 1 : 0;
    EXPECT_EQ(behind, 0u) << "pages whose last write the migration never saw, after " << rounds.load() << " rounds";
    EXPECT_EQ(p2m().disable_log_dirty(), 0);
}

// ---- alternate views with rights changing under running vCPUs ---------------------------

// vCPUs write through a view while another CPU takes write rights away and gives them back.
// Once the change that took them away has returned, no vCPU may still write through a
// writable translation: `read_only` is raised only after that return and dropped before
// rights come back.
TEST_F(P2mConcurrencyTest, NoStaleRightsInAViewWhileRightsChangeUnderRunningVcpus)
{
    constexpr u64 SPAN = 16;
    constexpr unsigned FLIPS = 60;
    const u16 view = new_view();
    std::atomic<bool> read_only{false}, done{false};
    std::atomic<u64> stale{0}, writes{0}, refused{0};
    std::atomic<u64> settled{0}; // as in the log-dirty test: no vCPU runs on older translations
    std::thread changer([&] {
        host_set_cpu_index(0);
        for (unsigned i = 0; i < FLIPS; i++) {
            const u64 before = p2m().tlb_generation();
            EXPECT_EQ(p2m().views().set_access(view, 0, SPAN, P2mAccess::r), 0);
            settled.store(before + 1);
            read_only.store(true);
            // Read-only until some vCPU has met it (a refused write), so that vCPUs run
            // under the new rights for a while.
            for (const u64 seen = refused.load(); refused.load() == seen;)
                std::this_thread::yield();
            read_only.store(false);
            EXPECT_EQ(p2m().views().set_access(view, 0, SPAN, P2mAccess::rw), 0);
        }
        done.store(true);
    });
    run_cpus(CPUS, [&](u32 cpu) {
        ASSERT_EQ(p2m().views().enter(view), 0);
        SimulatedCpu vcpu(p2m(), cpu, view);
        for (u64 n = 0; !done.load(std::memory_order_relaxed); n++) {
            const NpfAction action = vcpu.access(
                n % SPAN, true,
                [&](const npt::Translation &walk) {
                    if (read_only.load() || vcpu.running_generation() < settled.load())
                        stale.fetch_add(1);
                    __atomic_store_n(word_of(walk.mfn) + cpu, n, __ATOMIC_RELAXED);
                    writes.fetch_add(1, std::memory_order_relaxed);
                },
                4);
            if (action == NpfAction::crash_access_denied)
                refused.fetch_add(1, std::memory_order_relaxed);
            else
                EXPECT_EQ(action, NpfAction::retry);
        }
        p2m().views().leave(view);
    });
    changer.join();
    EXPECT_EQ(stale.load(), 0u) << "writes through rights a returned change had taken away";
    EXPECT_GT(writes.load(), 0u);
    ASSERT_EQ(p2m().views().destroy(view), 0);
}

// Lookups, judged faults (emulated MMIO) and copies on many CPUs at once, while another
// CPU populates and maps around them: every lookup sees either the old or the new state
// of a frame, never a torn one, and every CPU's lock record is empty afterwards.
TEST_F(P2mConcurrencyTest, LookupsAndMmioFaultsRunBesideChanges)
{
    ASSERT_EQ(p2m().map(4000, 0, 8, P2mType::mmio_emulated, P2mAccess::rw), 0);
    std::atomic<bool> done{false};
    std::atomic<u64> torn{0}, emulated{0};
    std::thread changer([&] {
        host_set_cpu_index(0);
        for (u64 block = 0; block < 64; block++)
            EXPECT_EQ(p2m().populate_ram(5000 + block * 16, 16, P2mAccess::rwx), 0);
        done.store(true);
    });
    run_cpus(CPUS, [&](u32 cpu) {
        for (u64 n = 0; !done.load(std::memory_order_relaxed); n++) {
            const P2mEntry entry = p2m().lookup(5000 + (n * 7 + cpu) % 1024);
            if (entry.type != P2mType::invalid && (entry.type != P2mType::ram_rw || !entry.owned))
                torn.fetch_add(1);
            if (p2m().handle_nested_fault(frame_to_addr(4000 + n % 8), true, false) == NpfAction::emulate_mmio)
                emulated.fetch_add(1, std::memory_order_relaxed);
            u64 value = 0;
            EXPECT_EQ(copy_from_guest(p2m(), &value, frame_to_addr(n % 64), sizeof(value)), 0);
        }
        EXPECT_EQ(mm_locks_held(), 0u);
    });
    changer.join();
    EXPECT_EQ(torn.load(), 0u);
    EXPECT_GT(emulated.load(), 0u);
}
