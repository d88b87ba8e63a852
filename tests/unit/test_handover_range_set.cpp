// SPDX-License-Identifier: MIT
// SortedRangeSet: containment over chunked, sorted range lists, in any query order.
#include "handover/range_set.hpp"
#include "handover/record_reader.hpp"
#include "handover/record_writer.hpp"
#include "test_handover_support.hpp"
#include <gtest/gtest.h>

using namespace handover;

namespace {

struct Ranges {
    handover_test::WordBuffer buffer{1 << 16};
    u64 size = 0;
};

// Preserved ranges [10,20) [20,30) [40,50) [50,51) [100,200), two per chunk.
void write(Ranges &out)
{
    wire::MessageBuilder message(out.buffer.data(), out.buffer.size());
    auto record = message.init_root<schema::Handover>();
    const u64 ranges[][2] = {{10, 10}, {20, 10}, {40, 10}, {50, 1}, {100, 100}};
    PreservedWriter writer = init_preserved(record, 5, 2);
    for (const auto &range : ranges)
        writer.add({.first_frame = range[0], .frame_count = range[1]});
    out.size = message.finish();
}

} // namespace

TEST(HandoverRangeSet, CoversAcrossAbuttingRangesAndChunks)
{
    Ranges ranges;
    write(ranges);
    wire::MessageReader message(ranges.buffer.data(), ranges.size);
    const PreservedReader preserved = preserved_of(schema::Handover::Reader(message.root()));
    ASSERT_EQ(preserved.chunk_count(), 3u);
    SortedRangeSet<schema::PreservedRange, 4> set;
    for (u32 c = 0; c < preserved.chunk_count(); c++)
        ASSERT_TRUE(set.add(preserved.chunk(c)));

    struct Query {
        u64 first, count;
        bool covered;
    };
    const Query queries[] = {
        {10, 1, true},  {10, 20, true},  {15, 15, true}, {29, 1, true},   {29, 2, false}, // [30,31) is a gap
        {9, 2, false},  {0, 1, false},   {40, 11, true}, {45, 6, true},   {40, 12, false},
        {51, 1, false}, {150, 50, true}, {199, 1, true}, {199, 2, false}, {200, 1, false},
        {12, 3, true},  {100, 1, true},  {11, 1, true},  {45, 1, true},   {1000, 1, false},
    };
    // In order, then backwards: the remembered position must not change the answers.
    for (const Query &query : queries)
        EXPECT_EQ(set.covers(query.first, query.count), query.covered) << query.first << "+" << query.count;
    for (size_t i = sizeof(queries) / sizeof(queries[0]); i-- > 0;)
        EXPECT_EQ(set.covers(queries[i].first, queries[i].count), queries[i].covered)
            << queries[i].first << "+" << queries[i].count;
    EXPECT_TRUE(message.ok());

    SortedRangeSet<schema::PreservedRange, 2> small;
    EXPECT_TRUE(small.add(preserved.chunk(0)));
    EXPECT_TRUE(small.add(preserved.chunk(1)));
    EXPECT_FALSE(small.add(preserved.chunk(2))); // over capacity: the caller reports it
}

TEST(HandoverRangeSet, FrameRangeLimits)
{
    EXPECT_TRUE(frame_range_fits(0, 1));
    EXPECT_FALSE(frame_range_fits(5, 0));
    EXPECT_TRUE(frame_range_fits(MAX_FRAME - 1, 1));
    EXPECT_FALSE(frame_range_fits(MAX_FRAME - 1, 2));
    EXPECT_FALSE(frame_range_fits(~u64{0}, 2)); // would wrap around
    EXPECT_FALSE(frame_range_fits(1, ~u64{0}));
}
