// SPDX-License-Identifier: MIT
// batonctl's usage text: the command table's commands, batonctl's own forms, its options.
#include "usage.hpp"
#include "control/command_table.hpp"

namespace {

constexpr ClientForm CLIENT_FORMS[] = {
    {"help", "", "this text"},
    {"live-update", "(--image PATH | --module NAME) [--timeout SECONDS]",
     "replace the running hypervisor, keeping its domains: upload image PATH (or use boot module NAME), hand "
     "over, wait for the new image to answer (default 60 s) and show its version and update report"},
    {"upload", "KIND FILE", "send FILE to the hypervisor (KIND: image)"},
    {"download", "KIND FILE", "fetch data into FILE, '-' for stdout (KIND: record, snapshot)"},
    // batonctl's own, after the protocol's commands:
    {"record", "--out FILE [--snapshot]",
     "fetch the handover record this image started from, or with --snapshot one written now from the "
     "running state"},
    {"raw", "LINE", "send one protocol line, print the answer as received"},
};

// What batonctl adds to a command's summary from the table.
struct Note {
    const char *name;
    const char *text;
};
constexpr Note NOTES[] = {
    {"create", "SIZE: 64M, 1G, ..."},
    {"logdirty", "clean also clears what it lists"},
    {"pci", "the IOMMU's fault line in the log is dma-probe's verdict"},
};

constexpr const char *HEADER = R"(usage: batonctl [--socket PATH] [--timeout SECONDS] COMMAND [ARGS]

Talks to a running Baton hypervisor over its control channel (the second serial
port, e.g. QEMU's -serial unix:PATH,server,nowait).

commands (the hypervisor's, sent as given unless batonctl has a form of its own):
)";

constexpr const char *TRAILER = R"(
options:
  --socket PATH       control socket (default: $BATON_CONTROL_SOCKET, else build/control.sock)
  --timeout SECONDS   limit for each answer, the initial sync included (default 10);
                      live-update's own --timeout, after the command, bounds the handover
  --progress          show transfer progress on stderr (default: when stderr is a terminal)
  -h, --help          this text

exit status:
  0  the hypervisor answered ok (live-update: the new image answered with its report)
  1  the hypervisor answered with an error (printed on stderr), e.g. refused an update
  2  usage error (also: FILE cannot be read or written)
  3  no usable channel: cannot connect, timeout, connection lost, protocol error
     (live-update: the new image did not answer in time; stderr shows what arrived)
  4  live-update: the new image failed before it committed and the old image took the
     guests back (rolled back); stderr says which image failed, where and why
)";

constexpr size_t HELP_COLUMN = 29;
constexpr size_t WIDTH = 100;

// "  NAME SYNOPSIS" then the help from HELP_COLUMN on, wrapped at WIDTH (a synopsis too
// long for its column gets a line of its own).
void add_entry(std::string &text, const std::string &command, const std::string &help)
{
    std::string line = "  " + command;
    if (line.size() + 1 >= HELP_COLUMN) {
        text += line + "\n";
        line.clear();
    }
    line.resize(HELP_COLUMN, ' ');
    size_t start = 0;
    bool first_word = true;
    while (start < help.size()) {
        size_t end = help.find(' ', start);
        if (end == std::string::npos)
            end = help.size();
        std::string word = help.substr(start, end - start);
        if (!first_word && line.size() + 1 + word.size() > WIDTH) {
            text += line + "\n";
            line.assign(HELP_COLUMN, ' ');
            first_word = true;
        }
        line += (first_word ? "" : " ") + word;
        first_word = false;
        start = end + 1;
    }
    text += line + "\n";
}

std::string joined(const char *name, const char *arguments)
{
    return arguments[0] != '\0' ? std::string(name) + " " + arguments : std::string(name);
}

std::string summary_with_note(const ControlCommandInfo &command)
{
    std::string summary = command.summary;
    for (const Note &note : NOTES)
        if (control_word_is(note.name, command.name))
            summary += " (" + std::string(note.text) + ")";
    return summary;
}

// `view` gets a line per operation: its one synopsis is too long to read.
void add_view(std::string &text, const ControlCommandInfo &command)
{
    add_entry(text, "view ID OPERATION ...", command.summary);
    for (const ViewOperationInfo &operation : view_operations)
        add_entry(text, "view ID " + joined(operation.name, operation.arguments), operation.summary);
    add_entry(text, "", std::string("RIGHTS: ") + access_rights_list.text);
}

} // namespace

const ClientForm *find_client_form(const std::string &name)
{
    for (const ClientForm &form : CLIENT_FORMS)
        if (name == form.name)
            return &form;
    return nullptr;
}

std::string usage_text()
{
    std::string text = HEADER;
    for (const ControlCommandInfo &command : control_commands) {
        if (const ClientForm *form = find_client_form(command.name))
            add_entry(text, joined(form->name, form->synopsis), form->help);
        else if (command.id == ControlCommandId::view)
            add_view(text, command);
        else
            add_entry(text, joined(command.name, command.arguments), summary_with_note(command));
    }
    text += "\nbatonctl's own commands:\n";
    for (const ClientForm &form : CLIENT_FORMS)
        if (find_control_command(form.name) == nullptr)
            add_entry(text, joined(form.name, form.synopsis), form.help);
    return text + TRAILER;
}
