// SPDX-License-Identifier: MIT
// capnpc-baton: the subset of a Cap'n Proto schema the freestanding codec supports.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace capnpc_baton {

// How a field is stored: in the data section (bits wide), as a bit, or as a pointer.
enum class FieldClass { data, bit, pointer, none };

// What a pointer field points to.
enum class PointerTarget { none, text, bytes, structure, struct_list, primitive_list };

struct Field {
    std::string name; // as in the schema (camelCase)
    std::string cxx_name; // snake_case accessor name
    unsigned ordinal = 0;
    FieldClass field_class = FieldClass::none;
    unsigned bits = 0; // data fields: 8/16/32/64
    uint32_t offset = 0; // in units of the field's size (bits for bools), as capnp counts
    std::string cxx_type; // data fields: u8.., i8.., bool, or the enum's name
    bool is_enum = false;
    bool is_signed = false;
    uint64_t default_bits = 0; // the default value's bits (the XOR mask)
    PointerTarget target = PointerTarget::none;
    std::string target_name; // struct name (struct, struct list) or element type (primitive list)
    unsigned element_bits = 0; // primitive lists
    std::string schema_type; // canonical type text, e.g. "List(P2mRange)"
};

struct Struct {
    std::string name;
    uint64_t id = 0;
    unsigned data_words = 0;
    unsigned pointer_count = 0;
    std::vector<Field> fields;
};

struct Enumerant {
    std::string name;
    std::string cxx_name;
    unsigned value = 0;
};

struct Enum {
    std::string name;
    uint64_t id = 0;
    std::vector<Enumerant> enumerants;
};

struct Constant {
    std::string name; // camelCase
    std::string cxx_name; // UPPER_SNAKE
    std::string cxx_type;
    std::string schema_type;
    uint64_t bits = 0;
    bool is_signed = false;
};

struct SchemaFile {
    std::string path; // as given to capnp compile, e.g. abi/handover.capnp
    std::string base; // file name without directory and extension
    uint64_t id = 0;
    std::vector<Constant> constants;
    std::vector<Enum> enums;
    std::vector<Struct> structs;
};

std::string to_snake(const std::string &camel);
std::string to_upper_snake(const std::string &camel);

// The schema as stable text, one fact per line; comment edits do not change it.
std::string canonical_text(const SchemaFile &file);
uint64_t fnv1a64(const std::string &text);

std::string emit_header(const SchemaFile &file);
std::string emit_enums(const SchemaFile &file);

} // namespace capnpc_baton
