// SPDX-License-Identifier: MIT
// Test helpers for the handover codec: deterministic field values for every field of a
// schema (for the freestanding codec and for libcapnp alike), and dumps to compare.
#pragma once
#include "handover/wire_builder.hpp"
#include "handover/wire_reader.hpp"
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <cstring>
#include <string>
#include <vector>

namespace handover_test {

// Values derived from the field's path (e.g. "/domains[1]/vcpus[0]/rip") and a seed, so
// that two writers asking for the same field in the same place get the same value.
class PathSource final {
public:
    explicit PathSource(u64 seed) : seed_(seed) {}

    template <typename T>
    T value(const char *name)
    {
        return static_cast<T>(hash(name));
    }
    u16 enumerant(const char *name, u16 count) { return static_cast<u16>(hash(name) % count); }
    u32 count(const char *name) { return static_cast<u32>(1 + hash(name) % 3); }

    handover::wire::TextReader text(const char *name)
    {
        text_ = std::string(name) + "-" + std::to_string(hash(name) % 100000);
        return {text_.c_str(), static_cast<u32>(text_.size())};
    }

    handover::wire::BytesReader bytes(const char *name)
    {
        const u64 h = hash(name);
        bytes_.assign(h % 24, 0);
        for (size_t i = 0; i < bytes_.size(); i++)
            bytes_[i] = static_cast<u8>(h >> (i % 8 * 8)) ^ static_cast<u8>(i);
        return {bytes_.data(), static_cast<u32>(bytes_.size())};
    }

    void enter(const char *name, u32 index)
    {
        marks_.push_back(path_.size());
        path_ += "/" + std::string(name) + "[" + std::to_string(index) + "]";
    }

    void leave()
    {
        path_.resize(marks_.back());
        marks_.pop_back();
    }

private:
    u64 hash(const char *name) const
    {
        u64 h = 0xcbf29ce484222325ull ^ seed_;
        for (const char c : path_ + "/" + name) {
            h ^= static_cast<u8>(c);
            h *= 0x100000001b3ull;
        }
        return h ^ (h >> 29);
    }

    u64 seed_;
    std::string path_;
    std::vector<size_t> marks_;
    std::string text_;
    std::vector<u8> bytes_;
};

// libcapnp's side of PathSource: fills a dynamic struct in field order, like fill_fields().
void fill_dynamic(capnp::DynamicStruct::Builder builder, PathSource &source);

// "path = value" lines for every field, from libcapnp's dynamic reader...
std::string dump_dynamic(capnp::DynamicStruct::Reader reader);

// ...and from the freestanding reader through the generated visit_fields().
class DumpVisitor final {
public:
    template <typename T>
    void value(const char *name, T value)
    {
        if constexpr (sizeof(T) == 1 && static_cast<T>(-1) < 0)
            line(name, std::to_string(static_cast<int>(value)));
        else if constexpr (sizeof(T) == 1 && static_cast<T>(-1) > 0 && !__is_same(T, bool))
            line(name, std::to_string(static_cast<unsigned>(value)));
        else if constexpr (__is_same(T, bool))
            line(name, value ? "true" : "false");
        else
            line(name, std::to_string(value));
    }
    void enumerant(const char *name, u16 raw, const char *) { line(name, std::to_string(raw)); }
    void text(const char *name, handover::wire::TextReader text)
    {
        line(name, "\"" + std::string(text.chars, text.size) + "\"");
    }
    void bytes(const char *name, handover::wire::BytesReader bytes)
    {
        std::string hex;
        for (u32 i = 0; i < bytes.size; i++)
            hex += "0123456789abcdef"[bytes.bytes[i] >> 4], hex += "0123456789abcdef"[bytes.bytes[i] & 15];
        line(name, "0x" + hex);
    }
    template <class R>
    void structure(const char *name, const R &reader)
    {
        if (reader.is_null())
            return line(name, "null");
        enter(name, "");
        visit_fields(reader, *this);
        leave();
    }
    template <class L>
    void struct_list(const char *name, const L &list)
    {
        line(name, "list of " + std::to_string(list.size()));
        for (u32 i = 0; i < list.size(); i++) {
            enter(name, "[" + std::to_string(i) + "]");
            visit_fields(list[i], *this);
            leave();
        }
    }
    template <class L>
    void primitive_list(const char *name, const L &list)
    {
        line(name, "list of " + std::to_string(list.size()));
        for (u32 i = 0; i < list.size(); i++)
            value((std::string(name) + "[" + std::to_string(i) + "]").c_str(), list[i]);
    }

    std::string out;

private:
    void line(const char *name, const std::string &value) { out += path_ + "/" + name + " = " + value + "\n"; }
    void enter(const char *name, const std::string &suffix)
    {
        marks_.push_back(path_.size());
        path_ += "/" + std::string(name) + suffix;
    }
    void leave()
    {
        path_.resize(marks_.back());
        marks_.pop_back();
    }
    std::string path_;
    std::vector<size_t> marks_;
};

// A buffer of 8-byte aligned words for the freestanding codec.
struct WordBuffer {
    explicit WordBuffer(size_t bytes) : words((bytes + 7) / 8, 0) {}
    u8 *data() { return reinterpret_cast<u8 *>(words.data()); }
    size_t size() const { return words.size() * 8; }
    std::vector<u64> words;
};

inline WordBuffer copy_to_words(const void *bytes, size_t size)
{
    WordBuffer buffer(size);
    memcpy(buffer.data(), bytes, size);
    return buffer;
}

// One flat single-segment message from a libcapnp builder (large first segment).
inline std::vector<u8> flat_bytes(capnp::MessageBuilder &builder)
{
    kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
    const auto bytes = words.asBytes();
    return std::vector<u8>(bytes.begin(), bytes.end());
}

} // namespace handover_test
