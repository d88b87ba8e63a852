// SPDX-License-Identifier: MIT
// Round trips between the freestanding codec and libcapnp, covering every schema field.
#include "abi/handover.capnp.h"
#include "handover/record_reader.hpp"
#include "handover/record_writer.hpp"
#include "test_handover_support.hpp"
#include <gtest/gtest.h>

using namespace handover;
using handover_test::PathSource;

namespace {

// Every field of the record, set by the freestanding writer through fill_fields().
std::vector<u8> kernel_filled(u64 seed)
{
    handover_test::WordBuffer buffer(1 << 20);
    wire::MessageBuilder message(buffer.data(), buffer.size());
    PathSource source(seed);
    schema::fill_fields(message.init_root<schema::Handover>(), source);
    const u64 size = message.finish();
    EXPECT_NE(size, 0u) << wire::error_text(message.error());
    return std::vector<u8>(buffer.data(), buffer.data() + size);
}

// The same values written by libcapnp's dynamic builder, in the same order.
std::vector<u8> libcapnp_filled(u64 seed)
{
    capnp::MallocMessageBuilder message(1 << 17);
    PathSource source(seed);
    handover_test::fill_dynamic(message.initRoot<capnp::DynamicStruct>(capnp::Schema::from<baton::record::Handover>()),
                                source);
    EXPECT_EQ(message.getSegmentsForOutput().size(), 1u);
    return handover_test::flat_bytes(message);
}

std::string libcapnp_dump(const std::vector<u8> &bytes)
{
    handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());
    capnp::FlatArrayMessageReader reader(
        kj::arrayPtr(reinterpret_cast<const capnp::word *>(words.data()), words.size() / 8));
    return handover_test::dump_dynamic(
        reader.getRoot<capnp::DynamicStruct>(capnp::Schema::from<baton::record::Handover>()));
}

std::string kernel_dump(const std::vector<u8> &bytes)
{
    handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());
    wire::MessageReader message(words.data(), bytes.size());
    EXPECT_EQ(message.check_structure(), wire::Error::none);
    handover_test::DumpVisitor dump;
    schema::visit_fields(schema::Handover::Reader(message.root()), dump);
    EXPECT_TRUE(message.ok()) << wire::error_text(message.error());
    return dump.out;
}

} // namespace

TEST(HandoverRoundTrip, KernelWriterMatchesLibcapnpByteForByte)
{
    for (u64 seed = 1; seed <= 4; seed++) {
        const std::vector<u8> ours = kernel_filled(seed);
        const std::vector<u8> theirs = libcapnp_filled(seed);
        ASSERT_EQ(ours.size(), theirs.size()) << "seed " << seed;
        EXPECT_TRUE(ours == theirs) << "seed " << seed << ": first difference at byte "
                                    << (std::mismatch(ours.begin(), ours.end(), theirs.begin()).first - ours.begin());
    }
}

TEST(HandoverRoundTrip, LibcapnpReadsEveryFieldTheKernelWrote)
{
    const std::vector<u8> ours = kernel_filled(7);
    const std::string expected = libcapnp_dump(libcapnp_filled(7));
    EXPECT_EQ(libcapnp_dump(ours), expected);
    EXPECT_GT(expected.size(), 5000u); // really covers the whole schema
    EXPECT_NE(expected.find("/domains[0]/vcpus[0]/fpuState = 0x"), std::string::npos) << expected;
}

TEST(HandoverRoundTrip, KernelReadsEveryFieldLibcapnpWrote)
{
    for (u64 seed = 11; seed <= 13; seed++) {
        const std::vector<u8> theirs = libcapnp_filled(seed);
        EXPECT_EQ(kernel_dump(theirs), libcapnp_dump(theirs)) << "seed " << seed;
    }
}

TEST(HandoverRoundTrip, NonZeroDefaultsAreStoredAsXor)
{
    // IommuFrames.domainId defaults to noDomain: an unset field reads noDomain, and
    // writing noDomain leaves zero bytes, as libcapnp does.
    handover_test::WordBuffer buffer(4096);
    wire::MessageBuilder message(buffer.data(), buffer.size());
    auto record = message.init_root<schema::Handover>();
    auto frames = record.init_iommu(1)[0].init_table_frames(2);
    frames[1].set_domain_id(7);
    frames[0].set_domain_id(schema::NO_DOMAIN);
    const u64 size = message.finish();
    ASSERT_NE(size, 0u);

    capnp::FlatArrayMessageReader reader(kj::arrayPtr(reinterpret_cast<const capnp::word *>(buffer.data()), size / 8));
    auto theirs = reader.getRoot<baton::record::Handover>().getIommu()[0].getTableFrames();
    EXPECT_EQ(theirs[0].getDomainId(), baton::record::NO_DOMAIN);
    EXPECT_EQ(theirs[1].getDomainId(), 7u);

    wire::MessageReader ours(buffer.data(), size);
    auto unit = schema::Handover::Reader(ours.root()).iommu()[0];
    EXPECT_EQ(unit.table_frames()[0].domain_id(), schema::NO_DOMAIN);
    EXPECT_EQ(unit.table_frames()[1].domain_id(), 7u);
    // Absent struct: every field reads its default.
    EXPECT_EQ(schema::IommuFrames::Reader().domain_id(), schema::NO_DOMAIN);
}

TEST(HandoverRoundTrip, ChunkedListsSplitAndRejoin)
{
    handover_test::WordBuffer buffer(1 << 16);
    wire::MessageBuilder message(buffer.data(), buffer.size());
    auto record = begin_record(message, {"build", "1.0", 1, 2, 3});
    auto domain = record.init_domains(1)[0];
    P2mWriter p2m = init_p2m(domain, 10, 4); // chunks of 4, 4, 2
    for (u64 i = 0; i < 10; i++) {
        auto range = p2m.next();
        range.set_guest_frame(i * 16);
        range.set_frame_count(16);
        range.set_type(schema::P2mType::ram_rw);
    }
    EXPECT_TRUE(p2m.complete());
    EXPECT_TRUE(p2m.next().is_null()); // an eleventh range has nowhere to go
    const u64 size = message.finish();
    ASSERT_NE(size, 0u);

    wire::MessageReader reader(buffer.data(), size);
    schema::Handover::Reader root;
    ASSERT_EQ(open_record(reader, &root), RecordStatus::ok);
    const P2mReader ranges = p2m_of(root.domains()[0]);
    EXPECT_EQ(ranges.chunk_count(), 3u);
    EXPECT_EQ(ranges.chunk(2).size(), 2u);
    EXPECT_EQ(ranges.total(), 10u);
    u64 expected = 0;
    ranges.for_each([&](schema::P2mRange::Reader range, u64 index) {
        EXPECT_EQ(index, expected);
        EXPECT_EQ(range.guest_frame(), expected * 16);
        expected++;
        return true;
    });
    EXPECT_EQ(expected, 10u);

    // libcapnp sees the same chunks.
    capnp::FlatArrayMessageReader theirs(kj::arrayPtr(reinterpret_cast<const capnp::word *>(buffer.data()), size / 8));
    auto chunks = theirs.getRoot<baton::record::Handover>().getDomains()[0].getP2m();
    ASSERT_EQ(chunks.size(), 3u);
    EXPECT_EQ(chunks[1].getRanges()[3].getGuestFrame(), 7u * 16);
    EXPECT_EQ(theirs.getRoot<baton::record::Handover>().getWriterBuildId(), "build");
}

TEST(HandoverRoundTrip, RecordHeaderAndVersionWindow)
{
    handover_test::WordBuffer buffer(4096);
    wire::MessageBuilder message(buffer.data(), buffer.size());
    auto record = begin_record(message, {"id", "v", 0, 0, 0});
    const u64 size = message.finish();
    wire::MessageReader reader(buffer.data(), size);
    schema::Handover::Reader root;
    ASSERT_EQ(open_record(reader, &root), RecordStatus::ok);
    EXPECT_EQ(root.abi_version(), schema::HANDOVER_ABI_VERSION);

    // A newer writer whose records this reader may still read is accepted...
    record.set_abi_version(schema::HANDOVER_ABI_VERSION + 3);
    wire::MessageReader newer(buffer.data(), size);
    EXPECT_EQ(open_record(newer, &root), RecordStatus::ok);
    // ...one that needs a newer reader is not.
    record.set_min_reader_version(schema::HANDOVER_ABI_VERSION + 1);
    wire::MessageReader too_new(buffer.data(), size);
    EXPECT_EQ(open_record(too_new, &root), RecordStatus::version_too_new);
    record.set_min_reader_version(schema::HANDOVER_ABI_VERSION + 4);
    wire::MessageReader inconsistent(buffer.data(), size);
    EXPECT_EQ(open_record(inconsistent, &root), RecordStatus::versions_inconsistent);
    record.set_abi_version(0);
    wire::MessageReader missing(buffer.data(), size);
    EXPECT_EQ(open_record(missing, &root), RecordStatus::version_missing);
    record.set_magic(0x1234);
    wire::MessageReader magic(buffer.data(), size);
    EXPECT_EQ(open_record(magic, &root), RecordStatus::bad_magic);
    EXPECT_TRUE(root.is_null());
}

TEST(HandoverRoundTrip, BulkValuesEqualFieldByField)
{
    // add() writes whole words with no zeroing first; the bytes must be the same as the
    // setters' on a zeroed element, even in a dirty buffer.
    handover_test::WordBuffer bulk(8192), single(8192);
    memset(bulk.data(), 0x5a, bulk.size());
    u64 sizes[2];
    for (int pass = 0; pass < 2; pass++) {
        wire::MessageBuilder message((pass == 0 ? bulk : single).data(), bulk.size());
        auto record = message.init_root<schema::Handover>();
        P2mWriter p2m = init_p2m(record.init_domains(1)[0], 3, 2);
        PreservedWriter preserved = init_preserved(record, 2);
        for (u64 i = 0; i < 3; i++) {
            const schema::P2mRange::Values values{.guest_frame = i << 20,
                                                  .machine_frame = ~i,
                                                  .frame_count = 7,
                                                  .type = schema::P2mType::mmio,
                                                  .access = schema::P2mAccess::wx};
            if (pass == 0) {
                p2m.add(values);
                continue;
            }
            auto range = p2m.next();
            range.set_guest_frame(values.guest_frame);
            range.set_machine_frame(values.machine_frame);
            range.set_frame_count(values.frame_count);
            range.set_type(values.type);
            range.set_access(values.access);
        }
        if (pass == 0) {
            preserved.add({.first_frame = 5, .frame_count = 1}); // domainId keeps its default
            preserved.add({.first_frame = 9, .frame_count = 2, .domain_id = 3});
        } else {
            auto first = preserved.next();
            first.set_first_frame(5);
            first.set_frame_count(1);
            auto second = preserved.next();
            second.set_first_frame(9);
            second.set_frame_count(2);
            second.set_domain_id(3);
        }
        sizes[pass] = message.finish();
    }
    ASSERT_EQ(sizes[0], sizes[1]);
    EXPECT_EQ(memcmp(bulk.data(), single.data(), sizes[0]), 0);
    wire::MessageReader reader(bulk.data(), sizes[0]);
    const PreservedReader preserved = preserved_of(schema::Handover::Reader(reader.root()));
    EXPECT_EQ(preserved.chunk(0)[0].domain_id(), schema::NO_DOMAIN);
    EXPECT_EQ(preserved.chunk(0)[1].domain_id(), 3u);
    // Bits and signed fields pack too.
    const schema::VcpuState::Values defaults;
    EXPECT_FALSE(defaults.nmi_masked);
    EXPECT_EQ(schema::IommuFrames::Values().domain_id, schema::NO_DOMAIN);
}
