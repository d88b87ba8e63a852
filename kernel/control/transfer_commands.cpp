// SPDX-License-Identifier: MIT
// The binary transfer commands: upload (host to hypervisor) and download (the reverse).
#include "control/arguments.hpp"
#include "control/control_channel.hpp"
#include "lib/format.hpp"

void ControlChannel::close_transfer()
{
    if (transfer_.direction == Direction::upload)
        backend_.upload_abort(transfer_.kind);
    else if (transfer_.direction == Direction::download)
        backend_.download_end(transfer_.kind);
    transfer_ = Transfer{};
}

namespace {

bool parse_kind(const char *text, TransferKind &kind, Reply &reply, const char *command)
{
    if (parse_transfer_kind(text, kind))
        return true;
    reply.error(BATON_EINVAL, "%s: unknown kind '%s' (image, record or snapshot)", command, show_word(text).text);
    return false;
}

} // namespace

// ---- upload begin KIND SIZE CRC32 | chunk SEQ BASE64 CRC32 | end | abort --------------

void ControlChannel::run_upload(const Words &words)
{
    const char *step = words[1];
    if (word_is(step, "begin") && words.count == 5)
        return upload_begin(words);
    if (word_is(step, "chunk") && words.count == 5)
        return upload_chunk(words);
    if (word_is(step, "end") && words.count == 2)
        return upload_end();
    if (word_is(step, "abort") && words.count == 2) {
        bool open = transfer_.direction == Direction::upload;
        if (open)
            close_transfer();
        return reply_.ok(open ? "upload aborted" : "no upload in progress");
    }
    reply_.error(BATON_EINVAL, "usage: upload begin KIND SIZE CRC32 | upload chunk SEQ BASE64 CRC32 | "
                               "upload end | upload abort");
}

void ControlChannel::upload_begin(const Words &words)
{
    TransferKind kind;
    if (!parse_kind(words[2], kind, reply_, "upload"))
        return;
    u64 size;
    if (!parse_decimal(words[3], TRANSFER_MAX_SIZE, size))
        return reply_.error(BATON_EINVAL, "upload: size '%s' is not a decimal byte count up to %lu",
                            show_word(words[3]).text, TRANSFER_MAX_SIZE);
    u32 crc;
    if (!parse_crc32(words[4], crc))
        return reply_.error(BATON_EINVAL, "upload: checksum '%s' is not 8 hex digits", show_word(words[4]).text);

    close_transfer(); // a client that starts over abandons what an earlier one left open
    int result = backend_.upload_begin(kind, size, reason_);
    if (result < 0)
        return refuse(result, "upload begin");
    transfer_.direction = Direction::upload;
    transfer_.kind = kind;
    transfer_.size = size;
    transfer_.chunks = static_cast<u32>(transfer_chunk_count(size));
    transfer_.crc = crc;
    transfer_.running_crc = 0;
    transfer_.next_seq = 0;
    reply_.ok("upload %s: %lu bytes in %u chunks", transfer_kind_name(kind), size, transfer_.chunks);
}

void ControlChannel::upload_chunk(const Words &words)
{
    if (transfer_.direction != Direction::upload)
        return reply_.error(BATON_EINVAL, "upload chunk: no upload in progress (upload begin first)");
    ChunkError error = parse_chunk(words[2], words[3], words[4], chunk_);
    if (error == ChunkError::checksum_mismatch)
        return reply_.error(BATON_EIO, "chunk %u: checksum mismatch (data has %08x, line says %08x); send it again",
                            chunk_.seq, chunk_.computed_crc, chunk_.crc);
    if (error != ChunkError::none)
        return reply_.error(BATON_EINVAL, "upload chunk: %s", chunk_error_text(error));
    if (chunk_.seq >= transfer_.chunks)
        return reply_.error(BATON_ERANGE, "chunk %u is beyond the last chunk (%u chunks)", chunk_.seq,
                            transfer_.chunks);
    // A repeat of the chunk just taken means our `ok` was lost: confirm it again.
    if (transfer_.next_seq > 0 && chunk_.seq == transfer_.next_seq - 1)
        return reply_.ok("chunk %u (repeat)", chunk_.seq);
    if (chunk_.seq != transfer_.next_seq)
        return reply_.error(BATON_ERANGE, "chunk %u out of order: expected chunk %u of %u", chunk_.seq,
                            transfer_.next_seq, transfer_.chunks);
    usize expected = transfer_chunk_length(transfer_.size, chunk_.seq);
    if (chunk_.length != expected)
        return reply_.error(BATON_EINVAL, "chunk %u has %zu bytes, expected %zu", chunk_.seq, chunk_.length, expected);

    u64 offset = static_cast<u64>(chunk_.seq) * TRANSFER_CHUNK_SIZE;
    int result = backend_.upload_write(transfer_.kind, offset, chunk_.bytes, chunk_.length, reason_);
    if (result < 0) {
        close_transfer(); // the backend's copy is incomplete now: start over
        return refuse(result, "upload chunk (upload aborted)");
    }
    transfer_.running_crc = crc32(chunk_.bytes, chunk_.length, transfer_.running_crc);
    transfer_.next_seq++;
    reply_.ok("chunk %u", chunk_.seq);
}

void ControlChannel::upload_end()
{
    if (transfer_.direction != Direction::upload)
        return reply_.error(BATON_EINVAL, "upload end: no upload in progress");
    if (transfer_.next_seq != transfer_.chunks)
        return reply_.error(BATON_EINVAL, "upload end: only %u of %u chunks received", transfer_.next_seq,
                            transfer_.chunks);
    if (transfer_.running_crc != transfer_.crc) {
        u32 received = transfer_.running_crc, declared = transfer_.crc;
        close_transfer();
        return reply_.error(BATON_EIO, "upload checksum mismatch (received %08x, declared %08x); upload aborted",
                            received, declared);
    }
    Transfer done = transfer_;
    transfer_ = Transfer{}; // finish() takes the data over; nothing is left to abort
    int result = backend_.upload_finish(done.kind, done.size, done.crc, reason_);
    if (result < 0)
        return refuse(result, "upload end");
    reply_.ok("upload %s complete: %lu bytes, crc32 %08x", transfer_kind_name(done.kind), done.size, done.crc);
}

// ---- download begin KIND | chunk SEQ | end -------------------------------------------------

void ControlChannel::run_download(const Words &words)
{
    const char *step = words[1];
    if (word_is(step, "begin") && words.count == 3)
        return download_begin(words);
    if (word_is(step, "chunk") && words.count == 3)
        return download_chunk(words);
    if (word_is(step, "end") && words.count == 2) {
        bool open = transfer_.direction == Direction::download;
        if (open)
            close_transfer();
        return reply_.ok(open ? "download ended" : "no download in progress");
    }
    reply_.error(BATON_EINVAL, "usage: download begin KIND | download chunk SEQ | download end");
}

void ControlChannel::download_begin(const Words &words)
{
    TransferKind kind;
    if (!parse_kind(words[2], kind, reply_, "download"))
        return;
    close_transfer();
    u64 size = 0;
    int result = backend_.download_begin(kind, size, reason_);
    if (result < 0)
        return refuse(result, "download begin");
    transfer_.direction = Direction::download;
    transfer_.kind = kind;
    if (size > TRANSFER_MAX_SIZE) {
        close_transfer();
        return reply_.error(BATON_E2BIG, "download: %lu bytes is more than a transfer carries (%lu)", size,
                            TRANSFER_MAX_SIZE);
    }
    transfer_.size = size;
    transfer_.chunks = static_cast<u32>(transfer_chunk_count(size));
    // The whole checksum comes first, so the client can check what it assembles.
    u32 crc = 0;
    for (u32 seq = 0; seq < transfer_.chunks; seq++) {
        usize length = transfer_chunk_length(size, seq);
        result = backend_.download_read(kind, u64{seq} * TRANSFER_CHUNK_SIZE, chunk_.bytes, length, reason_);
        if (result < 0) {
            close_transfer();
            return refuse(result, "download begin");
        }
        crc = crc32(chunk_.bytes, length, crc);
    }
    transfer_.crc = crc;
    reply_.data("transfer kind=%s size=%lu chunks=%u chunk_size=%zu crc32=%08x", transfer_kind_name(kind), size,
                transfer_.chunks, TRANSFER_CHUNK_SIZE, crc);
    reply_.ok();
}

void ControlChannel::download_chunk(const Words &words)
{
    if (transfer_.direction != Direction::download)
        return reply_.error(BATON_EINVAL, "download chunk: no download in progress (download begin first)");
    u64 seq;
    if (!parse_decimal(words[2], 0xffffffffu, seq))
        return reply_.error(BATON_EINVAL, "download chunk: '%s' is not a chunk number", show_word(words[2]).text);
    if (seq >= transfer_.chunks)
        return reply_.error(BATON_ERANGE, "download chunk: %lu is beyond the last chunk (%u chunks)", seq,
                            transfer_.chunks);
    usize length = transfer_chunk_length(transfer_.size, seq);
    int result = backend_.download_read(transfer_.kind, seq * TRANSFER_CHUNK_SIZE, chunk_.bytes, length, reason_);
    if (result < 0)
        return refuse(result, "download chunk");
    format_chunk(static_cast<u32>(seq), chunk_.bytes, length, chunk_text_, sizeof(chunk_text_));
    reply_.data("chunk %s", chunk_text_);
    reply_.ok();
}
