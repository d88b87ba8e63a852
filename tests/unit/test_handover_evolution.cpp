// SPDX-License-Identifier: MIT
// Schema evolution: records of a newer writer (tests/golden/evolution/handover_next.capnp,
// the current version plus fields) are read by the current reader, and current records by
// the newer one.
#include "abi/handover.capnp.h"
#include "evolution/handover_next.capnp.h"
#include "handover/record_reader.hpp"
#include "handover/validate.hpp"
#include "handover_next_layout.hpp"
#include "test_handover_fixture.hpp"
#include "test_handover_support.hpp"
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>

#ifndef BATON_SOURCE_ROOT
#define BATON_SOURCE_ROOT "."
#endif

using namespace handover;
namespace next = handover_next::schema;

// From test_handover_layout.cpp and test_handover_golden.cpp.
std::vector<std::string> layout_mismatches(const wire::StructLayout *structs, const wire::FieldLayout *fields,
                                           const wire::EnumerantLayout *enumerants, capnp::StructSchema root);
std::vector<std::string> evolution_violations(const std::string &older, const std::string &newer, bool ignore_ids);

namespace {

std::set<std::string> lines_of(const std::string &text)
{
    std::set<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.insert(line);
    return lines;
}

capnp::FlatArrayMessageReader libcapnp_reader(const handover_test::WordBuffer &words, size_t size)
{
    return capnp::FlatArrayMessageReader(
        kj::arrayPtr(reinterpret_cast<const capnp::word *>(words.words.data()), size / 8));
}

// The sample record as a newer writer would write it: every current field as before,
// and the new fields set, with structs and lists grown to the new sizes.
std::vector<u8> newer_writer_record(bool use_new_enumerant)
{
    const std::vector<u8> current = handover_test::write_record(handover_test::sample_record());
    handover_test::WordBuffer words = handover_test::copy_to_words(current.data(), current.size());
    capnp::FlatArrayMessageReader reader = libcapnp_reader(words, current.size());
    capnp::MallocMessageBuilder builder(1 << 16);
    builder.setRoot(reader.getRoot<baton::record_next::Handover>());
    auto root = builder.getRoot<baton::record_next::Handover>();
    root.setAbiVersion(next::HANDOVER_ABI_VERSION);
    root.setHostGeneration(42);
    auto notes = root.initNotes(1);
    notes[0].setText("written by a newer hypervisor");
    for (auto domain : root.getDomains()) {
        domain.setPriority(domain.getId() * 10);
        domain.setComment("grown");
        for (auto chunk : domain.getP2m())
            for (auto range : chunk.getRanges()) {
                range.setOwnerTag(0xabc0 + range.getGuestFrame());
                range.setLargePage(false);
            }
    }
    if (use_new_enumerant)
        root.getDomains()[0].getP2m()[0].getRanges()[0].setType(baton::record_next::P2mType::RAM_SHARED);
    return handover_test::flat_bytes(builder);
}

} // namespace

TEST(HandoverEvolution, NextSchemaIsCurrentPlusAdditions)
{
    EXPECT_EQ(evolution_violations(schema::SCHEMA_TEXT, next::SCHEMA_TEXT, true), std::vector<std::string>{});
    EXPECT_NE(schema::SCHEMA_HASH, next::SCHEMA_HASH);
    // A newer writer, whose records readers of this version may read.
    EXPECT_EQ(next::HANDOVER_ABI_VERSION, schema::HANDOVER_ABI_VERSION + 1);
    EXPECT_EQ(next::HANDOVER_MIN_READER_VERSION, schema::HANDOVER_ABI_VERSION);
    EXPECT_EQ(next::P2mRange::DATA_WORDS, 5);
    EXPECT_EQ(schema::P2mRange::DATA_WORDS, 4);
}

TEST(HandoverEvolution, NextLayoutMatchesLibcapnp)
{
    const auto problems = layout_mismatches(next::STRUCT_LAYOUTS, next::FIELD_LAYOUTS, next::ENUMERANT_LAYOUTS,
                                            capnp::Schema::from<baton::record_next::Handover>());
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(HandoverEvolution, CurrentReaderIgnoresFieldsItDoesNotKnow)
{
    // Every field of the newer schema set by the newer (freestanding) writer.
    handover_test::WordBuffer buffer(1 << 20);
    wire::MessageBuilder message(buffer.data(), buffer.size());
    handover_test::PathSource source(5);
    next::fill_fields(message.init_root<next::Handover>(), source);
    const u64 size = message.finish();
    ASSERT_NE(size, 0u);

    wire::MessageReader newer(buffer.data(), size);
    handover_test::DumpVisitor newer_dump;
    next::visit_fields(next::Handover::Reader(newer.root()), newer_dump);

    wire::MessageReader current(buffer.data(), size);
    ASSERT_EQ(current.check_structure(), wire::Error::none);
    handover_test::DumpVisitor current_dump;
    schema::visit_fields(schema::Handover::Reader(current.root()), current_dump);
    EXPECT_TRUE(current.ok()) << wire::error_text(current.error());

    // What the current reader sees is exactly the newer record minus the new fields.
    const std::set<std::string> newer_lines = lines_of(newer_dump.out);
    size_t seen = 0;
    for (const std::string &line : lines_of(current_dump.out)) {
        EXPECT_EQ(newer_lines.count(line), 1u) << line;
        seen++;
    }
    EXPECT_GT(newer_lines.size(), seen);
    EXPECT_NE(newer_dump.out.find("/domains[0]/p2m[0]/ranges[0]/ownerTag = "), std::string::npos);
    // libcapnp's classes of the current schema agree with the freestanding reader.
    handover_test::WordBuffer copy = handover_test::copy_to_words(buffer.data(), size);
    capnp::FlatArrayMessageReader theirs = libcapnp_reader(copy, size);
    EXPECT_EQ(current_dump.out, handover_test::dump_dynamic(theirs.getRoot<capnp::DynamicStruct>(
                                    capnp::Schema::from<baton::record::Handover>())));
}

TEST(HandoverEvolution, RecordOfANewerWriterValidates)
{
    const std::vector<u8> bytes = newer_writer_record(false);
    handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());
    wire::MessageReader message(words.data(), bytes.size());
    std::vector<u64> bitmap(message.bitmap_words_needed());
    schema::Handover::Reader record;
    ASSERT_EQ(open_record(message, &record, bitmap.data(), bitmap.size()), RecordStatus::ok);
    EXPECT_EQ(record.abi_version(), next::HANDOVER_ABI_VERSION);
    std::vector<std::string> findings;
    validate_record(
        message, record, {},
        [](void *context, const Finding &finding) {
            char line[256];
            describe(finding, line, sizeof(line));
            static_cast<std::vector<std::string> *>(context)->push_back(line);
            return true;
        },
        &findings);
    EXPECT_TRUE(findings.empty()) << ::testing::PrintToString(findings);
    // The p2m ranges are 5 words apart now; the current reader still finds each one.
    const P2mReader p2m = p2m_of(record.domains()[0]);
    EXPECT_EQ(p2m.chunk(0)[1].guest_frame(), 0x200u);
    EXPECT_EQ(p2m.chunk(0)[1].machine_frame(), 0x10200u);
    EXPECT_EQ(p2m.chunk(0)[1].type(), schema::P2mType::ram_ro);
    // The views sit before the newer writer's own Domain fields and read as written.
    const auto views = record.domains()[0].altp2m_views();
    ASSERT_EQ(views.size(), 2u);
    EXPECT_EQ(views[0].entries()[1].target_guest_frame(), 0x280u);
    EXPECT_EQ(record.domains()[0].vcpus()[1].altp2m_view(), 1u);

    // Keep the record for the CLI tests (baton-inspect reads a newer writer's record).
    const char *regen = getenv("BATON_REGEN_GOLDEN");
    const std::filesystem::path saved =
        std::filesystem::path(BATON_SOURCE_ROOT) / "tests/golden/evolution/newer-writer.bin";
    if (regen != nullptr && std::string(regen) == "1")
        std::ofstream(saved, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    std::ifstream in(saved, std::ios::binary);
    const std::vector<u8> stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(stored == bytes) << saved << " is stale";
}

TEST(HandoverEvolution, UnknownEnumerantIsAFindingNotACrash)
{
    const std::vector<u8> bytes = newer_writer_record(true);
    handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());
    wire::MessageReader message(words.data(), bytes.size());
    schema::Handover::Reader record;
    ASSERT_EQ(open_record(message, &record), RecordStatus::ok);
    std::vector<Finding> findings;
    validate_record(
        message, record, {},
        [](void *context, const Finding &finding) {
            static_cast<std::vector<Finding> *>(context)->push_back(finding);
            return true;
        },
        &findings);
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_EQ(findings[0].problem, Problem::unknown_value);
    EXPECT_EQ(findings[0].field, Field::type);
    EXPECT_EQ(findings[0].a, static_cast<u64>(next::P2mType::ram_shared));
}

TEST(HandoverEvolution, NewerReaderGetsDefaultsFromOlderRecords)
{
    const std::vector<u8> bytes = handover_test::write_record(handover_test::sample_record());
    handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());

    wire::MessageReader message(words.data(), bytes.size());
    const next::Handover::Reader record(message.root());
    EXPECT_EQ(record.host_generation(), 7u); // the new field's non-zero default
    EXPECT_EQ(record.notes().size(), 0u);
    EXPECT_EQ(record.writer_build_id().size, 14u);
    const next::Domain::Reader domain = record.domains()[0];
    EXPECT_EQ(domain.priority(), 100u);
    EXPECT_EQ(domain.comment().size, 0u);
    ASSERT_EQ(domain.altp2m_views().size(), 2u); // what the current writer wrote, the newer reader reads
    EXPECT_EQ(domain.altp2m_views()[1].index(), 2u);
    const next::P2mRange::Reader range = domain.p2m()[0].ranges()[1];
    EXPECT_EQ(range.guest_frame(), 0x200u);
    EXPECT_EQ(range.owner_tag(), 0u);
    EXPECT_TRUE(range.large_page()); // default true, though the old record has no such bit
    EXPECT_TRUE(message.ok());

    capnp::FlatArrayMessageReader theirs = libcapnp_reader(words, bytes.size());
    auto root = theirs.getRoot<baton::record_next::Handover>();
    EXPECT_EQ(root.getHostGeneration(), 7u);
    EXPECT_EQ(root.getDomains()[0].getPriority(), 100u);
    EXPECT_TRUE(root.getDomains()[0].getP2m()[0].getRanges()[1].getLargePage());
}
