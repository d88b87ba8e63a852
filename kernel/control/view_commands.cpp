// SPDX-License-Identifier: MIT
// The `view` command: alternate p2m views of a domain, checked word by word.
#include "boot/cmdline.hpp"
#include "control/arguments.hpp"
#include "control/control_channel.hpp"
#include "lib/format.hpp"

namespace {

// The operations' words and argument counts are control/command_table.hpp's, in ViewOp order.
static_assert(view_operation_count == static_cast<usize>(ViewOp::reset) + 1);
static_assert(control_word_is(view_operations[static_cast<usize>(ViewOp::list)].name, "list") &&
              control_word_is(view_operations[static_cast<usize>(ViewOp::create)].name, "create") &&
              control_word_is(view_operations[static_cast<usize>(ViewOp::destroy)].name, "destroy") &&
              control_word_is(view_operations[static_cast<usize>(ViewOp::switch_to)].name, "switch") &&
              control_word_is(view_operations[static_cast<usize>(ViewOp::access)].name, "access") &&
              control_word_is(view_operations[static_cast<usize>(ViewOp::remap)].name, "remap") &&
              control_word_is(view_operations[static_cast<usize>(ViewOp::reset)].name, "reset"));

// Rights as the p2m spells them (the table's words, indexed by their bits).
bool parse_rights(const char *text, u8 &bits)
{
    for (u8 value = 0; value < 8; value++) {
        if (word_is(text, access_rights_names[value])) {
            bits = value;
            return true;
        }
    }
    return false;
}

bool parse_frame_number(const char *text, u64 &value)
{
    usize length = 0;
    while (text[length] != '\0')
        length++;
    return parse_cmdline_number(text, length, value);
}

} // namespace

bool ControlChannel::parse_view(const Words &words, ViewRequest &request)
{
    usize found = 0;
    while (found < view_operation_count && !word_is(words[2], view_operations[found].name))
        found++;
    if (found == view_operation_count) {
        reply_.error(BATON_EINVAL, "view: '%s' is not one of %s", show_word(words[2]).text, view_operation_list.text);
        return false;
    }
    const ViewOperationInfo &syntax = view_operations[found];
    const usize given = words.count - 3;
    if (given < syntax.min_arguments || given > syntax.max_arguments) {
        reply_.error(BATON_EINVAL, "usage: view ID %s%s%s", syntax.name, syntax.arguments[0] ? " " : "",
                     syntax.arguments);
        return false;
    }
    request.op = static_cast<ViewOp>(found);
    if (given == 0)
        return true;
    u64 index = 0;
    if (!parse_decimal(words[3], 0xffff, index)) {
        reply_.error(BATON_EINVAL, "view: '%s' is not a view index", show_word(words[3]).text);
        return false;
    }
    request.index = static_cast<u32>(index);
    // The frame numbers and counts that follow: GFN [TARGET] COUNT.
    u64 *const frame_fields[] = {&request.gfn, request.op == ViewOp::remap ? &request.target_gfn : &request.count,
                                 &request.count};
    const usize rights_words = request.op == ViewOp::access || request.op == ViewOp::remap ? 1 : 0;
    const usize frame_words = syntax.max_arguments - 1 - rights_words;
    for (usize i = 0; i < frame_words; i++) {
        // Every operation with frame words has min_arguments == max_arguments (the table),
        // checked above, so words[4 + i] was given.
        if (!parse_frame_number(words[4 + i], *frame_fields[i])) { // NOLINT(clang-analyzer-core.CallAndMessage)
            reply_.error(BATON_EINVAL, "view: '%s' is not a frame number or count (e.g. 0x120, 16)",
                         show_word(words[4 + i]).text);
            return false;
        }
    }
    if (rights_words != 0 && !parse_rights(words[4 + frame_words], request.access)) {
        reply_.error(BATON_EINVAL, "view: '%s' is not a set of rights (%s)", show_word(words[4 + frame_words]).text,
                     access_rights_list.text);
        return false;
    }
    return true;
}

void ControlChannel::run_view(const Words &words)
{
    u32 id;
    if (!parse_domain_id(words[1], id))
        return reply_.error(BATON_EINVAL, "view: '%s' is not a domain id (0 to %u)", show_word(words[1]).text,
                            CONTROL_MAX_DOMAIN_ID);
    ViewRequest request;
    if (!parse_view(words, request))
        return;
    ReportLines lines(reply_);
    const i64 result = backend_.p2m_view(id, request, lines, reason_);
    if (result < 0) {
        char what[48];
        format(what, sizeof(what), "view %s domain %u", words[2], id);
        return refuse(static_cast<int>(result), what);
    }
    if (request.op == ViewOp::create)
        return reply_.ok("view create domain %u index %ld", id, result);
    if (request.op == ViewOp::list)
        return reply_.ok();
    reply_.ok("view %s domain %u index %u", words[2], id, request.index);
}
