// SPDX-License-Identifier: MIT
// The freestanding wire reader and writer against hand-made and hostile messages.
#include "handover/record_reader.hpp"
#include "handover/record_writer.hpp"
#include "handover_layout.hpp"
#include "test_handover_support.hpp"
#include <gtest/gtest.h>

using namespace handover;
using namespace handover::wire;

namespace handover::wire {
// Readable failures: gtest prints the error's text instead of its byte.
void PrintTo(Error error, std::ostream *out) { *out << error_text(error); }
} // namespace handover::wire

namespace {

// A message as words: the segment table first, then the segment.
struct Message {
    std::vector<u64> words;

    explicit Message(std::vector<u64> segment)
    {
        words.push_back(u64{segment.size()} << 32);
        words.insert(words.end(), segment.begin(), segment.end());
    }
    const void *data() const { return words.data(); }
    u64 size() const { return words.size() * 8; }
};

constexpr u64 struct_ptr(i64 offset, u16 data, u16 pointers) { return encode_struct_pointer(offset, data, pointers); }
constexpr u64 list_ptr(i64 offset, ElementSize size, u32 count) { return encode_list_pointer(offset, size, count); }

// Reads the root as a struct with one pointer, then that pointer as a list of `size`.
Error read_list_at_root(const Message &message, ElementSize size, ReaderLimits limits = {})
{
    MessageReader reader(message.data(), message.size(), limits);
    reader.root().read_list(0, size);
    return reader.error();
}

} // namespace

TEST(HandoverWire, SegmentTableChecks)
{
    const u64 good[] = {u64{1} << 32, 0};
    EXPECT_EQ(MessageReader(good, 16).error(), Error::none);
    EXPECT_EQ(MessageReader(reinterpret_cast<const u8 *>(good) + 4, 8).error(), Error::misaligned_buffer);
    EXPECT_EQ(MessageReader(good, 7).error(), Error::truncated_segment_table);
    EXPECT_EQ(MessageReader(good, 8).error(), Error::segment_exceeds_buffer);
    const u64 two_segments[] = {1 | (u64{1} << 32), 1, 0, 0};
    EXPECT_EQ(MessageReader(two_segments, 32).error(), Error::multiple_segments);
    const u64 huge[] = {u64{0xffffffff} << 32, 0};
    EXPECT_EQ(MessageReader(huge, 16).error(), Error::segment_too_large);
    const u64 empty[] = {0};
    MessageReader no_root(empty, 8);
    EXPECT_EQ(no_root.error(), Error::none);
    EXPECT_TRUE(no_root.root().is_null());
    EXPECT_EQ(no_root.error(), Error::pointer_out_of_bounds);
}

TEST(HandoverWire, PointerKindsAreChecked)
{
    const Message far_root({2 | (u64{5} << 3)});
    MessageReader far(far_root.data(), far_root.size());
    EXPECT_TRUE(far.root().is_null());
    EXPECT_EQ(far.error(), Error::far_pointer);
    const Message capability_root({3});
    MessageReader capability(capability_root.data(), capability_root.size());
    capability.root();
    EXPECT_EQ(capability.error(), Error::capability_pointer);
    const Message list_as_root({list_ptr(0, ElementSize::byte, 1), 0});
    MessageReader list_root(list_as_root.data(), list_as_root.size());
    list_root.root();
    EXPECT_EQ(list_root.error(), Error::expected_struct);
    const Message struct_as_list({struct_ptr(0, 0, 1), struct_ptr(0, 1, 0), 0});
    EXPECT_EQ(read_list_at_root(struct_as_list, ElementSize::byte), Error::expected_list);
}

TEST(HandoverWire, BoundsAreCheckedWithoutOverflow)
{
    // Root struct of 2 data words, but the segment holds only one after the pointer.
    const Message past_end({struct_ptr(0, 2, 0), 0});
    MessageReader a(past_end.data(), past_end.size());
    a.root();
    EXPECT_EQ(a.error(), Error::pointer_out_of_bounds);
    // Before the segment: offset -2 from word 0.
    const Message before({struct_ptr(-2, 0, 0)});
    MessageReader b(before.data(), before.size());
    b.root();
    EXPECT_EQ(b.error(), Error::pointer_out_of_bounds);
    // Largest offset and count: no wrap-around lets them in.
    const Message far_away({struct_ptr(0, 0, 1), list_ptr((1 << 29) - 1, ElementSize::eight_bytes, MAX_LIST_ELEMENTS)});
    EXPECT_EQ(read_list_at_root(far_away, ElementSize::eight_bytes), Error::pointer_out_of_bounds);
    const Message negative({struct_ptr(0, 0, 1), list_ptr(-(1 << 29), ElementSize::composite, MAX_LIST_ELEMENTS)});
    EXPECT_EQ(read_list_at_root(negative, ElementSize::composite), Error::pointer_out_of_bounds);
}

TEST(HandoverWire, ElementSizesAreChecked)
{
    const Message bytes({struct_ptr(0, 0, 1), list_ptr(0, ElementSize::byte, 8), 0});
    EXPECT_EQ(read_list_at_root(bytes, ElementSize::byte), Error::none);
    EXPECT_EQ(read_list_at_root(bytes, ElementSize::eight_bytes), Error::wrong_element_size);
    EXPECT_EQ(read_list_at_root(bytes, ElementSize::composite), Error::wrong_element_size);
}

TEST(HandoverWire, CompositeTagsAreChecked)
{
    // Tag claims 2 elements of 1 word, but the list has only 1 word.
    const Message overrun(
        {struct_ptr(0, 0, 1), list_ptr(0, ElementSize::composite, 1), encode_composite_tag(2, 1, 0), 0});
    EXPECT_EQ(read_list_at_root(overrun, ElementSize::composite), Error::composite_overrun);
    // A tag that is a list pointer.
    const Message bad_tag(
        {struct_ptr(0, 0, 1), list_ptr(0, ElementSize::composite, 1), list_ptr(0, ElementSize::byte, 1), 0});
    EXPECT_EQ(read_list_at_root(bad_tag, ElementSize::composite), Error::bad_composite_tag);
    // Element counts with the top bit of the 30-bit field set are refused too.
    const Message negative_count({struct_ptr(0, 0, 1), list_ptr(0, ElementSize::composite, 0), (u64{1} << 31)});
    EXPECT_EQ(read_list_at_root(negative_count, ElementSize::composite), Error::bad_composite_tag);
}

TEST(HandoverWire, TextMustBeTerminated)
{
    // Handover.writerBuildId is pointer 0 of the root; the root has DATA_WORDS data words.
    const u64 data = schema::Handover::DATA_WORDS, pointers = schema::Handover::POINTER_COUNT;
    std::vector<u64> segment(1 + data + pointers + 1, 0);
    segment[0] = struct_ptr(0, static_cast<u16>(data), static_cast<u16>(pointers));
    const size_t text_pointer = 1 + data, text = 1 + data + pointers;
    segment[text_pointer] = list_ptr(text - text_pointer - 1, ElementSize::byte, 3);
    segment[text] = 0x636261; // "abc" without the NUL in the three bytes
    const Message unterminated(segment);
    MessageReader a(unterminated.data(), unterminated.size());
    EXPECT_EQ(schema::Handover::Reader(a.root()).writer_build_id().size, 0u);
    EXPECT_EQ(a.error(), Error::text_not_terminated);

    segment[text_pointer] = list_ptr(text - text_pointer - 1, ElementSize::byte, 0);
    const Message empty_list(segment);
    MessageReader b(empty_list.data(), empty_list.size());
    schema::Handover::Reader(b.root()).writer_build_id();
    EXPECT_EQ(b.error(), Error::text_not_terminated);

    segment[text_pointer] = list_ptr(text - text_pointer - 1, ElementSize::byte, 4);
    const Message good(segment);
    MessageReader c(good.data(), good.size());
    const TextReader id = schema::Handover::Reader(c.root()).writer_build_id();
    EXPECT_EQ(std::string(id.chars, id.size), "abc");
    EXPECT_EQ(c.error(), Error::none);
}

TEST(HandoverWire, NestingIsLimited)
{
    // A struct whose only pointer points at itself: infinitely deep.
    const Message loop({struct_ptr(0, 0, 1), struct_ptr(-1, 0, 1)});
    MessageReader reader(loop.data(), loop.size(), {.budget_words = 1 << 20});
    EXPECT_EQ(reader.check_structure(), Error::nesting_too_deep);
    // With the default budget (8 times the message), the budget runs out first.
    MessageReader small_budget(loop.data(), loop.size());
    EXPECT_EQ(small_budget.check_structure(), Error::budget_exhausted);
    MessageReader typed(loop.data(), loop.size(), {.budget_words = 0, .max_depth = 8});
    StructReader at = typed.root();
    for (int i = 0; i < 20 && typed.ok(); i++)
        at = at.read_struct(0);
    EXPECT_EQ(typed.error(), Error::nesting_too_deep);
}

TEST(HandoverWire, BudgetStopsAmplification)
{
    // 1000 pointers, all to the same 1000-word list: a million words of reading.
    std::vector<u64> segment = {struct_ptr(0, 0, 1000)};
    for (i64 i = 0; i < 1000; i++)
        segment.push_back(list_ptr(1000 - i - 1, ElementSize::eight_bytes, 1000));
    segment.resize(segment.size() + 1000, 0);
    const Message amplified(segment);
    MessageReader reader(amplified.data(), amplified.size());
    EXPECT_EQ(reader.check_structure(), Error::budget_exhausted);

    // A void list of 2^29-1 elements occupies nothing but costs its length.
    const Message voids({struct_ptr(0, 0, 1), list_ptr(0, ElementSize::empty, MAX_LIST_ELEMENTS)});
    EXPECT_EQ(read_list_at_root(voids, ElementSize::empty), Error::budget_exhausted);
    // So do zero-sized structs in a composite list.
    const Message empties(
        {struct_ptr(0, 0, 1), list_ptr(0, ElementSize::composite, 0), encode_composite_tag(MAX_LIST_ELEMENTS, 0, 0)});
    EXPECT_EQ(read_list_at_root(empties, ElementSize::composite), Error::budget_exhausted);
    // With a budget that allows it, the same list is fine.
    EXPECT_EQ(read_list_at_root(empties, ElementSize::composite, {.budget_words = u64{1} << 30}), Error::none);
}

TEST(HandoverWire, OverlapNeedsTheBitmap)
{
    // Two pointers to one 1-word list.
    const Message shared(
        {struct_ptr(0, 0, 2), list_ptr(1, ElementSize::eight_bytes, 1), list_ptr(0, ElementSize::eight_bytes, 1), 42});
    MessageReader without(shared.data(), shared.size());
    EXPECT_EQ(without.check_structure(), Error::none);
    MessageReader with(shared.data(), shared.size());
    std::vector<u64> bitmap(with.bitmap_words_needed());
    EXPECT_EQ(with.check_structure(bitmap.data(), bitmap.size()), Error::overlapping_objects);
    EXPECT_EQ(with.error_offset(), 8u + 2 * 8);
}

TEST(HandoverWire, WriterRunsOutOfSpaceCleanly)
{
    handover_test::WordBuffer buffer(256);
    MessageBuilder message(buffer.data(), buffer.size());
    auto record = message.init_root<schema::Handover>();
    record.set_writer_build_id("fits");
    auto domains = record.init_domains(100); // 100 * 10 words: no room
    EXPECT_EQ(domains.size(), 0u);
    domains[0].set_id(7); // inert: nothing written, nothing crashes
    record.set_writer_version("too late");
    EXPECT_EQ(message.error(), Error::buffer_too_small);
    EXPECT_EQ(message.finish(), 0u);

    MessageBuilder misaligned(buffer.data() + 4, 64);
    EXPECT_EQ(misaligned.error(), Error::misaligned_buffer);
    EXPECT_TRUE(misaligned.init_root<schema::Handover>().is_null());
    MessageBuilder tiny(buffer.data(), 8);
    EXPECT_EQ(tiny.error(), Error::buffer_too_small);
}

TEST(HandoverWire, WriterRefusesOverlongLists)
{
    handover_test::WordBuffer buffer(4096);
    MessageBuilder message(buffer.data(), buffer.size());
    auto record = message.init_root<schema::Handover>();
    // 2^28 domains of 10 words each: more words than one list may hold.
    EXPECT_EQ(record.init_domains(1u << 28).size(), 0u);
    EXPECT_EQ(message.error(), Error::list_too_long);
}

TEST(HandoverWire, WriterZeroesADirtyBuffer)
{
    handover_test::WordBuffer dirty(4096), clean(4096);
    memset(dirty.data(), 0xa5, dirty.size());
    u64 sizes[2];
    handover_test::WordBuffer *buffers[2] = {&dirty, &clean};
    for (int i = 0; i < 2; i++) {
        MessageBuilder message(buffers[i]->data(), buffers[i]->size());
        auto record = message.init_root<schema::Handover>();
        record.set_writer_build_id("abc");
        record.init_ram(2)[1].set_frame_count(5);
        {
            // Chunk lists are cleared element by element; the writer stops after 3 of 5
            // ranges of its first chunk, and the two it never handed out end up zero.
            P2mWriter p2m = init_p2m(record.init_domains(1)[0], 7, 5);
            for (int r = 0; r < 3; r++)
                p2m.next().set_frame_count(r + 1);
        }
        sizes[i] = message.finish();
    }
    ASSERT_EQ(sizes[0], sizes[1]);
    EXPECT_EQ(memcmp(dirty.data(), clean.data(), sizes[0]), 0);
}
