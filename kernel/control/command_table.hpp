// SPDX-License-Identifier: MIT
// The control commands as data: names, synopses, help and the words of their operations.
#pragma once
#include "lib/types.hpp"

// One table for the hypervisor's dispatcher (which keeps its handlers apart, by id), batonctl's
// usage text and word checks, and the test that holds docs/control-channel.md to it. Both sides
// include it, so it is freestanding: constexpr data and helpers, no library. The order of
// `control_commands` is the order `help` lists them in, on the wire.

// Equal NUL-terminated words; constexpr, so tables can be checked at compile time.
constexpr bool control_word_is(const char *text, const char *word)
{
    usize i = 0;
    for (; text[i] != '\0' && word[i] != '\0'; i++)
        if (text[i] != word[i])
            return false;
    return text[i] == word[i];
}

// Text put together at compile time (a synopsis from its operations). Too long a text sets
// `overflowed`, which the static_asserts below catch.
template <usize N>
struct ControlText final {
    char text[N] = {};
    usize length = 0;
    bool overflowed = false;

    constexpr void append(const char *part)
    {
        for (usize i = 0; part[i] != '\0'; i++) {
            if (length + 1 >= N) {
                overflowed = true;
                return;
            }
            text[length++] = part[i];
        }
    }
};

// ---- operations of `view` and `logdirty`, and the access-rights words ----------------------

// `view ID OP ...`, in the order of ViewOp (control/control_backend.hpp).
struct ViewOperationInfo {
    const char *name;
    const char *arguments; // after the operation word
    const char *summary; // for batonctl's usage text
    u8 min_arguments;
    u8 max_arguments;
};
inline constexpr ViewOperationInfo view_operations[] = {
    {"list", "", "the domain's alternate p2m views, their entries and the vCPU's view", 0, 0},
    {"create", "[INDEX]", "a new view (the lowest free index 1..8 unless INDEX)", 0, 1},
    {"destroy", "INDEX", "remove a view (refused while the vCPU runs in it)", 1, 1},
    {"switch", "INDEX", "run the domain's vCPU in view INDEX (0: the host p2m)", 1, 1},
    {"access", "INDEX GFN COUNT RIGHTS", "frames GFN.. show their own memory with RIGHTS", 4, 4},
    {"remap", "INDEX GFN TARGET COUNT RIGHTS", "frames GFN.. show the domain's RAM at TARGET.. instead", 5, 5},
    {"reset", "INDEX GFN COUNT", "frames GFN.. show the host p2m again", 3, 3},
};
inline constexpr usize view_operation_count = sizeof(view_operations) / sizeof(view_operations[0]);

// `logdirty ID OP`, in the order of LogDirtyOp (control/control_backend.hpp).
inline constexpr const char *log_dirty_operations[] = {"enable", "disable", "peek", "clean"};
inline constexpr usize log_dirty_operation_count = sizeof(log_dirty_operations) / sizeof(log_dirty_operations[0]);

// RIGHTS of `view access` and `view remap`, indexed by their bits (r 1, w 2, x 4), as the p2m
// spells them. All eight parse; x86 nested paging cannot express a right without read, so
// w, x and wx are refused by the p2m and left out of what users are told.
inline constexpr const char *access_rights_names[] = {"n", "r", "w", "rw", "x", "rx", "wx", "rwx"};
constexpr bool access_rights_expressible(u8 bits) { return bits == 0 || (bits & 1) != 0; }

// "ID list | create [INDEX] | ...": the `view` synopsis, from the operations.
constexpr ControlText<192> make_view_synopsis()
{
    ControlText<192> synopsis;
    synopsis.append("ID ");
    for (usize i = 0; i < view_operation_count; i++) {
        if (i != 0)
            synopsis.append(" | ");
        synopsis.append(view_operations[i].name);
        if (view_operations[i].arguments[0] != '\0') {
            synopsis.append(" ");
            synopsis.append(view_operations[i].arguments);
        }
    }
    return synopsis;
}
inline constexpr ControlText<192> view_synopsis = make_view_synopsis();

// "list, create, ...": the view operations as an error message names them.
constexpr ControlText<96> make_view_operation_list()
{
    ControlText<96> list;
    for (usize i = 0; i < view_operation_count; i++) {
        if (i != 0)
            list.append(", ");
        list.append(view_operations[i].name);
    }
    return list;
}
inline constexpr ControlText<96> view_operation_list = make_view_operation_list();

// "ID enable|disable|peek|clean" (the synopsis) and "enable, disable, peek, clean" (errors).
constexpr ControlText<64> make_log_dirty_text(const char *prefix, const char *separator)
{
    ControlText<64> text;
    text.append(prefix);
    for (usize i = 0; i < log_dirty_operation_count; i++) {
        if (i != 0)
            text.append(separator);
        text.append(log_dirty_operations[i]);
    }
    return text;
}
inline constexpr ControlText<64> log_dirty_synopsis = make_log_dirty_text("ID ", "|");
inline constexpr ControlText<64> log_dirty_operation_list = make_log_dirty_text("", ", ");

// "n, r, rw, rx or rwx": the rights users may give.
constexpr ControlText<32> make_access_rights_list()
{
    ControlText<32> list;
    usize shown = 0, expressible = 0;
    for (u8 bits = 0; bits < 8; bits++)
        expressible += access_rights_expressible(bits) ? 1u : 0u;
    for (u8 bits = 0; bits < 8; bits++) {
        if (!access_rights_expressible(bits))
            continue;
        if (shown != 0)
            list.append(shown + 1 == expressible ? " or " : ", ");
        list.append(access_rights_names[bits]);
        shown++;
    }
    return list;
}
inline constexpr ControlText<32> access_rights_list = make_access_rights_list();

static_assert(!view_synopsis.overflowed && !view_operation_list.overflowed && !log_dirty_synopsis.overflowed &&
              !log_dirty_operation_list.overflowed && !access_rights_list.overflowed);

// ---- the commands --------------------------------------------------------------------------

// Names the kernel's handler for each command; the table below is in this order.
enum class ControlCommandId : u8 {
    help,
    version,
    sync,
    list,
    create,
    pause,
    unpause,
    destroy,
    mem,
    logdirty,
    view,
    live_update,
    last_update,
    update_fault,
    kexec,
    pci,
    assign,
    deassign,
    iommu,
    upload,
    download,
};

struct ControlCommandInfo {
    ControlCommandId id;
    const char *name;
    const char *arguments; // synopsis after the name, e.g. "ID"; "" for none
    const char *summary; // the line `help` gives after " -- "
    u8 min_arguments; // words after the name the dispatcher accepts
    u8 max_arguments;
};

inline constexpr ControlCommandInfo control_commands[] = {
    {ControlCommandId::help, "help", "", "list the commands", 0, 0},
    {ControlCommandId::version, "version", "", "hypervisor version, build id and protocol version", 0, 0},
    {ControlCommandId::sync, "sync", "NONCE", "answer 'ok sync NONCE' (clients use it to skip stale output)", 1, 1},
    {ControlCommandId::list, "list", "", "list domains with state, memory and vCPUs", 0, 0},
    {ControlCommandId::create, "create", "MODULE [name=NAME] [ram=SIZE] [vcpus=N] [start=yes|no] [assign=BB:DD.F]",
     "create a domain from a boot module", 1, 6},
    {ControlCommandId::pause, "pause", "ID", "pause a domain", 1, 1},
    {ControlCommandId::unpause, "unpause", "ID", "let a paused domain run again", 1, 1},
    {ControlCommandId::destroy, "destroy", "ID", "destroy a domain and free its memory", 1, 1},
    {ControlCommandId::mem, "mem", "", "memory report", 0, 0},
    {ControlCommandId::logdirty, "logdirty", log_dirty_synopsis.text,
     "log-dirty mode; peek and clean list dirty frames", 2, 2},
    {ControlCommandId::view, "view", view_synopsis.text,
     "alternate p2m views: rights and frames that differ from the host p2m, the view the vCPU runs in", 2, 7},
    {ControlCommandId::live_update, "live-update", "[module=NAME]",
     "hand the running domains over to the uploaded image (or boot module NAME) and enter it", 0, 1},
    {ControlCommandId::last_update, "last-update", "",
     "the last live update: committed or rolled back (and why), versions and phase timings", 0, 0},
    {ControlCommandId::update_fault, "update-fault", "FAULT",
     "tests: make the next live-update fail at FAULT: bootmem-violation (refused before the jump), or in the "
     "next image panic-early, exception-restore, refuse-record, fail-domain, hang-cli, hang-sti (each rolls back)",
     1, 1},
    {ControlCommandId::kexec, "kexec", "",
     "enter the uploaded image as is; refused while domains exist (live-update carries them)", 0, 0},
    {ControlCommandId::pci, "pci", "list | dma-probe BB:DD.F [write|read]",
     "PCI devices on bus 0 and their DMA state; dma-probe is a diagnostic: one edu DMA by the hypervisor", 1, 3},
    {ControlCommandId::assign, "assign", "ID BB:DD.F",
     "give a PCI device to a domain: DMA through its IO page table, BARs, config space", 2, 2},
    {ControlCommandId::deassign, "deassign", "ID BB:DD.F", "take a device back from a domain and block its DMA again",
     2, 2},
    {ControlCommandId::iommu, "iommu", "status", "IOMMU units, translation state, fault count and the latest faults", 1,
     1},
    {ControlCommandId::upload, "upload", "begin KIND SIZE CRC32 | chunk SEQ BASE64 CRC32 | end | abort",
     "send binary data (KIND: image)", 1, 4},
    {ControlCommandId::download, "download", "begin KIND | chunk SEQ | end",
     "fetch binary data (KIND: image, record or snapshot)", 1, 2},
};
inline constexpr usize control_command_count = sizeof(control_commands) / sizeof(control_commands[0]);

// The kernel indexes its handlers by id, so the table must list every id once, in order.
constexpr bool control_commands_in_id_order()
{
    for (usize i = 0; i < control_command_count; i++)
        if (static_cast<usize>(control_commands[i].id) != i)
            return false;
    return static_cast<usize>(ControlCommandId::download) + 1 == control_command_count;
}
static_assert(control_commands_in_id_order(), "control_commands must follow ControlCommandId");

// The command called `name`, or nullptr.
constexpr const ControlCommandInfo *find_control_command(const char *name)
{
    for (const ControlCommandInfo &command : control_commands)
        if (control_word_is(name, command.name))
            return &command;
    return nullptr;
}
