// SPDX-License-Identifier: MIT
// baton-inspect diff: what changed between two records.
//
// Walks both records field by field through libcapnp's dynamic API, so every field of
// the schema is compared. Lists whose elements have an identity are matched by it
// (domains and vCPUs by id, p2m ranges and altp2m entries by guest frame, altp2m views by
// index, preserved ranges by first frame, phase stamps by phase, ...), chunked lists as one
// sequence; other lists by position.
// Derived values that changed (the last update's blackout) follow as notes.
#include "inspect.hpp"
#include <map>
#include <vector>

namespace inspect {

namespace {

using capnp::DynamicList;
using capnp::DynamicStruct;
using capnp::DynamicValue;

struct KeyRule {
    const char *list; // "Struct.field" of the list
    const char *label; // how one element is named
    const char *keys[2]; // fields that identify an element
    bool chunked; // a list of chunks whose `ranges` form the sequence
    const char *counted = nullptr; // a list field whose size an added or removed element shows
};

const KeyRule rules[] = {
    {"Handover.domains", "domain", {"id", nullptr}, false},
    {"Handover.preserved", "preserved", {"firstFrame", nullptr}, true},
    {"Domain.p2m", "p2m guest", {"guestFrame", nullptr}, true},
    {"Domain.altp2mViews", "view", {"index", nullptr}, false, "entries"},
    {"Altp2mView.entries", "guest", {"guestFrame", nullptr}, false},
    {"Domain.vcpus", "vcpu", {"id", nullptr}, false},
    {"Domain.extraPages", "extra page", {"role", "vcpu"}, false},
    {"Domain.eventChannels", "port", {"port", nullptr}, false},
    {"IommuUnit.devices", "device", {"requesterId", nullptr}, false},
    {"VcpuState.otherMsrs", "msr", {"index", nullptr}, false},
    {"Handover.phases", "phase", {"phase", nullptr}, false},
    {"Handover.lastUpdate", "last update", {"phase", nullptr}, false},
};

std::string blackout_text(const baton::record::Handover::Reader &record)
{
    const PhaseTimes times(record.getLastUpdate());
    return times.has_blackout() ? micros_text(times.blackout(), record.getTscKhz()) : "none";
}

std::string struct_name(capnp::StructSchema schema)
{
    const auto proto = schema.getProto();
    return proto.getDisplayName().cStr() + proto.getDisplayNamePrefixLength();
}

bool has_pointers(capnp::StructSchema schema)
{
    for (auto field : schema.getFields()) {
        const capnp::Type type = field.getType();
        if (type.isText() || type.isData() || type.isList() || type.isStruct())
            return true;
    }
    return false;
}

class Differ final {
public:
    explicit Differ(FILE *out) : out_(out) {}

    void structs(const std::string &path, DynamicStruct::Reader a, DynamicStruct::Reader b)
    {
        for (auto field : a.getSchema().getFields())
            compare_field(path, field, a, b);
    }

    uint64_t differences() const { return differences_; }

private:
    void line(char sign, const std::string &path, const std::string &text)
    {
        differences_++;
        fprintf(out_, "%c %s%s%s\n", sign, path.c_str(), path.empty() ? "" : ": ", text.c_str());
    }

    static std::string join(const std::string &path, const std::string &name)
    {
        return path.empty() ? name : path + ": " + name;
    }

    // How an added or removed element is shown: its label, and its fields if it is small
    // (or the size of its list, if the rule names one).
    static std::string summary(const std::string &label, DynamicStruct::Reader element, const char *counted = nullptr)
    {
        if (!has_pointers(element.getSchema()))
            return label + " {" + fields_text(element) + "}";
        if (counted != nullptr) {
            const uint32_t count = element.get(counted).as<DynamicList>().size();
            std::string noun = counted; // a plural field name: "entries"
            if (count == 1)
                noun = noun.size() > 3 && noun.ends_with("ies") ? noun.substr(0, noun.size() - 3) + "y"
                                                                : noun.substr(0, noun.size() - 1);
            return label + " (" + std::to_string(count) + " " + noun + ")";
        }
        KJ_IF_MAYBE (name, element.getSchema().findFieldByName("name")) {
            return label + " \"" + element.get(*name).as<capnp::Text>().cStr() + "\"";
        }
        return label;
    }

    void compare_field(const std::string &path, capnp::StructSchema::Field field, DynamicStruct::Reader a,
                       DynamicStruct::Reader b)
    {
        const std::string name = field.getProto().getName();
        const auto type = field.getType();
        if (type.isStruct()) {
            if (a.has(field) && b.has(field))
                structs(join(path, name), a.get(field).as<DynamicStruct>(), b.get(field).as<DynamicStruct>());
            else if (a.has(field) != b.has(field))
                line(a.has(field) ? '-' : '+', path, name);
            return;
        }
        if (type.isList()) {
            lists(path, struct_name(a.getSchema()) + "." + name, name, a.get(field).as<DynamicList>(),
                  b.get(field).as<DynamicList>());
            return;
        }
        const std::string before = field_value_text(field, a.get(field)), after = field_value_text(field, b.get(field));
        const bool data_differs = type.isData() && a.get(field).as<capnp::Data>() != b.get(field).as<capnp::Data>();
        if (before != after || data_differs)
            line('~', path, name + ": " + before + " -> " + after + (before == after ? " (contents differ)" : ""));
    }

    static std::vector<DynamicStruct::Reader> elements(DynamicList::Reader list, bool chunked)
    {
        std::vector<DynamicStruct::Reader> out;
        for (auto element : list) {
            const DynamicStruct::Reader item = element.as<DynamicStruct>();
            if (!chunked) {
                out.push_back(item);
                continue;
            }
            for (auto range : item.get("ranges").as<DynamicList>())
                out.push_back(range.as<DynamicStruct>());
        }
        return out;
    }

    static std::string key_of(const KeyRule &rule, DynamicStruct::Reader element)
    {
        const capnp::StructSchema schema = element.getSchema();
        std::string key = field_value_text(schema.getFieldByName(rule.keys[0]), element.get(rule.keys[0]));
        if (rule.keys[1] != nullptr)
            key += std::string(" ") + rule.keys[1] + " " +
                   field_value_text(schema.getFieldByName(rule.keys[1]), element.get(rule.keys[1]));
        return key;
    }

    void lists(const std::string &path, const std::string &list_id, const std::string &name, DynamicList::Reader a,
               DynamicList::Reader b)
    {
        const KeyRule *rule = nullptr;
        for (const KeyRule &candidate : rules)
            if (list_id == candidate.list)
                rule = &candidate;
        if (a.getSchema().whichElementType() != capnp::schema::Type::STRUCT) {
            const std::string before = value_text(a), after = value_text(b);
            if (before != after)
                line('~', path, name + ": " + before + " -> " + after);
            return;
        }
        if (rule == nullptr) {
            for (uint32_t i = 0; i < a.size() || i < b.size(); i++) {
                const std::string label = name + "[" + std::to_string(i) + "]";
                if (i >= b.size())
                    line('-', path, summary(label, a[i].as<DynamicStruct>()));
                else if (i >= a.size())
                    line('+', path, summary(label, b[i].as<DynamicStruct>()));
                else
                    structs(join(path, label), a[i].as<DynamicStruct>(), b[i].as<DynamicStruct>());
            }
            return;
        }
        // Matched by key; the order of the output follows the keys' order in each record.
        std::map<std::string, DynamicStruct::Reader> after;
        std::vector<std::string> after_order;
        for (const DynamicStruct::Reader &element : elements(b, rule->chunked)) {
            const std::string key = key_of(*rule, element);
            if (after.emplace(key, element).second)
                after_order.push_back(key);
        }
        std::map<std::string, bool> seen;
        for (const DynamicStruct::Reader &element : elements(a, rule->chunked)) {
            const std::string key = key_of(*rule, element);
            const std::string label = std::string(rule->label) + " " + key;
            seen[key] = true;
            auto match = after.find(key);
            if (match == after.end())
                line('-', path, summary(label, element, rule->counted));
            else
                structs(join(path, label), element, match->second);
        }
        for (const std::string &key : after_order)
            if (seen.count(key) == 0)
                line('+', path, summary(std::string(rule->label) + " " + key, after[key], rule->counted));
    }

    FILE *out_;
    uint64_t differences_ = 0;
};

} // namespace

int diff(const RecordFile &a, const RecordFile &b, FILE *out)
{
    a.require_record();
    b.require_record();
    fprintf(out, "--- %s\n+++ %s\n", a.name().c_str(), b.name().c_str());
    Differ differ(out);
    differ.structs("", a.root(), b.root());
    // A note, not a difference of its own: it follows from the stamps' differences.
    const std::string blackout_a = blackout_text(a.root()), blackout_b = blackout_text(b.root());
    if (blackout_a != blackout_b)
        fprintf(out, "  (last update blackout, paused -> resumed: %s -> %s)\n", blackout_a.c_str(), blackout_b.c_str());
    if (differ.differences() == 0) {
        fprintf(out, "records are identical\n");
        return exit_ok;
    }
    fprintf(out, "%lu difference%s\n", differ.differences(), differ.differences() == 1 ? "" : "s");
    return exit_findings;
}

} // namespace inspect
