// SPDX-License-Identifier: MIT
// capnpc-baton: capnp compiler plugin emitting freestanding C++ accessors for a schema.
//
// Run as `capnp compile -o<path>/capnpc-baton:<outdir> file.capnp`. For each requested
// file `<dir>/<base>.capnp` it writes `<base>_layout.hpp` (namespace <base>::schema), `<base>_enums.hpp` and
// `<base>_schema.txt` (the canonical schema text the ABI version check compares).
// Unsupported constructs (unions, groups, floats, nested declarations, pointer
// defaults, lists other than of structs or integers) are refused with an error.
#include "schema_model.hpp"
#include <capnp/schema.capnp.h>
#include <capnp/serialize.h>
#include <cstdio>
#include <fstream>
#include <kj/exception.h>
#include <map>
#include <stdexcept>
#include <unistd.h>

namespace capnpc_baton {
namespace {

using capnp::schema::Node;
using capnp::schema::Type;
using capnp::schema::Value;

[[noreturn]] void refuse(const std::string &where, const std::string &why)
{
    throw std::runtime_error(where + ": " + why);
}

class Parser final {
public:
    explicit Parser(capnp::schema::CodeGeneratorRequest::Reader request)
    {
        for (auto node : request.getNodes())
            nodes_.emplace(node.getId(), node);
    }

    SchemaFile parse(capnp::schema::CodeGeneratorRequest::RequestedFile::Reader requested)
    {
        SchemaFile file;
        file.path = requested.getFilename();
        file.id = requested.getId();
        std::string name = file.path.substr(file.path.find_last_of('/') + 1);
        file.base = name.substr(0, name.find('.'));
        for (auto nested : node(file.id).getNestedNodes()) {
            const Node::Reader child = node(nested.getId());
            const std::string child_name = nested.getName();
            if (child.getNestedNodes().size() != 0)
                refuse(child_name, "nested declarations are not supported; declare them at file scope");
            switch (child.which()) {
            case Node::STRUCT: file.structs.push_back(parse_struct(child_name, child)); break;
            case Node::ENUM: file.enums.push_back(parse_enum(child_name, child)); break;
            case Node::CONST: file.constants.push_back(parse_const(child_name, child)); break;
            case Node::ANNOTATION: break; // annotation declarations generate nothing
            default: refuse(child_name, "only structs, enums and constants are supported");
            }
        }
        return file;
    }

private:
    Node::Reader node(uint64_t id) const
    {
        auto found = nodes_.find(id);
        if (found == nodes_.end())
            refuse("schema", "node " + std::to_string(id) + " missing from the request");
        return found->second;
    }

    std::string local_name(uint64_t id) const
    {
        const Node::Reader named = node(id);
        std::string display = named.getDisplayName();
        return display.substr(named.getDisplayNamePrefixLength());
    }

    struct Primitive {
        const char *cxx;
        const char *schema;
        unsigned bits;
        bool is_signed;
    };

    static bool primitive(Type::Reader type, Primitive *out)
    {
        switch (type.which()) {
        case Type::BOOL: *out = {"bool", "Bool", 1, false}; return true;
        case Type::INT8: *out = {"i8", "Int8", 8, true}; return true;
        case Type::INT16: *out = {"i16", "Int16", 16, true}; return true;
        case Type::INT32: *out = {"i32", "Int32", 32, true}; return true;
        case Type::INT64: *out = {"i64", "Int64", 64, true}; return true;
        case Type::UINT8: *out = {"u8", "UInt8", 8, false}; return true;
        case Type::UINT16: *out = {"u16", "UInt16", 16, false}; return true;
        case Type::UINT32: *out = {"u32", "UInt32", 32, false}; return true;
        case Type::UINT64: *out = {"u64", "UInt64", 64, false}; return true;
        default: return false;
        }
    }

    static uint64_t value_bits(Value::Reader value)
    {
        switch (value.which()) {
        case Value::BOOL: return value.getBool() ? 1 : 0;
        case Value::INT8: return static_cast<uint8_t>(value.getInt8());
        case Value::INT16: return static_cast<uint16_t>(value.getInt16());
        case Value::INT32: return static_cast<uint32_t>(value.getInt32());
        case Value::INT64: return static_cast<uint64_t>(value.getInt64());
        case Value::UINT8: return value.getUint8();
        case Value::UINT16: return value.getUint16();
        case Value::UINT32: return value.getUint32();
        case Value::UINT64: return value.getUint64();
        case Value::ENUM: return value.getEnum();
        default: return 0;
        }
    }

    Struct parse_struct(const std::string &name, Node::Reader struct_node)
    {
        auto layout = struct_node.getStruct();
        if (struct_node.getIsGeneric())
            refuse(name, "generic structs are not supported");
        if (layout.getDiscriminantCount() != 0)
            refuse(name, "unions are not supported");
        Struct result;
        result.name = name;
        result.id = struct_node.getId();
        result.data_words = layout.getDataWordCount();
        result.pointer_count = layout.getPointerCount();
        for (auto field : layout.getFields())
            result.fields.push_back(parse_field(name, field));
        return result;
    }

    Field parse_field(const std::string &struct_name, capnp::schema::Field::Reader proto)
    {
        Field field;
        field.name = proto.getName();
        field.cxx_name = to_snake(field.name);
        field.ordinal = proto.getOrdinal().isExplicit() ? proto.getOrdinal().getExplicit() : 0;
        const std::string where = struct_name + "." + field.name;
        if (!proto.isSlot())
            refuse(where, "groups are not supported");
        auto slot = proto.getSlot();
        auto type = slot.getType();
        field.offset = slot.getOffset();
        Primitive prim;
        if (type.isVoid()) {
            field.field_class = FieldClass::none;
            field.schema_type = "Void";
        } else if (primitive(type, &prim)) {
            field.field_class = prim.bits == 1 ? FieldClass::bit : FieldClass::data;
            field.bits = prim.bits;
            field.cxx_type = prim.cxx;
            field.is_signed = prim.is_signed;
            field.schema_type = prim.schema;
            field.default_bits = value_bits(slot.getDefaultValue());
        } else if (type.isEnum()) {
            field.field_class = FieldClass::data;
            field.bits = 16;
            field.cxx_type = local_name(type.getEnum().getTypeId());
            field.is_enum = true;
            field.schema_type = field.cxx_type;
            field.default_bits = value_bits(slot.getDefaultValue());
        } else {
            field.field_class = FieldClass::pointer;
            if (slot.getHadExplicitDefault())
                refuse(where, "defaults for pointer fields are not supported");
            parse_pointer_type(where, type, &field);
        }
        return field;
    }

    void parse_pointer_type(const std::string &where, Type::Reader type, Field *field)
    {
        Primitive prim;
        switch (type.which()) {
        case Type::TEXT:
            field->target = PointerTarget::text;
            field->schema_type = "Text";
            return;
        case Type::DATA:
            field->target = PointerTarget::bytes;
            field->schema_type = "Data";
            return;
        case Type::STRUCT:
            field->target = PointerTarget::structure;
            field->target_name = local_name(type.getStruct().getTypeId());
            field->schema_type = field->target_name;
            return;
        case Type::LIST: {
            auto element = type.getList().getElementType();
            if (element.isStruct()) {
                field->target = PointerTarget::struct_list;
                field->target_name = local_name(element.getStruct().getTypeId());
                field->schema_type = "List(" + field->target_name + ")";
                return;
            }
            if (primitive(element, &prim) && prim.bits != 1) {
                field->target = PointerTarget::primitive_list;
                field->target_name = prim.cxx;
                field->element_bits = prim.bits;
                field->schema_type = std::string("List(") + prim.schema + ")";
                return;
            }
            refuse(where, "only lists of structs or of integers are supported");
        }
        case Type::FLOAT32:
        case Type::FLOAT64: refuse(where, "floating point has no place in a kernel record");
        default: refuse(where, "unsupported field type");
        }
    }

    Enum parse_enum(const std::string &name, Node::Reader enum_node)
    {
        Enum result;
        result.name = name;
        result.id = enum_node.getId();
        unsigned value = 0;
        for (auto enumerant : enum_node.getEnum().getEnumerants())
            result.enumerants.push_back({enumerant.getName(), to_snake(enumerant.getName()), value++});
        return result;
    }

    Constant parse_const(const std::string &name, Node::Reader const_node)
    {
        Constant constant;
        constant.name = name;
        constant.cxx_name = to_upper_snake(name);
        Primitive prim;
        if (!primitive(const_node.getConst().getType(), &prim) || prim.bits == 1)
            refuse(name, "only integer constants are supported");
        constant.cxx_type = prim.cxx;
        constant.schema_type = prim.schema;
        constant.is_signed = prim.is_signed;
        constant.bits = value_bits(const_node.getConst().getValue());
        return constant;
    }

    std::map<uint64_t, Node::Reader> nodes_;
};

void write_file(const std::string &path, const std::string &text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out)
        refuse(path, "cannot write");
}

} // namespace
} // namespace capnpc_baton

int main()
{
    using namespace capnpc_baton;
    try {
        capnp::ReaderOptions options;
        options.traversalLimitInWords = uint64_t{1} << 30; // a schema request, from the compiler we trust
        capnp::StreamFdMessageReader message(STDIN_FILENO, options);
        auto request = message.getRoot<capnp::schema::CodeGeneratorRequest>();
        Parser parser(request);
        for (auto requested : request.getRequestedFiles()) {
            const SchemaFile file = parser.parse(requested);
            write_file(file.base + "_layout.hpp", emit_header(file));
            write_file(file.base + "_enums.hpp", emit_enums(file));
            write_file(file.base + "_schema.txt", canonical_text(file));
        }
    } catch (const std::exception &error) {
        fprintf(stderr, "capnpc-baton: %s\n", error.what());
        return 1;
    } catch (const kj::Exception &error) {
        fprintf(stderr, "capnpc-baton: %s\n", error.getDescription().cStr());
        return 1;
    }
    return 0;
}
