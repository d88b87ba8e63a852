// SPDX-License-Identifier: MIT
// The generated freestanding layout against libcapnp's compiled schema, and the ABI
// version check: the schema may not change without a version bump and golden records.
#include "abi/handover.capnp.h"
#include "handover_layout.hpp"
#include "test_handover_support.hpp"
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <sstream>

namespace {

using capnp::schema::Type;
namespace hs = handover::schema;
namespace wire = handover::wire;

struct CompiledSchema {
    std::map<std::string, capnp::StructSchema> structs;
    std::map<std::string, capnp::EnumSchema> enums;
};

std::string local_name(const capnp::schema::Node::Reader &node)
{
    return std::string(node.getDisplayName().cStr() + node.getDisplayNamePrefixLength());
}

void collect(capnp::StructSchema schema, CompiledSchema &out)
{
    if (!out.structs.emplace(local_name(schema.getProto()), schema).second)
        return;
    for (auto field : schema.getFields()) {
        capnp::Type type = field.getType();
        if (type.isList())
            type = type.asList().getElementType();
        if (type.isStruct())
            collect(type.asStruct(), out);
        else if (type.isEnum())
            out.enums.emplace(local_name(type.asEnum().getProto()), type.asEnum());
    }
}

wire::FieldPlacement placement_of(capnp::Type type)
{
    if (type.isVoid())
        return wire::FieldPlacement::none;
    if (type.isBool())
        return wire::FieldPlacement::bit;
    if (type.isText() || type.isData() || type.isStruct() || type.isList())
        return wire::FieldPlacement::pointer;
    return wire::FieldPlacement::data;
}

unsigned data_bits(capnp::Type type)
{
    switch (type.which()) {
    case Type::INT8:
    case Type::UINT8: return 8;
    case Type::INT16:
    case Type::UINT16:
    case Type::ENUM: return 16;
    case Type::INT32:
    case Type::UINT32:
    case Type::FLOAT32: return 32;
    case Type::INT64:
    case Type::UINT64:
    case Type::FLOAT64: return 64;
    default: return 0;
    }
}

u64 default_bits(capnp::schema::Value::Reader value)
{
    switch (value.which()) {
    case capnp::schema::Value::BOOL: return value.getBool();
    case capnp::schema::Value::INT8: return static_cast<u8>(value.getInt8());
    case capnp::schema::Value::INT16: return static_cast<u16>(value.getInt16());
    case capnp::schema::Value::INT32: return static_cast<u32>(value.getInt32());
    case capnp::schema::Value::INT64: return static_cast<u64>(value.getInt64());
    case capnp::schema::Value::UINT8: return value.getUint8();
    case capnp::schema::Value::UINT16: return value.getUint16();
    case capnp::schema::Value::UINT32: return value.getUint32();
    case capnp::schema::Value::UINT64: return value.getUint64();
    case capnp::schema::Value::ENUM: return value.getEnum();
    default: return 0;
    }
}

} // namespace

// Every difference between the generated tables and libcapnp's view of the same schema.
std::vector<std::string> layout_mismatches(const wire::StructLayout *structs, const wire::FieldLayout *fields,
                                           const wire::EnumerantLayout *enumerants, capnp::StructSchema root)
{
    CompiledSchema compiled;
    collect(root, compiled);
    std::vector<std::string> problems;
    size_t struct_count = 0, field_count = 0, enumerant_count = 0;
    for (; structs[struct_count].name != nullptr; struct_count++) {
        const wire::StructLayout &s = structs[struct_count];
        auto found = compiled.structs.find(s.name);
        if (found == compiled.structs.end()) {
            problems.push_back(std::string("struct ") + s.name + " unknown to libcapnp");
            continue;
        }
        auto proto = found->second.getProto();
        if (proto.getId() != s.id)
            problems.push_back(std::string("struct ") + s.name + ": id differs");
        if (proto.getStruct().getDataWordCount() != s.data_words ||
            proto.getStruct().getPointerCount() != s.pointer_count)
            problems.push_back(std::string("struct ") + s.name + ": size differs");
    }
    if (struct_count != compiled.structs.size())
        problems.push_back("struct count " + std::to_string(struct_count) + " vs libcapnp " +
                           std::to_string(compiled.structs.size()));

    size_t compiled_fields = 0;
    for (auto &[name, schema] : compiled.structs)
        compiled_fields += schema.getFields().size();
    for (; fields[field_count].struct_name != nullptr; field_count++) {
        const wire::FieldLayout &f = fields[field_count];
        const std::string where = std::string(f.struct_name) + "." + f.field_name;
        auto found = compiled.structs.find(f.struct_name);
        KJ_IF_MAYBE (field, found == compiled.structs.end() ? nullptr : found->second.findFieldByName(f.field_name)) {
            auto slot = field->getProto().getSlot();
            if (placement_of(field->getType()) != f.placement)
                problems.push_back(where + ": placement differs");
            if (slot.getOffset() != f.offset)
                problems.push_back(where + ": offset " + std::to_string(f.offset) + " vs libcapnp " +
                                   std::to_string(slot.getOffset()));
            if (f.placement == wire::FieldPlacement::data && default_bits(slot.getDefaultValue()) != f.default_bits)
                problems.push_back(where + ": default differs");
            if (f.placement == wire::FieldPlacement::data && data_bits(field->getType()) != f.bits)
                problems.push_back(where + ": width differs");
        } else {
            problems.push_back(where + ": field unknown to libcapnp");
        }
    }
    if (field_count != compiled_fields)
        problems.push_back("field count " + std::to_string(field_count) + " vs libcapnp " +
                           std::to_string(compiled_fields));

    size_t compiled_enumerants = 0;
    for (auto &[name, schema] : compiled.enums)
        compiled_enumerants += schema.getEnumerants().size();
    for (; enumerants[enumerant_count].enum_name != nullptr; enumerant_count++) {
        const wire::EnumerantLayout &e = enumerants[enumerant_count];
        auto found = compiled.enums.find(e.enum_name);
        const std::string where = std::string(e.enum_name) + "." + e.name;
        if (found == compiled.enums.end()) {
            problems.push_back(where + ": enum unknown to libcapnp");
            continue;
        }
        KJ_IF_MAYBE (enumerant, found->second.findEnumerantByName(e.name)) {
            if (enumerant->getOrdinal() != e.value)
                problems.push_back(where + ": value differs");
        } else {
            problems.push_back(where + ": enumerant unknown to libcapnp");
        }
    }
    // Enums reachable from the root only; the generated table may hold unused ones.
    if (enumerant_count < compiled_enumerants)
        problems.push_back("enumerants missing from the generated table");
    return problems;
}

TEST(HandoverLayout, GeneratedOffsetsMatchLibcapnp)
{
    const auto problems = layout_mismatches(hs::STRUCT_LAYOUTS, hs::FIELD_LAYOUTS, hs::ENUMERANT_LAYOUTS,
                                            capnp::Schema::from<baton::record::Handover>());
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(HandoverLayout, CrossCheckCatchesAWrongOffset)
{
    std::vector<wire::FieldLayout> fields;
    for (size_t i = 0; hs::FIELD_LAYOUTS[i].struct_name != nullptr; i++)
        fields.push_back(hs::FIELD_LAYOUTS[i]);
    fields.push_back({});
    for (auto &field : fields)
        if (field.struct_name != nullptr && std::string(field.field_name) == "machineFrame" &&
            std::string(field.struct_name) == "P2mRange")
            field.offset += 1;
    const auto problems = layout_mismatches(hs::STRUCT_LAYOUTS, fields.data(), hs::ENUMERANT_LAYOUTS,
                                            capnp::Schema::from<baton::record::Handover>());
    ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
    EXPECT_EQ(problems[0], "P2mRange.machineFrame: offset 2 vs libcapnp 1");
}

TEST(HandoverLayout, ConstantsMatchLibcapnp)
{
    EXPECT_EQ(hs::HANDOVER_MAGIC, baton::record::HANDOVER_MAGIC);
    EXPECT_EQ(hs::HANDOVER_ABI_VERSION, baton::record::HANDOVER_ABI_VERSION);
    EXPECT_EQ(hs::HANDOVER_MIN_READER_VERSION, baton::record::HANDOVER_MIN_READER_VERSION);
    EXPECT_EQ(hs::NO_DOMAIN, baton::record::NO_DOMAIN);
    EXPECT_EQ(hs::ALTP2M_MIN_READER_VERSION, baton::record::ALTP2M_MIN_READER_VERSION);
    EXPECT_EQ(hs::ALTP2M_MAX_VIEWS, baton::record::ALTP2M_MAX_VIEWS);
    EXPECT_EQ(hs::Altp2mEntry::DATA_WORDS,
              capnp::Schema::from<baton::record::Altp2mEntry>().getProto().getStruct().getDataWordCount());
    EXPECT_EQ(hs::DOMAIN_FLAG_PRIVILEGED, baton::record::DOMAIN_FLAG_PRIVILEGED);
    EXPECT_EQ(hs::DOMAIN_FLAG_CONSOLE, baton::record::DOMAIN_FLAG_CONSOLE);
    EXPECT_EQ(hs::Handover::DATA_WORDS,
              capnp::Schema::from<baton::record::Handover>().getProto().getStruct().getDataWordCount());
    EXPECT_STREQ(hs::name_of(hs::P2mType::log_dirty), "logDirty");
    EXPECT_EQ(hs::name_of(static_cast<hs::P2mType>(99)), nullptr);
    EXPECT_FALSE(hs::is_known(static_cast<hs::P2mAccess>(8)));
}
