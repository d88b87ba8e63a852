// SPDX-License-Identifier: MIT
// The kernel's enums that the record carries are the schema's, checked against libcapnp's
// compiled schema: same count, same order, and every value converts there and back.
#include "abi/handover.capnp.h"
#include "update/record_enums.hpp"
#include <capnp/schema.h>
#include <gtest/gtest.h>
#include <string>

namespace {

namespace schema = handover::schema;

// libcapnp's camelCase enumerant name as the kernel spells it (ramRw -> ram_rw).
std::string snake(const std::string &camel)
{
    std::string out;
    for (char c : camel) {
        if (c >= 'A' && c <= 'Z') {
            out += '_';
            out += static_cast<char>(c - 'A' + 'a');
        } else {
            out += c;
        }
    }
    return out;
}

template <typename Kernel, typename Record, typename Compiled>
void expect_same(unsigned kernel_count, const char *(*kernel_name)(Kernel))
{
    const auto enumerants = capnp::Schema::from<Compiled>().getEnumerants();
    ASSERT_EQ(kernel_count, enumerants.size());
    for (unsigned i = 0; i < enumerants.size(); i++) {
        const auto value = static_cast<Kernel>(i);
        const Record in_record = record_enums::to_record(value);
        EXPECT_EQ(static_cast<unsigned>(in_record), enumerants[i].getOrdinal());
        EXPECT_STREQ(schema::name_of(in_record), enumerants[i].getProto().getName().cStr());
        if (kernel_name != nullptr) {
            EXPECT_EQ(kernel_name(value), snake(enumerants[i].getProto().getName().cStr()));
        }
        Kernel back{};
        ASSERT_TRUE(record_enums::from_record(in_record, back));
        EXPECT_EQ(back, value);
    }
    Kernel untouched{};
    EXPECT_FALSE(record_enums::from_record(static_cast<Record>(enumerants.size()), untouched))
        << "a newer writer's value must not convert";
}

} // namespace

TEST(RecordEnums, P2mTypeIsTheSchemas)
{
    expect_same<P2mType, schema::P2mType, baton::record::P2mType>(P2M_TYPE_COUNT, p2m_type_name);
}

TEST(RecordEnums, P2mAccessIsTheSchemas)
{
    expect_same<P2mAccess, schema::P2mAccess, baton::record::P2mAccess>(8, p2m_access_name);
}

TEST(RecordEnums, UpdatePhaseIsTheSchemas)
{
    expect_same<UpdatePhase, schema::Phase, baton::record::Phase>(UPDATE_PHASE_COUNT, nullptr);
}
