// SPDX-License-Identifier: MIT
// Helpers of the crypto unit tests: hex, seeded random messages, and the host's tools
// (sha256sum, sha512sum, openssl) run on files in a temporary directory.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace crypto_test {

using Bytes = std::vector<uint8_t>;

inline std::string to_hex(const uint8_t *bytes, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    std::string text;
    for (size_t i = 0; i < size; i++) {
        text += digits[bytes[i] >> 4];
        text += digits[bytes[i] & 15];
    }
    return text;
}

template <size_t N>
std::string to_hex(const uint8_t (&bytes)[N])
{
    return to_hex(bytes, N);
}

// Hex text to bytes; whitespace is skipped so that long vectors can be split over lines.
inline Bytes from_hex(const std::string &text)
{
    Bytes bytes;
    int high = -1;
    for (char c : text) {
        int value;
        if (c >= '0' && c <= '9')
            value = c - '0';
        else if (c >= 'a' && c <= 'f')
            value = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            value = c - 'A' + 10;
        else if (c == ' ' || c == '\n')
            continue;
        else
            throw std::invalid_argument("not hex: " + text);
        if (high < 0) {
            high = value;
        } else {
            bytes.push_back(static_cast<uint8_t>(high << 4 | value));
            high = -1;
        }
    }
    if (high >= 0)
        throw std::invalid_argument("odd number of hex digits: " + text);
    return bytes;
}

inline Bytes random_bytes(std::mt19937 &random, size_t size)
{
    Bytes bytes(size);
    for (auto &byte : bytes)
        byte = static_cast<uint8_t>(random());
    return bytes;
}

// A fresh directory under the system's temporary directory, removed with its contents.
class TempDir {
public:
    TempDir()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "baton-crypto-XXXXXX").string();
        if (!mkdtemp(pattern.data()))
            throw std::runtime_error("mkdtemp failed for " + pattern);
        path_ = pattern;
    }
    ~TempDir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    std::string file(const std::string &name) const { return (path_ / name).string(); }

    std::string write(const std::string &name, const Bytes &bytes) const
    {
        std::string path = file(name);
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!out)
            throw std::runtime_error("cannot write " + path);
        return path;
    }

    Bytes read(const std::string &name) const
    {
        std::ifstream in(file(name), std::ios::binary);
        if (!in)
            throw std::runtime_error("cannot read " + file(name));
        return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

private:
    std::filesystem::path path_;
};

// Runs a shell command; its standard output and exit status.
struct CommandResult {
    int status = -1;
    std::string output;
};

inline CommandResult run_command(const std::string &command)
{
    CommandResult result;
    FILE *pipe = popen(command.c_str(), "r");
    if (!pipe)
        return result;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), pipe)) > 0)
        result.output.append(chunk, got);
    result.status = pclose(pipe);
    return result;
}

// The words joined by spaces, run with standard error into the output (for messages).
inline CommandResult run_words(std::initializer_list<std::string> words)
{
    std::string command;
    for (const std::string &word : words) {
        command += word;
        command += ' ';
    }
    command += "2>&1";
    return run_command(command);
}

// Whether `tool` is on the PATH: the host tools are test dependencies, whose absence
// must fail a test, not skip it.
inline bool have_tool(const std::string &tool)
{
    return run_command("command -v " + tool + " >/dev/null 2>&1").status == 0;
}

// The digests that `tool` (sha256sum or sha512sum) prints for `messages`, in order, as
// hex: one run over one file per message.
inline std::vector<std::string> host_digests(const std::string &tool, const std::vector<Bytes> &messages)
{
    TempDir dir;
    std::string command = tool;
    for (size_t i = 0; i < messages.size(); i++)
        command += " " + dir.write("message" + std::to_string(i), messages[i]);
    CommandResult result = run_command(command);
    if (result.status != 0)
        throw std::runtime_error(command + " failed with status " + std::to_string(result.status));
    std::vector<std::string> digests;
    size_t start = 0;
    while (start < result.output.size()) {
        size_t end = result.output.find('\n', start);
        if (end == std::string::npos)
            end = result.output.size();
        std::string line = result.output.substr(start, end - start);
        digests.push_back(line.substr(0, line.find(' ')));
        start = end + 1;
    }
    return digests;
}

} // namespace crypto_test
