// SPDX-License-Identifier: MIT
// libFuzzer target: the kernel's handover record reader and validator on arbitrary bytes.
//
// Every input goes through what the next image does with a record: open it (structure
// walk with the overlap bitmap, header), read every field through the generated
// accessors, and run the semantic validation, describing each finding. ASan and UBSan
// turn any out-of-bounds read, overflow or misaligned access into a crash.
#include "handover/record_reader.hpp"
#include "handover/validate.hpp"
#include <cstring>
#include <vector>

namespace {

using namespace handover;

// Touches every field the schema knows, as a decoder would.
struct TouchEverything {
    u64 sum = 0;

    template <typename T>
    void value(const char *, T v)
    {
        sum += static_cast<u64>(v);
    }
    void enumerant(const char *, u16 raw, const char *name) { sum += raw + (name != nullptr ? name[0] : 0); }
    void text(const char *, wire::TextReader text)
    {
        for (u32 i = 0; i <= text.size; i++) // the NUL too: it must be there
            sum += static_cast<u8>(text.chars[i]);
    }
    void bytes(const char *, wire::BytesReader bytes)
    {
        for (u32 i = 0; i < bytes.size; i++)
            sum += bytes.bytes[i];
    }
    template <class R>
    void structure(const char *, const R &reader)
    {
        schema::visit_fields(reader, *this);
    }
    template <class L>
    void struct_list(const char *, const L &list)
    {
        for (u32 i = 0; i < list.size(); i++)
            schema::visit_fields(list[i], *this);
    }
    template <class L>
    void primitive_list(const char *, const L &list)
    {
        for (u32 i = 0; i < list.size(); i++)
            sum += static_cast<u64>(list[i]);
    }
};

bool describe_finding(void *context, const Finding &finding)
{
    char line[160];
    const usize length = describe(finding, line, sizeof(line));
    *static_cast<u64 *>(context) += length + static_cast<u8>(line[0]);
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
    std::vector<u64> words((size + 7) / 8 + 1);
    if (size != 0)
        memcpy(words.data(), data, size);

    wire::MessageReader message(words.data(), size);
    std::vector<u64> bitmap(message.bitmap_words_needed() + 1);
    schema::Handover::Reader record;
    const RecordStatus status = open_record(message, &record, bitmap.data(), bitmap.size());

    // Like a tool listing every problem: read and validate whatever the status was,
    // with a fresh reader so that the structure walk's budget is not spent.
    wire::MessageReader again(words.data(), size, {.budget_words = 0, .max_depth = 32});
    const schema::Handover::Reader root(again.root());
    TouchEverything touch;
    schema::visit_fields(root, touch);
    u64 described = 0;
    validate_record(again, root, {}, describe_finding, &described);
    // A record the reader accepted is one it could read to the end.
    if (status == RecordStatus::ok && !again.ok() && again.error() != wire::Error::budget_exhausted &&
        again.error() != wire::Error::wrong_element_size && again.error() != wire::Error::expected_list &&
        again.error() != wire::Error::expected_struct && again.error() != wire::Error::text_not_terminated)
        __builtin_trap();
    return static_cast<int>((touch.sum + described) & 0);
}
