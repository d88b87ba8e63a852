// SPDX-License-Identifier: MIT
// capnpc-baton: names, the canonical schema text, and the generated header.
#include "schema_model.hpp"
#include <cctype>
#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>

namespace capnpc_baton {
namespace {

// C++ keywords and the accessor base classes' own members: a field may not take these.
const std::set<std::string> reserved_names = {"alignas",
                                              "alignof",
                                              "and",
                                              "asm",
                                              "auto",
                                              "bool",
                                              "break",
                                              "case",
                                              "catch",
                                              "char",
                                              "class",
                                              "const",
                                              "constexpr",
                                              "continue",
                                              "default",
                                              "delete",
                                              "do",
                                              "double",
                                              "else",
                                              "enum",
                                              "explicit",
                                              "export",
                                              "extern",
                                              "false",
                                              "float",
                                              "for",
                                              "friend",
                                              "goto",
                                              "if",
                                              "inline",
                                              "int",
                                              "long",
                                              "mutable",
                                              "namespace",
                                              "new",
                                              "noexcept",
                                              "not",
                                              "nullptr",
                                              "operator",
                                              "or",
                                              "private",
                                              "protected",
                                              "public",
                                              "register",
                                              "return",
                                              "short",
                                              "signed",
                                              "sizeof",
                                              "static",
                                              "struct",
                                              "switch",
                                              "template",
                                              "this",
                                              "throw",
                                              "true",
                                              "try",
                                              "typedef",
                                              "typename",
                                              "union",
                                              "unsigned",
                                              "using",
                                              "virtual",
                                              "void",
                                              "volatile",
                                              "while",
                                              "xor",
                                              "read_data",
                                              "read_bit",
                                              "read_struct",
                                              "read_list",
                                              "read_text",
                                              "read_bytes",
                                              "is_null",
                                              "data_bytes",
                                              "pointer_count",
                                              "write_data",
                                              "write_bit",
                                              "init_struct",
                                              "init_struct_list",
                                              "init_list",
                                              "write_text",
                                              "write_bytes",
                                              "values"};

std::string hex(uint64_t value)
{
    char text[32];
    snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

// A literal of the field's C++ type holding `bits` (the XOR mask of its default).
std::string typed_literal(const std::string &cxx_type, bool is_enum, uint64_t bits)
{
    if (is_enum)
        return "u16{" + hex(bits) + "}";
    if (cxx_type[0] == 'u')
        return cxx_type + "{" + hex(bits) + (cxx_type == "u64" ? "ul}" : "}");
    return "static_cast<" + cxx_type + ">(" + hex(bits) + "ul)";
}

const char *element_size_name(unsigned bits)
{
    switch (bits) {
    case 8: return "wire::ElementSize::byte";
    case 16: return "wire::ElementSize::two_bytes";
    case 32: return "wire::ElementSize::four_bytes";
    default: return "wire::ElementSize::eight_bytes";
    }
}

void check_name(const std::string &where, const std::string &cxx_name)
{
    if (reserved_names.count(cxx_name) != 0)
        throw std::runtime_error(where + ": the name '" + cxx_name + "' is reserved in the generated C++");
}

unsigned pointer_index(const Field &field) { return field.offset; }

std::string data_location(const Field &field)
{
    const uint64_t bit = uint64_t{field.offset} * field.bits;
    return field.field_class == FieldClass::bit ? std::to_string(bit) : std::to_string(bit / 8);
}

// Plain values of every data field, initialised to the schema's defaults.
void emit_values(std::ostringstream &out, const Struct &s, const SchemaFile &file)
{
    (void)file;
    out << "    // Every data field, at the schema's defaults; Builder::set_values() writes them all.\n"
        << "    struct Values {\n";
    for (const Field &f : s.fields) {
        if (f.field_class == FieldClass::bit)
            out << "        bool " << f.cxx_name << " = " << (f.default_bits ? "true" : "false") << ";\n";
        else if (f.field_class == FieldClass::data && f.is_enum)
            out << "        " << f.cxx_type << " " << f.cxx_name << " = static_cast<" << f.cxx_type << ">("
                << f.default_bits << ");\n";
        else if (f.field_class == FieldClass::data)
            out << "        " << f.cxx_type << " " << f.cxx_name << " = "
                << typed_literal(f.cxx_type, false, f.default_bits) << ";\n";
    }
    out << "    };\n";
}

void emit_reader(std::ostringstream &out, const Struct &s)
{
    out << "class " << s.name << "::Reader final : public wire::StructReader {\npublic:\n"
        << "    Reader() = default;\n"
        << "    explicit Reader(const wire::StructReader &base) : wire::StructReader(base) {}\n";
    for (const Field &f : s.fields) {
        check_name(s.name + "." + f.name, f.cxx_name);
        switch (f.field_class) {
        case FieldClass::none: break;
        case FieldClass::bit:
            out << "    bool " << f.cxx_name << "() const { return read_bit(" << data_location(f) << ", "
                << (f.default_bits ? "true" : "false") << "); }\n";
            break;
        case FieldClass::data:
            if (f.is_enum)
                out << "    " << f.cxx_type << " " << f.cxx_name << "() const { return static_cast<" << f.cxx_type
                    << ">(read_data<u16>(" << data_location(f) << ", " << typed_literal("u16", true, f.default_bits)
                    << ")); }\n";
            else
                out << "    " << f.cxx_type << " " << f.cxx_name << "() const { return read_data<" << f.cxx_type << ">("
                    << data_location(f) << ", " << typed_literal(f.cxx_type, false, f.default_bits) << "); }\n";
            break;
        case FieldClass::pointer:
            switch (f.target) {
            case PointerTarget::text:
                out << "    wire::TextReader " << f.cxx_name << "() const { return read_text(" << pointer_index(f)
                    << "); }\n";
                break;
            case PointerTarget::bytes:
                out << "    wire::BytesReader " << f.cxx_name << "() const { return read_bytes(" << pointer_index(f)
                    << "); }\n";
                break;
            case PointerTarget::structure:
                out << "    " << f.target_name << "::Reader " << f.cxx_name << "() const;\n";
                break;
            case PointerTarget::struct_list:
                out << "    wire::StructListReader<" << f.target_name << "> " << f.cxx_name << "() const;\n";
                break;
            case PointerTarget::primitive_list:
                out << "    wire::PrimitiveListReader<" << f.target_name << "> " << f.cxx_name
                    << "() const { return wire::PrimitiveListReader<" << f.target_name << ">(read_list("
                    << pointer_index(f) << ", " << element_size_name(f.element_bits) << ")); }\n";
                break;
            case PointerTarget::none: break;
            }
        }
    }
    out << "};\n\n";
}

// The whole data section from a Values, one store per word: padding included, so the
// element needs no zeroing first (bulk lists rely on that).
void emit_set_values(std::ostringstream &out, const Struct &s)
{
    out << "    void set_values(const " << s.name << "::Values &values)\n    {\n";
    for (unsigned word = 0; word < s.data_words; word++) {
        std::string expression;
        for (const Field &f : s.fields) {
            if (f.field_class != FieldClass::data && f.field_class != FieldClass::bit)
                continue;
            const uint64_t bit = uint64_t{f.offset} * f.bits;
            if (bit / 64 != word)
                continue;
            std::string term;
            if (f.field_class == FieldClass::bit)
                term = "u64{values." + f.cxx_name + " != " + (f.default_bits ? "true" : "false") + "}";
            else
                term = "(u64{static_cast<u" + std::to_string(f.bits) + ">(values." + f.cxx_name + ")} ^ " +
                       hex(f.default_bits) + "ul)";
            if (bit % 64 != 0)
                term = "(" + term + " << " + std::to_string(bit % 64) + ")";
            expression += (expression.empty() ? "" : " | ") + term;
        }
        out << "        write_data<u64>(" << word * 8 << ", " << (expression.empty() ? "0" : expression) << ", 0);\n";
    }
    out << "        (void)values;\n    }\n";
}

void emit_builder(std::ostringstream &out, const Struct &s)
{
    out << "class " << s.name << "::Builder final : public wire::StructBuilder {\npublic:\n"
        << "    Builder() = default;\n"
        << "    explicit Builder(const wire::StructBuilder &base) : wire::StructBuilder(base) {}\n";
    emit_set_values(out, s);
    for (const Field &f : s.fields) {
        const std::string set = "    void set_" + f.cxx_name;
        switch (f.field_class) {
        case FieldClass::none: break;
        case FieldClass::bit:
            out << set << "(bool value) { write_bit(" << data_location(f) << ", value, "
                << (f.default_bits ? "true" : "false") << "); }\n";
            break;
        case FieldClass::data:
            if (f.is_enum)
                out << set << "(" << f.cxx_type << " value) { write_data<u16>(" << data_location(f)
                    << ", static_cast<u16>(value), " << typed_literal("u16", true, f.default_bits) << "); }\n";
            else
                out << set << "(" << f.cxx_type << " value) { write_data<" << f.cxx_type << ">(" << data_location(f)
                    << ", value, " << typed_literal(f.cxx_type, false, f.default_bits) << "); }\n";
            break;
        case FieldClass::pointer:
            switch (f.target) {
            case PointerTarget::text:
                out << set << "(const char *chars, u32 length) { write_text(" << pointer_index(f)
                    << ", chars, length); }\n"
                    << set << "(const char *chars) { write_text(" << pointer_index(f)
                    << ", chars, wire::text_length(chars)); }\n";
                break;
            case PointerTarget::bytes:
                out << set << "(const u8 *bytes, u32 length) { write_bytes(" << pointer_index(f)
                    << ", bytes, length); }\n";
                break;
            case PointerTarget::structure:
                out << "    " << f.target_name << "::Builder init_" << f.cxx_name << "();\n";
                break;
            case PointerTarget::struct_list:
                out << "    wire::StructListBuilder<" << f.target_name << "> init_" << f.cxx_name << "(u32 count);\n";
                break;
            case PointerTarget::primitive_list:
                out << "    wire::PrimitiveListBuilder<" << f.target_name << "> init_" << f.cxx_name
                    << "(u32 count) { return wire::PrimitiveListBuilder<" << f.target_name << ">(init_list("
                    << pointer_index(f) << ", " << element_size_name(f.element_bits) << ", count)); }\n";
                break;
            case PointerTarget::none: break;
            }
        }
    }
    out << "};\n\n";
}

void emit_struct_accessors(std::ostringstream &out, const Struct &s)
{
    for (const Field &f : s.fields) {
        if (f.target == PointerTarget::structure) {
            out << "inline " << f.target_name << "::Reader " << s.name << "::Reader::" << f.cxx_name
                << "() const { return " << f.target_name << "::Reader(read_struct(" << pointer_index(f) << ")); }\n";
            out << "inline " << f.target_name << "::Builder " << s.name << "::Builder::init_" << f.cxx_name
                << "() { return " << f.target_name << "::Builder(init_struct(" << pointer_index(f) << ", "
                << f.target_name << "::DATA_WORDS, " << f.target_name << "::POINTER_COUNT)); }\n";
        } else if (f.target == PointerTarget::struct_list) {
            const std::string list = "wire::StructListReader<" + f.target_name + ">";
            const std::string list_builder = "wire::StructListBuilder<" + f.target_name + ">";
            out << "inline " << list << " " << s.name << "::Reader::" << f.cxx_name << "() const { return " << list
                << "(read_list(" << pointer_index(f) << ", wire::ElementSize::composite)); }\n";
            out << "inline " << list_builder << " " << s.name << "::Builder::init_" << f.cxx_name
                << "(u32 count) { return " << list_builder << "(init_struct_list(" << pointer_index(f) << ", count, "
                << f.target_name << "::DATA_WORDS, " << f.target_name << "::POINTER_COUNT)); }\n";
        }
    }
}

// Generic traversal, in field order: visit_fields() hands each field of a reader to a
// visitor; fill_fields() asks a source for each field's value and writes a builder.
// The tests use them to cover every field; a kernel may use visit_fields() to dump.
void emit_traversal(std::ostringstream &out, const SchemaFile &file)
{
    for (const Struct &s : file.structs)
        out << "template <class Visitor> void visit_fields(const " << s.name << "::Reader &reader, Visitor &visitor);\n"
            << "template <class Source> void fill_fields(" << s.name << "::Builder builder, Source &source);\n";
    out << "\n";
    for (const Struct &s : file.structs) {
        out << "template <class Visitor> void visit_fields(const " << s.name
            << "::Reader &reader, Visitor &visitor)\n{\n";
        for (const Field &f : s.fields) {
            const std::string name = "\"" + f.name + "\"";
            if (f.field_class == FieldClass::data && f.is_enum)
                out << "    visitor.enumerant(" << name << ", static_cast<u16>(reader." << f.cxx_name
                    << "()), name_of(reader." << f.cxx_name << "()));\n";
            else if (f.field_class == FieldClass::data || f.field_class == FieldClass::bit)
                out << "    visitor.value(" << name << ", reader." << f.cxx_name << "());\n";
            else if (f.target == PointerTarget::text)
                out << "    visitor.text(" << name << ", reader." << f.cxx_name << "());\n";
            else if (f.target == PointerTarget::bytes)
                out << "    visitor.bytes(" << name << ", reader." << f.cxx_name << "());\n";
            else if (f.target == PointerTarget::structure)
                out << "    visitor.structure(" << name << ", reader." << f.cxx_name << "());\n";
            else if (f.target == PointerTarget::struct_list)
                out << "    visitor.struct_list(" << name << ", reader." << f.cxx_name << "());\n";
            else if (f.target == PointerTarget::primitive_list)
                out << "    visitor.primitive_list(" << name << ", reader." << f.cxx_name << "());\n";
        }
        out << "    (void)reader;\n    (void)visitor;\n}\n\n";

        out << "template <class Source> void fill_fields(" << s.name << "::Builder builder, Source &source)\n{\n";
        for (const Field &f : s.fields) {
            const std::string name = "\"" + f.name + "\"";
            if (f.field_class == FieldClass::data && f.is_enum) {
                size_t count = 0;
                for (const Enum &e : file.enums)
                    if (e.name == f.cxx_type)
                        count = e.enumerants.size();
                out << "    builder.set_" << f.cxx_name << "(static_cast<" << f.cxx_type << ">(source.enumerant("
                    << name << ", " << count << ")));\n";
            } else if (f.field_class == FieldClass::data || f.field_class == FieldClass::bit) {
                out << "    builder.set_" << f.cxx_name << "(source.template value<" << f.cxx_type << ">(" << name
                    << "));\n";
            } else if (f.target == PointerTarget::text) {
                out << "    {\n        const wire::TextReader text = source.text(" << name << ");\n"
                    << "        builder.set_" << f.cxx_name << "(text.chars, text.size);\n    }\n";
            } else if (f.target == PointerTarget::bytes) {
                out << "    {\n        const wire::BytesReader bytes = source.bytes(" << name << ");\n"
                    << "        builder.set_" << f.cxx_name << "(bytes.bytes, bytes.size);\n    }\n";
            } else if (f.target == PointerTarget::structure) {
                out << "    source.enter(" << name << ", 0);\n"
                    << "    fill_fields(builder.init_" << f.cxx_name << "(), source);\n"
                    << "    source.leave();\n";
            } else if (f.target == PointerTarget::struct_list) {
                out << "    {\n        auto list = builder.init_" << f.cxx_name << "(source.count(" << name << "));\n"
                    << "        for (u32 i = 0; i < list.size(); i++) {\n"
                    << "            source.enter(" << name << ", i);\n"
                    << "            fill_fields(list[i], source);\n"
                    << "            source.leave();\n        }\n    }\n";
            } else if (f.target == PointerTarget::primitive_list) {
                out << "    {\n        auto list = builder.init_" << f.cxx_name << "(source.count(" << name << "));\n"
                    << "        for (u32 i = 0; i < list.size(); i++)\n"
                    << "            list.set(i, source.template value<" << f.target_name << ">(" << name << "));\n"
                    << "    }\n";
            }
        }
        out << "    (void)builder;\n    (void)source;\n}\n\n";
    }
}

const char *placement(FieldClass field_class)
{
    switch (field_class) {
    case FieldClass::data: return "wire::FieldPlacement::data";
    case FieldClass::bit: return "wire::FieldPlacement::bit";
    case FieldClass::pointer: return "wire::FieldPlacement::pointer";
    case FieldClass::none: break;
    }
    return "wire::FieldPlacement::none";
}

void emit_layout_tables(std::ostringstream &out, const SchemaFile &file)
{
    out << "// The layout as data, for the host test that compares it with libcapnp's schema.\n"
        << "inline constexpr wire::StructLayout STRUCT_LAYOUTS[] = {\n";
    for (const Struct &s : file.structs)
        out << "    {\"" << s.name << "\", " << hex(s.id) << "ul, " << s.data_words << ", " << s.pointer_count
            << "},\n";
    out << "    {nullptr, 0, 0, 0},\n};\n\ninline constexpr wire::FieldLayout FIELD_LAYOUTS[] = {\n";
    for (const Struct &s : file.structs)
        for (const Field &f : s.fields)
            out << "    {\"" << s.name << "\", \"" << f.name << "\", " << placement(f.field_class) << ", " << f.offset
                << ", " << f.bits << ", " << hex(f.default_bits) << "ul},\n";
    out << "    {nullptr, nullptr, wire::FieldPlacement::none, 0, 0, 0},\n};\n\n"
        << "inline constexpr wire::EnumerantLayout ENUMERANT_LAYOUTS[] = {\n";
    for (const Enum &e : file.enums)
        for (const Enumerant &v : e.enumerants)
            out << "    {\"" << e.name << "\", \"" << v.name << "\", " << v.value << "},\n";
    out << "    {nullptr, nullptr, 0},\n};\n\n";
}

} // namespace

std::string to_snake(const std::string &camel)
{
    std::string out;
    for (size_t i = 0; i < camel.size(); i++) {
        const char c = camel[i];
        if (isupper(static_cast<unsigned char>(c))) {
            const bool after_lower = i > 0 && !isupper(static_cast<unsigned char>(camel[i - 1]));
            const bool acronym_end = i > 0 && i + 1 < camel.size() &&
                                     isupper(static_cast<unsigned char>(camel[i - 1])) &&
                                     islower(static_cast<unsigned char>(camel[i + 1]));
            if (after_lower || acronym_end)
                out += '_';
            out += static_cast<char>(tolower(static_cast<unsigned char>(c)));
        } else {
            out += c;
        }
    }
    return out;
}

std::string to_upper_snake(const std::string &camel)
{
    std::string out = to_snake(camel);
    for (char &c : out)
        c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    return out;
}

uint64_t fnv1a64(const std::string &text)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

std::string canonical_text(const SchemaFile &file)
{
    std::ostringstream out;
    out << "schema " << file.base << " @" << hex(file.id) << "\n";
    for (const Constant &c : file.constants)
        out << "const " << c.name << " " << c.schema_type << " " << hex(c.bits) << "\n";
    for (const Enum &e : file.enums) {
        out << "enum " << e.name << " @" << hex(e.id) << "\n";
        for (const Enumerant &v : e.enumerants)
            out << "enumerant " << e.name << "." << v.name << " " << v.value << "\n";
    }
    for (const Struct &s : file.structs) {
        out << "struct " << s.name << " @" << hex(s.id) << "\n";
        out << "size " << s.name << " data " << s.data_words << " pointers " << s.pointer_count << "\n";
        for (const Field &f : s.fields) {
            out << "field " << s.name << "." << f.name << " @" << f.ordinal << " " << f.schema_type;
            if (f.field_class == FieldClass::pointer)
                out << " pointer " << f.offset;
            else if (f.field_class != FieldClass::none)
                out << " bits " << uint64_t{f.offset} * f.bits << " default " << hex(f.default_bits);
            out << "\n";
        }
    }
    return out.str();
}

// The schema's enums on their own, small enough for any kernel header: the enum, its
// names, and an X-macro list of (name, value) from which the kernel defines its own enums
// (other underlying types, same values), so the two cannot drift.
std::string emit_enums(const SchemaFile &file)
{
    std::ostringstream out;
    const std::string macro_prefix = to_upper_snake(file.base);
    out << "// Generated by capnpc-baton from " << file.path << ". Do not edit: change the schema.\n"
        << "#pragma once\n#include \"lib/types.hpp\"\n\n"
        << "// X(name, value) for each enumerant of an enum, in schema order:\n"
        << "//   enum class Mine : u8 { " << macro_prefix << "_ENUM_P2M_TYPE(BATON_ENUMERATOR) };\n"
        << "#ifndef BATON_ENUMERATOR\n#define BATON_ENUMERATOR(name, value) name = value,\n#endif\n";
    for (const Enum &e : file.enums) {
        out << "#define " << macro_prefix << "_ENUM_" << to_upper_snake(e.name) << "(X)";
        for (const Enumerant &v : e.enumerants)
            out << " X(" << v.cxx_name << ", " << v.value << ")";
        out << "\n";
    }
    out << "\nnamespace " << file.base << "::schema {\n\n";
    for (const Enum &e : file.enums) {
        out << "enum class " << e.name << " : u16 {\n";
        for (const Enumerant &v : e.enumerants) {
            check_name(e.name + "." + v.name, v.cxx_name);
            out << "    " << v.cxx_name << " = " << v.value << ",\n";
        }
        out << "};\n"
            << "inline constexpr u16 " << to_upper_snake(e.name) << "_COUNT = " << e.enumerants.size() << ";\n"
            << "constexpr bool is_known(" << e.name << " value) { return static_cast<u16>(value) < "
            << e.enumerants.size() << "; }\n"
            << "// The schema's name of a value (as JSON and libcapnp print it); nullptr if unknown.\n"
            << "constexpr const char *name_of(" << e.name << " value)\n{\n    switch (value) {\n";
        for (const Enumerant &v : e.enumerants)
            out << "    case " << e.name << "::" << v.cxx_name << ": return \"" << v.name << "\";\n";
        out << "    }\n    return nullptr;\n}\n\n";
    }
    out << "} // namespace " << file.base << "::schema\n";
    return out.str();
}

std::string emit_header(const SchemaFile &file)
{
    std::ostringstream out;
    const std::string text = canonical_text(file);
    out << "// Generated by capnpc-baton from " << file.path << ". Do not edit: change the schema.\n"
        << "#pragma once\n#include \"" << file.base << "_enums.hpp\"\n"
        << "#include \"handover/wire_builder.hpp\"\n#include \"handover/wire_reader.hpp\"\n\n"
        << "namespace " << file.base << "::schema {\n\n"
        << "namespace wire = ::handover::wire;\n\n"
        << "inline constexpr u64 SCHEMA_FILE_ID = " << hex(file.id) << "ul;\n"
        << "// FNV-1a 64 of SCHEMA_TEXT: changes with any change of the wire layout or names.\n"
        << "inline constexpr u64 SCHEMA_HASH = " << hex(fnv1a64(text)) << "ul;\n\n";

    for (const Constant &c : file.constants)
        out << "inline constexpr " << c.cxx_type << " " << c.cxx_name << " = "
            << typed_literal(c.cxx_type, false, c.bits) << ";\n";
    out << "\n";

    for (const Struct &s : file.structs) {
        out << "struct " << s.name << " final {\n"
            << "    static constexpr u64 TYPE_ID = " << hex(s.id) << "ul;\n"
            << "    static constexpr u16 DATA_WORDS = " << s.data_words << ";\n"
            << "    static constexpr u16 POINTER_COUNT = " << s.pointer_count << ";\n";
        if (s.pointer_count != 0) {
            out << "    // Pointer-section index of each pointer field.\n    struct Pointer final {\n";
            for (const Field &f : s.fields)
                if (f.field_class == FieldClass::pointer)
                    out << "        static constexpr u16 " << f.cxx_name << " = " << f.offset << ";\n";
            out << "    };\n";
        }
        emit_values(out, s, file);
        out << "    class Reader;\n    class Builder;\n};\n";
    }
    out << "\n";
    for (const Struct &s : file.structs) {
        emit_reader(out, s);
        emit_builder(out, s);
    }
    for (const Struct &s : file.structs)
        emit_struct_accessors(out, s);
    out << "\n";
    emit_traversal(out, file);
    emit_layout_tables(out, file);

    out << "inline constexpr char SCHEMA_TEXT[] =\n";
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        out << "    \"" << line << "\\n\"\n";
    out << "    ;\n\n} // namespace " << file.base << "::schema\n";
    return out.str();
}

} // namespace capnpc_baton
