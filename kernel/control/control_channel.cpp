// SPDX-License-Identifier: MIT
// Request handling: line assembly, the command table, dispatch, help, version, sync.
#include "control/control_channel.hpp"
#include "control/arguments.hpp"
#include "control/errno_names.hpp"
#include "lib/format.hpp"

// The handlers, by the command table's ids; assign and deassign share one.
constexpr ControlChannel::Handler ControlChannel::handlers[] = {
    {ControlCommandId::help, &ControlChannel::run_help},
    {ControlCommandId::version, &ControlChannel::run_version},
    {ControlCommandId::sync, &ControlChannel::run_sync},
    {ControlCommandId::list, &ControlChannel::run_list},
    {ControlCommandId::create, &ControlChannel::run_create},
    {ControlCommandId::pause, &ControlChannel::run_pause},
    {ControlCommandId::unpause, &ControlChannel::run_unpause},
    {ControlCommandId::destroy, &ControlChannel::run_destroy},
    {ControlCommandId::mem, &ControlChannel::run_mem},
    {ControlCommandId::logdirty, &ControlChannel::run_log_dirty},
    {ControlCommandId::view, &ControlChannel::run_view},
    {ControlCommandId::live_update, &ControlChannel::run_live_update},
    {ControlCommandId::last_update, &ControlChannel::run_last_update},
    {ControlCommandId::update_fault, &ControlChannel::run_update_fault},
    {ControlCommandId::kexec, &ControlChannel::run_kexec},
    {ControlCommandId::pci, &ControlChannel::run_pci},
    {ControlCommandId::assign, &ControlChannel::run_assign},
    {ControlCommandId::deassign, &ControlChannel::run_assign},
    {ControlCommandId::iommu, &ControlChannel::run_iommu},
    {ControlCommandId::upload, &ControlChannel::run_upload},
    {ControlCommandId::download, &ControlChannel::run_download},
};

namespace {

// Every command has its handler, at its id's index, where dispatch() looks it up.
template <usize N>
constexpr bool handlers_follow_table(const auto(&table)[N])
{
    if (N != control_command_count)
        return false;
    for (usize i = 0; i < N; i++)
        if (table[i].id != control_commands[i].id)
            return false;
    return true;
}

} // namespace

void ControlReason::set(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    format_v(text_, sizeof(text_), fmt, args);
    va_end(args);
}

void ReportLines::line(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    reply_.data_v(fmt, args);
    va_end(args);
}

void ControlChannel::feed(const char *bytes, usize length)
{
    for (usize i = 0; i < length; i++)
        feed(bytes[i]);
}

void ControlChannel::feed(char byte)
{
    switch (assembler_.feed(byte)) {
    case LineAssembler::Result::pending: return;
    case LineAssembler::Result::line: return handle_line(assembler_.line());
    case LineAssembler::Result::too_long:
        reply_.start();
        return reply_.error(BATON_E2BIG, "line too long (more than %zu characters); ignored", CONTROL_LINE_MAX);
    case LineAssembler::Result::bad_byte:
        reply_.start();
        return reply_.error(BATON_EINVAL, "byte 0x%02x at column %zu is not printable ASCII; line ignored",
                            assembler_.bad_byte(), assembler_.bad_column());
    }
}

void ControlChannel::handle_line(char *line)
{
    Words words;
    split_words(line, words);
    if (words.count == 0 && !words.too_many)
        return; // blanks only: ignored like an empty line
    reply_.start();
    reason_.clear();
    if (words.too_many)
        reply_.error(BATON_E2BIG, "more than %zu words; line ignored", CONTROL_MAX_WORDS);
    else
        dispatch(words);
    if (!reply_.finished()) // a handler that forgot its status still answers
        reply_.error(BATON_EIO, "internal error: '%s' gave no status", words[0]);
}

void ControlChannel::dispatch(const Words &words)
{
    static_assert(handlers_follow_table(handlers), "one handler per command, in the table's order");
    const ControlCommandInfo *command = find_control_command(words[0]);
    if (command == nullptr)
        return reply_.error(BATON_ENOSYS, "unknown command '%s'; 'help' lists the commands", show_word(words[0]).text);
    usize arguments = words.count - 1;
    if (arguments < command->min_arguments || arguments > command->max_arguments)
        return reply_.error(BATON_EINVAL, "usage: %s%s%s", command->name, command->arguments[0] ? " " : "",
                            command->arguments);
    (this->*handlers[static_cast<usize>(command->id)].run)(words);
}

void ControlChannel::refuse(int error, const char *what)
{
    if (reason_.given())
        reply_.error(error, "%s", reason_.text());
    else
        reply_.error(error, "%s: %s", what, errno_description(error));
}

void ControlChannel::run_help(const Words &)
{
    for (const ControlCommandInfo &command : control_commands) {
        reply_.data("%s%s%s -- %s", command.name, command.arguments[0] ? " " : "", command.arguments, command.summary);
    }
    reply_.ok();
}

void ControlChannel::run_version(const Words &)
{
    VersionInfo info = backend_.version();
    reply_.data("baton version=%s build=%s protocol=%u chunk_size=%zu", show_token(info.version).text,
                show_token(info.build_id).text, CONTROL_PROTOCOL_VERSION, TRANSFER_CHUNK_SIZE);
    reply_.ok();
}

void ControlChannel::run_sync(const Words &words)
{
    if (!is_nonce(words[1]))
        return reply_.error(BATON_EINVAL, "sync: the nonce must be 1 to %zu of [A-Za-z0-9_-]", CONTROL_NONCE_MAX);
    reply_.ok("sync %s", words[1]);
}
