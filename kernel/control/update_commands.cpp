// SPDX-License-Identifier: MIT
// The commands that replace the running image: kexec (as is, no domains), live-update
// (domains carried over), its report in the new image, and fault injection for tests.
#include "control/arguments.hpp"
#include "control/control_channel.hpp"
#include "lib/format.hpp"

void ControlChannel::run_kexec(const Words &)
{
    int result = backend_.kexec(reason_);
    if (result < 0)
        return refuse(result, "kexec");
    reply_.ok("kexec: entering the staged image");
}

bool ControlChannel::parse_live_update(const Words &words, const char *&module)
{
    module = nullptr;
    if (words.count < 2)
        return true;
    Option option = split_option(words[1]);
    ShownWord shown = show_word(words[1]);
    if (option.value == nullptr || option.key_length == 0) {
        reply_.error(BATON_EINVAL, "live-update: '%s' is not key=value (options: module=)", shown.text);
        return false;
    }
    if (!option_key_is(option, "module")) {
        if (option.key_length < sizeof(shown.text))
            shown.text[option.key_length] = '\0'; // quote just the key
        reply_.error(BATON_EINVAL, "live-update: unknown option '%s' (options: module=)", shown.text);
        return false;
    }
    if (!is_module_name(option.value)) {
        reply_.error(BATON_EINVAL, "live-update: '%s': a module name is 1 to %zu of [A-Za-z0-9_.+/-]", shown.text,
                     CONTROL_MODULE_NAME_MAX);
        return false;
    }
    module = option.value;
    return true;
}

void ControlChannel::run_live_update(const Words &words)
{
    const char *module;
    if (!parse_live_update(words, module))
        return;
    // The backend serializes into memory that an open transfer may still hold (a
    // snapshot being downloaded), and after the jump nobody could end that transfer.
    close_transfer();
    ReportLines lines(reply_);
    int result = backend_.live_update(module, lines, reason_);
    if (result < 0) {
        char what[96];
        if (module != nullptr)
            format(what, sizeof(what), "live-update module=%s", module);
        else
            format(what, sizeof(what), "live-update");
        return refuse(result, what);
    }
    if (module != nullptr)
        return reply_.ok("live-update: entering boot module %s", module);
    reply_.ok("live-update: entering the staged image");
}

void ControlChannel::run_last_update(const Words &)
{
    ReportLines lines(reply_);
    int result = backend_.last_update(lines, reason_);
    if (result < 0)
        return refuse(result, "last-update");
    reply_.ok();
}

void ControlChannel::run_update_fault(const Words &words)
{
    if (!is_fault_name(words[1]))
        return reply_.error(BATON_EINVAL, "update-fault: '%s' is not a fault name (1 to %zu of [A-Za-z0-9_-])",
                            show_word(words[1]).text, CONTROL_FAULT_NAME_MAX);
    int result = backend_.inject_update_fault(words[1], reason_);
    if (result < 0) {
        char what[64];
        format(what, sizeof(what), "update-fault %s", words[1]);
        return refuse(result, what);
    }
    reply_.ok("update-fault: %s armed for the next live-update", words[1]);
}
