// SPDX-License-Identifier: MIT
// The control channel: bytes in, requests parsed and checked, backend called, lines out.
#pragma once
#include "control/command_table.hpp"
#include "control/control_backend.hpp"
#include "control/line_assembler.hpp"
#include "control/reply.hpp"
#include "control/transfer_codec.hpp"
#include "control/words.hpp"

// Owns no hardware and no heap: the kernel feeds it the bytes its serial port
// receives, and it answers through `output` before feed() returns. Every complete
// non-empty line gets exactly one status line (`ok ...` or `error ENAME ...`), after
// zero or more data lines (`. ...`); docs/control-channel.md is the full protocol.
class ControlChannel final {
public:
    ControlChannel(ControlBackend &backend, ControlOutput &output) : backend_(backend), reply_(output) {}

    void feed(char byte);
    void feed(const char *bytes, usize length);

private:
    // The handler of each command in control/command_table.hpp, in the table's order.
    struct Handler {
        ControlCommandId id;
        void (ControlChannel::*run)(const Words &words);
    };
    static const Handler handlers[];

    void handle_line(char *line);
    void dispatch(const Words &words);
    // Ends an upload or download left open, telling the backend.
    void close_transfer();
    // "error ENAME <reason>" if the backend gave one, else "error ENAME <what>: <errno text>".
    void refuse(int error, const char *what);

    void run_help(const Words &words);
    void run_version(const Words &words);
    void run_sync(const Words &words);
    void run_list(const Words &words);
    void run_create(const Words &words);
    void run_pause(const Words &words);
    void run_unpause(const Words &words);
    void run_destroy(const Words &words);
    void run_mem(const Words &words);
    void run_log_dirty(const Words &words);
    void run_view(const Words &words);
    [[nodiscard]] bool parse_view(const Words &words, ViewRequest &request);
    void run_kexec(const Words &words);
    void run_live_update(const Words &words);
    void run_last_update(const Words &words);
    void run_update_fault(const Words &words);
    void run_pci(const Words &words);
    void run_iommu(const Words &words);
    void run_assign(const Words &words);
    void run_upload(const Words &words);
    void run_download(const Words &words);

    [[nodiscard]] bool parse_create(const Words &words, CreateRequest &request);
    // live-update [module=NAME]: `module` stays nullptr without the option.
    [[nodiscard]] bool parse_live_update(const Words &words, const char *&module);
    // pause/unpause/destroy: parse the id, call, report.
    using DomainAction = int (ControlBackend::*)(u32 id, ControlReason &reason);
    void run_domain_action(const Words &words, DomainAction action, const char *verb, const char *done);
    void upload_begin(const Words &words);
    void upload_chunk(const Words &words);
    void upload_end();
    void download_begin(const Words &words);
    void download_chunk(const Words &words);

    // The transfer in progress, if any.
    enum class Direction : u8 { none, upload, download };
    struct Transfer {
        Direction direction = Direction::none;
        TransferKind kind = TransferKind::image;
        u64 size = 0;
        u32 chunks = 0;
        u32 next_seq = 0; // upload: the chunk expected next
        u32 crc = 0; // upload: as declared; download: of the whole data
        u32 running_crc = 0; // upload: of the chunks received so far
    };

    ControlBackend &backend_;
    Reply reply_;
    LineAssembler assembler_;
    ControlReason reason_;
    Transfer transfer_;
    Chunk chunk_; // decoded upload chunk or download buffer
    char chunk_text_[CHUNK_WORDS_MAX + 1] = {}; // encoded download chunk
};
