// SPDX-License-Identifier: MIT
// The domain commands: list, create, pause, unpause, destroy, and the memory report.
#include "boot/cmdline.hpp"
#include "control/arguments.hpp"
#include "control/control_channel.hpp"
#include "control/device_address.hpp"
#include "lib/format.hpp"

namespace {

constexpr const char *create_keys = "name=, ram=, vcpus=, start=, assign=";

// Writes `. domain ...` for every domain, or only for `only_id` when that is set.
class DomainLines final : public DomainVisitor {
public:
    DomainLines(Reply &reply, i64 only_id) : reply_(reply), only_id_(only_id) {}

    void visit(const DomainInfo &domain) override
    {
        if (only_id_ >= 0 && domain.id != static_cast<u64>(only_id_))
            return;
        if (domain.vcpu_states[0] != '\0')
            reply_.data("domain id=%u name=%s state=%s ram=%lu vcpus=%u vcpu-states=%s vcpu-cpus=%s", domain.id,
                        show_token(domain.name).text, show_token(domain.state).text, domain.ram_bytes, domain.vcpus,
                        show_token(domain.vcpu_states).text, show_token(domain.vcpu_cpus).text);
        else
            reply_.data("domain id=%u name=%s state=%s ram=%lu vcpus=%u", domain.id, show_token(domain.name).text,
                        show_token(domain.state).text, domain.ram_bytes, domain.vcpus);
        shown_++;
    }
    usize shown() const { return shown_; }

private:
    Reply &reply_;
    i64 only_id_;
    usize shown_ = 0;
};

} // namespace

void ControlChannel::run_list(const Words &)
{
    DomainLines lines(reply_, -1);
    backend_.list_domains(lines);
    reply_.ok();
}

namespace {

enum class CreateKey : u8 { name, ram, vcpus, start, assign, count };
constexpr const char *create_key_names[] = {"name", "ram", "vcpus", "start", "assign"};
static_assert(sizeof(create_key_names) / sizeof(create_key_names[0]) == static_cast<usize>(CreateKey::count));

usize text_length(const char *text)
{
    usize length = 0;
    while (text[length] != '\0')
        length++;
    return length;
}

// Checks one option's value into `request`; on failure writes the error line.
bool apply_create_option(CreateKey key, const char *value, const char *shown, CreateRequest &request, Reply &reply)
{
    switch (key) {
    case CreateKey::name:
        if (is_domain_name(value)) {
            request.name = value;
            return true;
        }
        reply.error(BATON_EINVAL, "create: '%s': a name is 1 to %zu of [A-Za-z0-9_.-], starting with a letter or digit",
                    shown, CONTROL_DOMAIN_NAME_MAX);
        return false;
    case CreateKey::ram: {
        u64 bytes = 0;
        if (!parse_cmdline_number(value, text_length(value), bytes)) {
            reply.error(BATON_EINVAL, "create: '%s': expected a size such as 64M, 1G or 0x4000000", shown);
            return false;
        }
        if (bytes == 0 || !is_aligned(bytes, PAGE_SIZE) || bytes > PHYS_ADDRESS_LIMIT) {
            reply.error(BATON_EINVAL, "create: '%s': RAM must be a nonzero multiple of 4 KiB, at most 4 PiB", shown);
            return false;
        }
        request.ram_bytes = bytes;
        return true;
    }
    case CreateKey::vcpus: {
        u64 count = 0;
        if (parse_decimal(value, CONTROL_MAX_VCPUS, count) && count != 0) {
            request.vcpus = static_cast<u32>(count);
            return true;
        }
        reply.error(BATON_EINVAL, "create: '%s': vcpus is a number from 1 to %u", shown, CONTROL_MAX_VCPUS);
        return false;
    }
    case CreateKey::start:
        if (parse_yes_no(value, request.start))
            return true;
        reply.error(BATON_EINVAL, "create: '%s': start is yes or no", shown);
        return false;
    case CreateKey::assign:
        if (parse_device_address(value, request.device)) {
            request.assigns_device = true;
            return true;
        }
        reply.error(BATON_EINVAL, "create: '%s': a device is BB:DD.F in hex, as lspci prints it", shown);
        return false;
    case CreateKey::count: break;
    }
    return false;
}

} // namespace

bool ControlChannel::parse_create(const Words &words, CreateRequest &request)
{
    if (!is_module_name(words[1])) {
        reply_.error(BATON_EINVAL, "create: bad module name '%s' (1 to %zu of [A-Za-z0-9_.+/-])",
                     show_word(words[1]).text, CONTROL_MODULE_NAME_MAX);
        return false;
    }
    request.module = words[1];
    bool seen[static_cast<usize>(CreateKey::count)] = {};
    for (usize i = 2; i < words.count; i++) {
        Option option = split_option(words[i]);
        ShownWord shown = show_word(words[i]);
        if (option.value == nullptr || option.key_length == 0) {
            reply_.error(BATON_EINVAL, "create: '%s' is not key=value (options: %s)", shown.text, create_keys);
            return false;
        }
        usize key = 0;
        while (key < static_cast<usize>(CreateKey::count) && !option_key_is(option, create_key_names[key]))
            key++;
        if (key == static_cast<usize>(CreateKey::count)) {
            if (option.key_length < sizeof(shown.text))
                shown.text[option.key_length] = '\0'; // quote just the key
            reply_.error(BATON_EINVAL, "create: unknown option '%s' (options: %s)", shown.text, create_keys);
            return false;
        }
        if (seen[key]) {
            reply_.error(BATON_EINVAL, "create: %s= given twice", create_key_names[key]);
            return false;
        }
        seen[key] = true;
        if (!apply_create_option(static_cast<CreateKey>(key), option.value, shown.text, request, reply_))
            return false;
    }
    return true;
}

void ControlChannel::run_create(const Words &words)
{
    CreateRequest request;
    if (!parse_create(words, request))
        return;
    i64 result = backend_.create_domain(request, reason_);
    if (result < 0) {
        char what[96];
        format(what, sizeof(what), "create %s", request.module);
        return refuse(static_cast<int>(result), what);
    }
    if (result > CONTROL_MAX_DOMAIN_ID)
        return reply_.error(BATON_EIO, "internal error: the new domain's id %ld is out of range", result);
    // The new domain as `list` shows it; the id alone if it is already gone.
    DomainLines lines(reply_, result);
    backend_.list_domains(lines);
    if (lines.shown() == 0)
        reply_.data("domain id=%ld", result);
    reply_.ok();
}

void ControlChannel::run_domain_action(const Words &words, DomainAction action, const char *verb, const char *done)
{
    u32 id;
    if (!parse_domain_id(words[1], id))
        return reply_.error(BATON_EINVAL, "%s: '%s' is not a domain id (0 to %u)", verb, show_word(words[1]).text,
                            CONTROL_MAX_DOMAIN_ID);
    int result = (backend_.*action)(id, reason_);
    if (result < 0) {
        char what[48];
        format(what, sizeof(what), "%s domain %u", verb, id);
        return refuse(result, what);
    }
    reply_.ok("%s domain %u", done, id);
}

void ControlChannel::run_pause(const Words &words)
{
    run_domain_action(words, &ControlBackend::pause_domain, "pause", "paused");
}

void ControlChannel::run_unpause(const Words &words)
{
    run_domain_action(words, &ControlBackend::unpause_domain, "unpause", "unpaused");
}

void ControlChannel::run_destroy(const Words &words)
{
    run_domain_action(words, &ControlBackend::destroy_domain, "destroy", "destroyed");
}

void ControlChannel::run_mem(const Words &)
{
    ReportLines lines(reply_);
    int result = backend_.memory_report(lines, reason_);
    if (result < 0)
        return refuse(result, "mem");
    reply_.ok();
}

void ControlChannel::run_log_dirty(const Words &words)
{
    u32 id;
    if (!parse_domain_id(words[1], id))
        return reply_.error(BATON_EINVAL, "logdirty: '%s' is not a domain id (0 to %u)", show_word(words[1]).text,
                            CONTROL_MAX_DOMAIN_ID);
    static_assert(log_dirty_operation_count == static_cast<usize>(LogDirtyOp::clean) + 1);
    const char *const *names = log_dirty_operations;
    for (u8 op = 0; op < log_dirty_operation_count; op++) {
        if (!word_is(words[2], names[op]))
            continue;
        ReportLines lines(reply_);
        int result = backend_.log_dirty(id, static_cast<LogDirtyOp>(op), lines, reason_);
        if (result < 0) {
            char what[48];
            format(what, sizeof(what), "logdirty %s domain %u", names[op], id);
            return refuse(result, what);
        }
        return reply_.ok("logdirty %s domain %u", names[op], id);
    }
    reply_.error(BATON_EINVAL, "logdirty: '%s' is not one of %s", show_word(words[2]).text,
                 log_dirty_operation_list.text);
}
