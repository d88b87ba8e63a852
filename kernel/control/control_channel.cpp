// Request handling: line assembly, the command table, dispatch, help, version, sync.
#include "control/control_channel.hpp"
#include "control/arguments.hpp"
#include "control/errno_names.hpp"
#include "lib/format.hpp"

// The command table: one line per command; argument counts exclude the command word.
const ControlChannel::Command ControlChannel::commands[] = {
    {"help", "", "list the commands", 0, 0, &ControlChannel::run_help},
    {"version", "", "hypervisor version, build id and protocol version", 0, 0, &ControlChannel::run_version},
    {"sync", "NONCE", "answer 'ok sync NONCE' (clients use it to skip stale output)", 1, 1, &ControlChannel::run_sync},
    {"list", "", "list domains with state, memory and vCPUs", 0, 0, &ControlChannel::run_list},
    {"create", "MODULE [name=NAME] [ram=SIZE] [vcpus=N] [start=yes|no] [assign=BB:DD.F]",
     "create a domain from a boot module", 1, 6, &ControlChannel::run_create},
    {"pause", "ID", "pause a domain", 1, 1, &ControlChannel::run_pause},
    {"unpause", "ID", "let a paused domain run again", 1, 1, &ControlChannel::run_unpause},
    {"destroy", "ID", "destroy a domain and free its memory", 1, 1, &ControlChannel::run_destroy},
    {"mem", "", "memory report", 0, 0, &ControlChannel::run_mem},
    {"logdirty", "ID enable|disable|peek|clean", "log-dirty mode; peek and clean list dirty frames", 2, 2,
     &ControlChannel::run_log_dirty},
    {"view", "ID list | create [INDEX] | destroy INDEX | switch INDEX | access INDEX GFN COUNT RIGHTS | "
             "remap INDEX GFN TARGET COUNT RIGHTS | reset INDEX GFN COUNT",
     "alternate p2m views: rights and frames that differ from the host p2m, the view the vCPU runs in", 2, 7,
     &ControlChannel::run_view},
    {"live-update", "[module=NAME]",
     "hand the running domains over to the uploaded image (or boot module NAME) and enter it", 0, 1,
     &ControlChannel::run_live_update},
    {"last-update", "", "the live update that started this image: versions and phase timings", 0, 0,
     &ControlChannel::run_last_update},
    {"update-fault", "FAULT", "tests: make the next live-update fail at FAULT and take its refusal path", 1, 1,
     &ControlChannel::run_update_fault},
    {"kexec", "", "enter the uploaded image as is; refused while domains exist (live-update carries them)", 0, 0,
     &ControlChannel::run_kexec},
    {"pci", "list | dma-probe BB:DD.F [write|read]",
     "PCI devices on bus 0 and their DMA state; dma-probe is a diagnostic: one edu DMA by the hypervisor", 1, 3,
     &ControlChannel::run_pci},
    {"assign", "ID BB:DD.F", "give a PCI device to a domain: DMA through its IO page table, BARs, config space", 2,
     2, &ControlChannel::run_assign},
    {"deassign", "ID BB:DD.F", "take a device back from a domain and block its DMA again", 2, 2,
     &ControlChannel::run_assign},
    {"iommu", "status", "IOMMU units, translation state, fault count and the latest faults", 1, 1,
     &ControlChannel::run_iommu},
    {"upload", "begin KIND SIZE CRC32 | chunk SEQ BASE64 CRC32 | end | abort", "send binary data (KIND: image)", 1, 4,
     &ControlChannel::run_upload},
    {"download", "begin KIND | chunk SEQ | end", "fetch binary data (KIND: image, record or snapshot)", 1, 2,
     &ControlChannel::run_download},
};
const usize ControlChannel::command_count = sizeof(commands) / sizeof(commands[0]);

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
    case LineAssembler::Result::pending:
        return;
    case LineAssembler::Result::line:
        return handle_line(assembler_.line());
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
    for (usize i = 0; i < command_count; i++) {
        const Command &command = commands[i];
        if (!word_is(words[0], command.name))
            continue;
        usize arguments = words.count - 1;
        if (arguments < command.min_arguments || arguments > command.max_arguments)
            return reply_.error(BATON_EINVAL, "usage: %s%s%s", command.name, command.arguments[0] ? " " : "",
                                command.arguments);
        return (this->*command.run)(words);
    }
    reply_.error(BATON_ENOSYS, "unknown command '%s'; 'help' lists the commands", show_word(words[0]).text);
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
    for (usize i = 0; i < command_count; i++) {
        const Command &command = commands[i];
        reply_.data("%s%s%s -- %s", command.name, command.arguments[0] ? " " : "", command.arguments,
                    command.summary);
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
