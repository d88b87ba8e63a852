// SPDX-License-Identifier: MIT
// Test helpers for the handover codec: libcapnp's dynamic fill and dump.
#include "test_handover_support.hpp"
#include <stdexcept>

namespace handover_test {

namespace {

using capnp::schema::Type;

template <typename T>
void set_primitive(capnp::DynamicStruct::Builder builder, capnp::StructSchema::Field field, T value)
{
    builder.set(field, value);
}

void fill_list(capnp::DynamicList::Builder list, capnp::ListSchema schema, const char *name, PathSource &source)
{
    for (u32 i = 0; i < list.size(); i++) {
        switch (schema.whichElementType()) {
        case Type::STRUCT:
            source.enter(name, i);
            fill_dynamic(list[i].as<capnp::DynamicStruct>(), source);
            source.leave();
            break;
        case Type::INT8: list.set(i, source.value<i8>(name)); break;
        case Type::INT16: list.set(i, source.value<i16>(name)); break;
        case Type::INT32: list.set(i, source.value<i32>(name)); break;
        case Type::INT64: list.set(i, source.value<i64>(name)); break;
        case Type::UINT8: list.set(i, source.value<u8>(name)); break;
        case Type::UINT16: list.set(i, source.value<u16>(name)); break;
        case Type::UINT32: list.set(i, source.value<u32>(name)); break;
        case Type::UINT64: list.set(i, source.value<u64>(name)); break;
        default: throw std::runtime_error(std::string("fill: unsupported list element in ") + name);
        }
    }
}

std::string value_text(capnp::DynamicValue::Reader value)
{
    switch (value.getType()) {
    case capnp::DynamicValue::BOOL: return value.as<bool>() ? "true" : "false";
    case capnp::DynamicValue::INT: return std::to_string(value.as<int64_t>());
    case capnp::DynamicValue::UINT: return std::to_string(value.as<uint64_t>());
    case capnp::DynamicValue::ENUM: return std::to_string(value.as<capnp::DynamicEnum>().getRaw());
    case capnp::DynamicValue::TEXT: return "\"" + std::string(value.as<capnp::Text>().cStr()) + "\"";
    case capnp::DynamicValue::DATA: {
        std::string hex = "0x";
        for (const u8 byte : value.as<capnp::Data>())
            hex += "0123456789abcdef"[byte >> 4], hex += "0123456789abcdef"[byte & 15];
        return hex;
    }
    default: return "?";
    }
}

void dump_into(capnp::DynamicStruct::Reader reader, const std::string &path, std::string &out)
{
    for (auto field : reader.getSchema().getFields()) {
        const std::string name = field.getProto().getName();
        const std::string here = path + "/" + name;
        const auto type = field.getType();
        if (type.isStruct()) {
            if (!reader.has(field)) {
                out += here + " = null\n";
                continue;
            }
            dump_into(reader.get(field).as<capnp::DynamicStruct>(), here, out);
        } else if (type.isList()) {
            auto list = reader.get(field).as<capnp::DynamicList>();
            out += here + " = list of " + std::to_string(list.size()) + "\n";
            for (u32 i = 0; i < list.size(); i++) {
                const std::string element = here + "[" + std::to_string(i) + "]";
                if (type.asList().whichElementType() == Type::STRUCT)
                    dump_into(list[i].as<capnp::DynamicStruct>(), element, out);
                else
                    out += element + " = " + value_text(list[i]) + "\n";
            }
        } else {
            out += here + " = " + value_text(reader.get(field)) + "\n";
        }
    }
}

} // namespace

void fill_dynamic(capnp::DynamicStruct::Builder builder, PathSource &source)
{
    for (auto field : builder.getSchema().getFields()) {
        const std::string name_text = field.getProto().getName();
        const char *name = name_text.c_str();
        const auto type = field.getType();
        switch (type.which()) {
        case Type::BOOL: set_primitive(builder, field, source.value<bool>(name)); break;
        case Type::INT8: set_primitive(builder, field, source.value<i8>(name)); break;
        case Type::INT16: set_primitive(builder, field, source.value<i16>(name)); break;
        case Type::INT32: set_primitive(builder, field, source.value<i32>(name)); break;
        case Type::INT64: set_primitive(builder, field, source.value<i64>(name)); break;
        case Type::UINT8: set_primitive(builder, field, source.value<u8>(name)); break;
        case Type::UINT16: set_primitive(builder, field, source.value<u16>(name)); break;
        case Type::UINT32: set_primitive(builder, field, source.value<u32>(name)); break;
        case Type::UINT64: set_primitive(builder, field, source.value<u64>(name)); break;
        case Type::ENUM: {
            const auto enumerants = type.asEnum().getEnumerants();
            const u16 raw = source.enumerant(name, static_cast<u16>(enumerants.size()));
            builder.set(field, capnp::DynamicEnum(type.asEnum(), raw));
            break;
        }
        case Type::TEXT: {
            const handover::wire::TextReader text = source.text(name);
            builder.set(field, capnp::Text::Reader(text.chars, text.size));
            break;
        }
        case Type::DATA: {
            const handover::wire::BytesReader bytes = source.bytes(name);
            builder.set(field, capnp::Data::Reader(bytes.bytes, bytes.size));
            break;
        }
        case Type::STRUCT:
            source.enter(name, 0);
            fill_dynamic(builder.init(field).as<capnp::DynamicStruct>(), source);
            source.leave();
            break;
        case Type::LIST:
            fill_list(builder.init(field, source.count(name)).as<capnp::DynamicList>(), type.asList(), name, source);
            break;
        default: throw std::runtime_error("fill: unsupported field " + name_text);
        }
    }
}

std::string dump_dynamic(capnp::DynamicStruct::Reader reader)
{
    std::string out;
    dump_into(reader, "", out);
    return out;
}

} // namespace handover_test
