// The `view` command: alternate p2m views of a domain, checked word by word.
#include "control/arguments.hpp"
#include "control/control_channel.hpp"
#include "boot/cmdline.hpp"
#include "lib/format.hpp"

namespace {

struct ViewOpSyntax {
    const char *name;
    ViewOp op;
    usize arguments; // after the operation word; create takes 0 or 1
    const char *usage;
};
constexpr ViewOpSyntax view_ops[] = {
    {"list", ViewOp::list, 0, "view ID list"},
    {"create", ViewOp::create, 1, "view ID create [INDEX]"},
    {"destroy", ViewOp::destroy, 1, "view ID destroy INDEX"},
    {"switch", ViewOp::switch_to, 1, "view ID switch INDEX"},
    {"access", ViewOp::access, 4, "view ID access INDEX GFN COUNT RIGHTS"},
    {"remap", ViewOp::remap, 5, "view ID remap INDEX GFN TARGET COUNT RIGHTS"},
    {"reset", ViewOp::reset, 3, "view ID reset INDEX GFN COUNT"},
};

// Rights as the p2m spells them: any of r, w, x in that order, or n for none.
bool parse_rights(const char *text, u8 &bits)
{
    static constexpr const char *names[] = {"n", "r", "w", "rw", "x", "rx", "wx", "rwx"};
    for (u8 value = 0; value < 8; value++) {
        if (word_is(text, names[value])) {
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
    const ViewOpSyntax *syntax = nullptr;
    for (const ViewOpSyntax &candidate : view_ops)
        syntax = word_is(words[2], candidate.name) ? &candidate : syntax;
    if (syntax == nullptr) {
        reply_.error(BATON_EINVAL, "view: '%s' is not one of list, create, destroy, switch, access, remap, reset",
                     show_word(words[2]).text);
        return false;
    }
    const usize given = words.count - 3;
    if (given != syntax->arguments && !(syntax->op == ViewOp::create && given == 0)) {
        reply_.error(BATON_EINVAL, "usage: %s", syntax->usage);
        return false;
    }
    request.op = syntax->op;
    if (given == 0)
        return true;
    u64 index = 0;
    if (!parse_decimal(words[3], 0xffff, index)) {
        reply_.error(BATON_EINVAL, "view: '%s' is not a view index", show_word(words[3]).text);
        return false;
    }
    request.index = static_cast<u32>(index);
    // The frame numbers and counts that follow: GFN [TARGET] COUNT.
    u64 *const frame_fields[] = {&request.gfn, syntax->op == ViewOp::remap ? &request.target_gfn : &request.count,
                                 &request.count};
    const usize rights_words = syntax->op == ViewOp::access || syntax->op == ViewOp::remap ? 1 : 0;
    const usize frame_words = syntax->arguments - 1 - rights_words;
    for (usize i = 0; i < frame_words; i++) {
        if (!parse_frame_number(words[4 + i], *frame_fields[i])) {
            reply_.error(BATON_EINVAL, "view: '%s' is not a frame number or count (e.g. 0x120, 16)",
                         show_word(words[4 + i]).text);
            return false;
        }
    }
    if ((syntax->op == ViewOp::access || syntax->op == ViewOp::remap) &&
        !parse_rights(words[4 + frame_words], request.access)) {
        reply_.error(BATON_EINVAL, "view: '%s' is not a set of rights (n, r, rw, rx or rwx)",
                     show_word(words[4 + frame_words]).text);
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
