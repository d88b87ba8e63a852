// SPDX-License-Identifier: MIT
// Golden records: every released ABI version's records decode forever, and the schema
// cannot change without a version bump. BATON_REGEN_GOLDEN=1 rewrites the current
// version's files (do that only when adding a new version directory).
#include "abi/handover.capnp.h"
#include "handover/record_reader.hpp"
#include "handover/validate.hpp"
#include "test_handover_fixture.hpp"
#include "test_handover_support.hpp"
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>

#ifndef BATON_SOURCE_ROOT
#define BATON_SOURCE_ROOT "."
#endif

namespace fs = std::filesystem;
using namespace handover;

namespace {

const fs::path golden_root = fs::path(BATON_SOURCE_ROOT) / "tests" / "golden";

fs::path current_dir() { return golden_root / ("v" + std::to_string(schema::HANDOVER_ABI_VERSION)); }

bool regenerating()
{
    const char *flag = getenv("BATON_REGEN_GOLDEN");
    return flag != nullptr && std::string(flag) == "1";
}

std::string read_text(const fs::path &path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<u8> read_bytes(const fs::path &path)
{
    const std::string text = read_text(path);
    return std::vector<u8>(text.begin(), text.end());
}

void write_bytes(const fs::path &path, const std::vector<u8> &bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<fs::path> version_dirs()
{
    std::vector<fs::path> dirs;
    for (const auto &entry : fs::directory_iterator(golden_root))
        if (entry.is_directory() && entry.path().filename().string().rfind("v", 0) == 0)
            dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    return dirs;
}

// The records of the current version, as the fixture writes them.
std::vector<std::pair<std::string, handover_test::SampleRecord>> current_samples()
{
    handover_test::SampleRecord chunked = handover_test::sample_record();
    chunked.ranges_per_chunk = 2;
    handover_test::SampleRecord minimal;
    minimal.bootmem = {0x1000, 0x800};
    minimal.ram = {{0x100, 0x7fe00}};
    minimal.preserved = {{0x3000, 0x2, schema::PreservedKind::handover_record, schema::NO_DOMAIN}};
    return {{"basic", handover_test::sample_record()},
            {"later", handover_test::sample_record_later()},
            {"chunked", chunked},
            {"minimal", minimal}};
}

std::vector<std::string> lines_of(const std::string &text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

} // namespace

// Lines of an older canonical schema that a newer one lacks: removed or changed fields,
// enumerants, constants. Struct sizes and the version constants may grow; with
// ignore_ids, node ids (which differ between two files) are not compared either.
std::vector<std::string> evolution_violations(const std::string &older, const std::string &newer, bool ignore_ids)
{
    const std::vector<std::string> newer_lines = lines_of(newer);
    const std::set<std::string> present(newer_lines.begin(), newer_lines.end());
    std::vector<std::string> missing;
    for (const std::string &line : lines_of(older)) {
        const bool is_size = line.rfind("size ", 0) == 0;
        const bool is_version = line.rfind("const ", 0) == 0 && line.find("Version ") != std::string::npos;
        const bool has_id =
            line.rfind("schema ", 0) == 0 || line.rfind("struct ", 0) == 0 || line.rfind("enum ", 0) == 0;
        if (is_size || is_version || (ignore_ids && has_id))
            continue;
        if (present.count(line) == 0)
            missing.push_back(line);
    }
    return missing;
}

TEST(HandoverGolden, SchemaChangesNeedAVersionBump)
{
    const fs::path recorded = current_dir() / "schema.txt";
    if (regenerating()) {
        fs::create_directories(current_dir());
        std::ofstream(recorded, std::ios::trunc) << schema::SCHEMA_TEXT;
    }
    ASSERT_TRUE(fs::exists(recorded)) << "abi/handover.capnp says ABI version " << schema::HANDOVER_ABI_VERSION
                                      << " but " << recorded << " does not exist: add the version's golden "
                                      << "directory (BATON_REGEN_GOLDEN=1 ./build/unit_tests)";
    EXPECT_EQ(read_text(recorded), std::string(schema::SCHEMA_TEXT))
        << "abi/handover.capnp changed (schema hash now " << std::hex << schema::SCHEMA_HASH
        << ") without bumping handoverAbiVersion: bump it and add tests/golden/v" << schema::HANDOVER_ABI_VERSION + 1
        << "/ (see docs/abi.md)";
}

TEST(HandoverGolden, OlderSchemasOnlyGrew)
{
    for (const fs::path &dir : version_dirs()) {
        const std::string older = read_text(dir / "schema.txt");
        ASSERT_FALSE(older.empty()) << dir;
        EXPECT_EQ(evolution_violations(older, schema::SCHEMA_TEXT, false), std::vector<std::string>{})
            << dir << ": these lines of an older schema are gone or changed";
    }
}

TEST(HandoverGolden, EvolutionCheckCatchesARemovedField)
{
    std::string changed = schema::SCHEMA_TEXT;
    const std::string line = "field P2mRange.access @4 P2mAccess bits 208 default 0x0\n";
    ASSERT_NE(changed.find(line), std::string::npos);
    changed.erase(changed.find(line), line.size());
    EXPECT_EQ(evolution_violations(schema::SCHEMA_TEXT, changed, false),
              std::vector<std::string>{"field P2mRange.access @4 P2mAccess bits 208 default 0x0"});
}

TEST(HandoverGolden, CurrentWriterReproducesTheGoldenRecords)
{
    for (const auto &[name, sample] : current_samples()) {
        const fs::path path = current_dir() / (name + ".bin");
        const std::vector<u8> bytes = handover_test::write_record(sample);
        if (regenerating())
            write_bytes(path, bytes);
        EXPECT_TRUE(read_bytes(path) == bytes) << path << " differs from what this writer produces";
    }
}

TEST(HandoverGolden, EveryGoldenRecordDecodesAndValidates)
{
    size_t records = 0;
    for (const fs::path &dir : version_dirs())
        for (const auto &entry : fs::directory_iterator(dir)) {
            if (entry.path().extension() != ".bin")
                continue;
            records++;
            const std::vector<u8> bytes = read_bytes(entry.path());
            handover_test::WordBuffer words = handover_test::copy_to_words(bytes.data(), bytes.size());
            wire::MessageReader message(words.data(), bytes.size());
            std::vector<u64> bitmap(message.bitmap_words_needed());
            schema::Handover::Reader record;
            ASSERT_EQ(open_record(message, &record, bitmap.data(), bitmap.size()), RecordStatus::ok) << entry.path();
            u64 findings = validate_record(
                message, record, {}, [](void *, const Finding &) { return true; }, nullptr);
            EXPECT_EQ(findings, 0u) << entry.path();

            // The kernel's reader and libcapnp agree on every field.
            handover_test::DumpVisitor ours;
            schema::visit_fields(record, ours);
            capnp::FlatArrayMessageReader theirs(
                kj::arrayPtr(reinterpret_cast<const capnp::word *>(words.data()), bytes.size() / 8));
            EXPECT_EQ(ours.out, handover_test::dump_dynamic(theirs.getRoot<capnp::DynamicStruct>(
                                    capnp::Schema::from<baton::record::Handover>())))
                << entry.path();
        }
    EXPECT_GE(records, 4u);
}
