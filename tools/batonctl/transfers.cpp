// SPDX-License-Identifier: MIT
// Chunked uploads and downloads over the control channel, using the kernel's own codec.
#include "transfers.hpp"
#include "control/transfer_codec.hpp"
#include <cstdio>
#include <map>
#include <sstream>

namespace {

constexpr int CHUNK_ATTEMPTS = 4; // a chunk is sent (or fetched) at most this often

std::string crc_text(u32 crc)
{
    char text[CRC32_TEXT_LENGTH + 1];
    format_crc32(crc, text);
    return text;
}

[[noreturn]] void refused(const Response &response) { throw Failure(EXIT_HYPERVISOR_ERROR, response.status); }

Response expect_ok(Connection &connection, const std::string &line)
{
    Response response = connection.request(line);
    if (!response.ok())
        refused(response);
    return response;
}

class Progress {
public:
    Progress(bool enabled, const char *verb, size_t total) : enabled_(enabled), verb_(verb), total_(total) {}
    void update(size_t done)
    {
        int percent = total_ == 0 ? 100 : static_cast<int>(done * 100 / total_);
        if (!enabled_ || percent == last_percent_)
            return;
        last_percent_ = percent;
        fprintf(stderr, "\r%s: %3d%% (%zu of %zu bytes)", verb_, percent, done, total_);
        if (done == total_)
            fputc('\n', stderr);
        fflush(stderr);
    }

private:
    bool enabled_;
    const char *verb_;
    size_t total_;
    int last_percent_ = -1;
};

// Splits "key=value key=value" words into a map.
std::map<std::string, std::string> key_values(const std::string &text)
{
    std::map<std::string, std::string> values;
    std::istringstream words(text);
    std::string word;
    while (words >> word) {
        size_t equals = word.find('=');
        if (equals != std::string::npos)
            values[word.substr(0, equals)] = word.substr(equals + 1);
    }
    return values;
}

bool parse_number(const std::string &text, u64 &value)
{
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
        return false;
    value = std::stoull(text);
    return true;
}

[[noreturn]] void protocol_error(const std::string &what) { throw Failure(EXIT_CHANNEL, "protocol error: " + what); }

} // namespace

std::string upload(Connection &connection, const std::string &kind, const ByteVector &data, bool show_progress)
{
    u32 whole_crc = crc32(data.data(), data.size());
    expect_ok(connection, "upload begin " + kind + " " + std::to_string(data.size()) + " " + crc_text(whole_crc));
    Progress progress(show_progress, "upload", data.size());
    char words[CHUNK_WORDS_MAX + 1];
    u64 chunks = transfer_chunk_count(data.size());
    for (u64 seq = 0; seq < chunks; seq++) {
        size_t length = transfer_chunk_length(data.size(), seq);
        format_chunk(static_cast<u32>(seq), data.data() + seq * TRANSFER_CHUNK_SIZE, length, words, sizeof(words));
        for (int attempt = 1;; attempt++) {
            Response response = connection.request(std::string("upload chunk ") + words);
            if (response.ok())
                break;
            // EIO is a chunk damaged on the way: worth sending again.
            if (response.status.rfind("error EIO ", 0) != 0 || attempt == CHUNK_ATTEMPTS)
                refused(response);
        }
        progress.update(seq * TRANSFER_CHUNK_SIZE + length);
    }
    progress.update(data.size());
    return expect_ok(connection, "upload end").message();
}

ByteVector download(Connection &connection, const std::string &kind, bool show_progress)
{
    Response begin = expect_ok(connection, "download begin " + kind);
    if (begin.data.size() != 1 || begin.data[0].rfind("transfer ", 0) != 0)
        protocol_error("'download begin' did not describe the transfer");
    auto values = key_values(begin.data[0]);
    u64 size = 0, chunks = 0, chunk_size = 0;
    u32 whole_crc = 0;
    if (!parse_number(values["size"], size) || !parse_number(values["chunks"], chunks) ||
        !parse_number(values["chunk_size"], chunk_size) || !parse_crc32(values["crc32"].c_str(), whole_crc))
        protocol_error("bad transfer description '" + begin.data[0] + "'");
    if (chunk_size != TRANSFER_CHUNK_SIZE || chunks != transfer_chunk_count(size) || size > TRANSFER_MAX_SIZE)
        protocol_error("transfer description '" + begin.data[0] + "' does not match protocol 1");

    ByteVector data;
    data.reserve(size);
    Progress progress(show_progress, "download", size);
    Chunk chunk;
    for (u64 seq = 0; seq < chunks; seq++) {
        for (int attempt = 1;; attempt++) {
            Response response = expect_ok(connection, "download chunk " + std::to_string(seq));
            std::istringstream words(response.data.size() == 1 ? response.data[0] : std::string());
            std::string tag, seq_word, data_word, crc_word, extra;
            words >> tag >> seq_word >> data_word >> crc_word;
            if (tag != "chunk" || crc_word.empty() || (words >> extra))
                protocol_error("bad answer to 'download chunk " + std::to_string(seq) + "'");
            ChunkError error = parse_chunk(seq_word.c_str(), data_word.c_str(), crc_word.c_str(), chunk);
            bool good =
                error == ChunkError::none && chunk.seq == seq && chunk.length == transfer_chunk_length(size, seq);
            if (good)
                break;
            if (attempt == CHUNK_ATTEMPTS)
                protocol_error("chunk " + std::to_string(seq) + " arrived damaged " + std::to_string(attempt) +
                               " times (" + (error != ChunkError::none ? chunk_error_text(error) : "wrong chunk") +
                               ")");
        }
        data.insert(data.end(), chunk.bytes, chunk.bytes + chunk.length);
        progress.update(data.size());
    }
    progress.update(size);
    expect_ok(connection, "download end");
    u32 received_crc = crc32(data.data(), data.size());
    if (received_crc != whole_crc)
        protocol_error("downloaded data has crc32 " + crc_text(received_crc) + ", the hypervisor announced " +
                       crc_text(whole_crc));
    return data;
}
