// SPDX-License-Identifier: MIT
// batonctl: the host's client for Baton's control channel (a line protocol on the
// hypervisor's second serial port, reached through QEMU's unix socket).
#include "connection.hpp"
#include "control/command_table.hpp"
#include "live_update.hpp"
#include "transfers.hpp"
#include "usage.hpp"
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr const char *DEFAULT_SOCKET = "build/control.sock";
constexpr double DEFAULT_TIMEOUT = 10.0;

struct Options {
    std::string socket_path;
    double timeout = DEFAULT_TIMEOUT;
    bool progress = isatty(STDERR_FILENO) != 0;
    std::string command;
    std::vector<std::string> arguments;
};

[[noreturn]] void usage_error(const std::string &message)
{
    throw Failure(EXIT_USAGE, message + " (batonctl --help for usage)");
}

// A value that travels as one word of a request line.
void check_word(const std::string &word, const char *what)
{
    if (word.empty())
        usage_error(std::string(what) + " must not be empty");
    for (unsigned char c : word)
        if (c <= ' ' || c >= 0x7f)
            usage_error(std::string(what) + " '" + word + "' contains a blank or a non-printable character");
}

// What to call argument `index` of a synopsis in an error: its word if that is a
// placeholder such as ID or FAULT, else "argument".
std::string argument_label(const char *synopsis, size_t index)
{
    std::string text = synopsis;
    size_t start = 0;
    for (size_t i = 0; i < index && start != std::string::npos; i++) {
        start = text.find(' ', start);
        start = start == std::string::npos ? start : start + 1;
    }
    if (start == std::string::npos)
        return "argument";
    std::string word = text.substr(start, text.find(' ', start) - start);
    bool placeholder = !word.empty() && word[0] >= 'A' && word[0] <= 'Z';
    for (char c : word)
        placeholder =
            placeholder && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '.');
    return placeholder ? word : "argument";
}

double parse_timeout(const std::string &text)
{
    char *end = nullptr;
    double seconds = strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(seconds > 0) || seconds > 3600)
        usage_error("--timeout wants seconds between 0 and 3600, not '" + text + "'");
    return seconds;
}

Options parse_options(int argc, char **argv)
{
    Options options;
    if (const char *env = getenv("BATON_CONTROL_SOCKET"); env != nullptr && *env != '\0')
        options.socket_path = env;
    else
        options.socket_path = DEFAULT_SOCKET;

    int i = 1;
    auto value_of = [&](const std::string &option) -> std::string {
        std::string word = argv[i];
        if (word.size() > option.size() && word.compare(0, option.size() + 1, option + "=") == 0)
            return word.substr(option.size() + 1);
        if (i + 1 >= argc)
            usage_error(option + " needs a value");
        return argv[++i];
    };
    for (; i < argc; i++) {
        std::string word = argv[i];
        if (word == "-h" || word == "--help") {
            options.command = "help";
            return options;
        }
        if (word == "--socket" || word.rfind("--socket=", 0) == 0)
            options.socket_path = value_of("--socket");
        else if (word == "--timeout" || word.rfind("--timeout=", 0) == 0)
            options.timeout = parse_timeout(value_of("--timeout"));
        else if (word == "--progress")
            options.progress = true;
        else if (word.rfind("-", 0) == 0 && word.size() > 1)
            usage_error("unknown option '" + word + "'");
        else
            break;
    }
    if (i == argc)
        usage_error("no command given");
    options.command = argv[i++];
    options.arguments.assign(argv + i, argv + argc);
    return options;
}

// The synopsis of one of batonctl's own forms (usage.cpp), for its usage errors.
const char *client_synopsis(const std::string &name)
{
    const ClientForm *form = find_client_form(name);
    return form != nullptr ? form->synopsis : "";
}

void expect_arguments(const Options &options, size_t min, size_t max, const char *synopsis)
{
    size_t count = options.arguments.size();
    if (count < min || count > max)
        usage_error("usage: batonctl " + options.command + (synopsis[0] ? " " : "") + synopsis);
}

// A command's own options after the command word: `--name VALUE` or `--name=VALUE`, and
// the `flags` it names, which take no value. Anything else is a usage error.
class CommandOptions {
public:
    CommandOptions(const Options &options, const char *synopsis, std::initializer_list<const char *> flags = {})
        : command_(options.command), synopsis_(synopsis)
    {
        const std::vector<std::string> &args = options.arguments;
        for (size_t i = 0; i < args.size(); i++) {
            const std::string &word = args[i];
            if (word.rfind("--", 0) != 0 || word.size() == 2)
                fail("unexpected argument '" + word + "'");
            size_t equals = word.find('=');
            std::string name = word.substr(0, equals);
            bool is_flag = std::find(flags.begin(), flags.end(), name) != flags.end();
            if (values_.count(name))
                fail(name + " given twice");
            if (is_flag && equals != std::string::npos)
                fail(name + " takes no value");
            if (is_flag)
                values_[name] = "";
            else if (equals != std::string::npos)
                values_[name] = word.substr(equals + 1);
            else if (i + 1 < args.size())
                values_[name] = args[++i];
            else
                fail(name + " needs a value");
        }
    }

    bool has(const std::string &name) const { return values_.count(name) != 0; }
    // The value of `name`, marking it as known; "" for a flag or an option not given.
    std::string take(const std::string &name)
    {
        auto found = values_.find(name);
        if (found == values_.end())
            return "";
        std::string value = found->second;
        values_.erase(found);
        return value;
    }
    // Call after taking every known option: what is left is unknown.
    void finish()
    {
        if (!values_.empty())
            fail("unknown option '" + values_.begin()->first + "'");
    }
    [[noreturn]] void fail(const std::string &problem)
    {
        usage_error(command_ + ": " + problem + "; usage: batonctl " + command_ + " " + synopsis_);
    }

private:
    std::string command_;
    const char *synopsis_;
    std::map<std::string, std::string> values_;
};

// Prints the answer: data lines, then the ok message; an error goes to stderr.
int report(const Response &response)
{
    for (const std::string &line : response.data)
        std::cout << line << '\n';
    if (!response.ok()) {
        std::cout.flush();
        std::cerr << "batonctl: " << response.status << '\n';
        return EXIT_HYPERVISOR_ERROR;
    }
    if (!response.message().empty())
        std::cout << response.message() << '\n';
    return EXIT_OK;
}

ByteVector read_file(const std::string &path)
{
    std::ifstream file(path, std::ios::binary);
    if (!file)
        usage_error("cannot read '" + path + "': " + strerror(errno));
    return ByteVector(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void write_file(const std::string &path, const ByteVector &data)
{
    if (path == "-") {
        std::cout.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
        return;
    }
    // Written aside and renamed, so FILE is never left half written.
    std::string temporary = path + ".part";
    {
        std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
        file.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
        if (!file.flush())
            throw Failure(EXIT_USAGE, "cannot write '" + temporary + "': " + strerror(errno));
    }
    if (rename(temporary.c_str(), path.c_str()) != 0)
        throw Failure(EXIT_USAGE, "cannot rename '" + temporary + "' to '" + path + "': " + strerror(errno));
}

LiveUpdateOptions parse_live_update(const Options &options)
{
    CommandOptions parsed(options, client_synopsis("live-update"));
    bool has_image = parsed.has("--image"), has_module = parsed.has("--module"), has_timeout = parsed.has("--timeout");
    std::string image_path = parsed.take("--image"), module = parsed.take("--module"),
                timeout = parsed.take("--timeout");
    parsed.finish();
    if (has_image == has_module)
        parsed.fail("give either --image PATH or --module NAME");
    LiveUpdateOptions update;
    update.progress = options.progress;
    if (has_timeout)
        update.timeout_seconds = parse_timeout(timeout);
    if (has_module) {
        check_word(module, "NAME");
        update.module = module;
    } else {
        update.image = read_file(image_path);
    }
    return update;
}

struct RecordRequest {
    std::string kind; // "record" or "snapshot"
    std::string path;
};

RecordRequest parse_record(const Options &options)
{
    CommandOptions parsed(options, client_synopsis("record"), {"--snapshot"});
    bool has_out = parsed.has("--out"), snapshot = parsed.has("--snapshot");
    std::string path = parsed.take("--out");
    parsed.take("--snapshot");
    parsed.finish();
    if (!has_out || path.empty())
        parsed.fail("--out FILE is required");
    return {snapshot ? "snapshot" : "record", path};
}

int download_to(Connection &connection, const std::string &kind, const std::string &path, bool progress)
{
    ByteVector data = download(connection, kind, progress);
    write_file(path, data);
    if (path != "-")
        std::cout << "downloaded " << kind << ": " << data.size() << " bytes to " << path << '\n';
    return EXIT_OK;
}

int run(const Options &options)
{
    const std::string &command = options.command;
    const std::vector<std::string> &args = options.arguments;
    if (command == "help") {
        std::cout << usage_text();
        return EXIT_OK;
    }

    // Check everything that can be checked here before touching the channel.
    std::string line;
    ByteVector upload_data;
    LiveUpdateOptions update;
    RecordRequest record;
    if (command == "raw") {
        expect_arguments(options, 1, 1, client_synopsis("raw"));
        for (unsigned char c : args[0])
            if (c < ' ' || c >= 0x7f)
                usage_error("raw: the line must be printable ASCII on one line");
        if (args[0].find_first_not_of(' ') == std::string::npos)
            usage_error("raw: a blank line gets no answer; give a request");
        line = args[0];
    } else if (command == "upload" || command == "download") {
        expect_arguments(options, 2, 2, client_synopsis(command));
        check_word(args[0], "KIND");
        if (command == "upload")
            upload_data = read_file(args[1]);
    } else if (command == "live-update") {
        update = parse_live_update(options);
    } else if (command == "record") {
        record = parse_record(options);
    } else if (const ControlCommandInfo *protocol = find_control_command(command.c_str())) {
        // The hypervisor's other commands pass through as given, each word checked to be one.
        expect_arguments(options, protocol->min_arguments, protocol->max_arguments, protocol->arguments);
        line = command;
        for (size_t i = 0; i < args.size(); i++) {
            check_word(args[i], argument_label(protocol->arguments, i).c_str());
            line += " " + args[i];
        }
    } else {
        usage_error("unknown command '" + command + "'");
    }

    Connection connection(options.socket_path, Connection::Seconds(options.timeout));
    if (command == "raw") {
        std::vector<std::string> lines = connection.request_raw(line);
        for (const std::string &received : lines)
            std::cout << received << '\n';
        return lines.back().rfind("error ", 0) == 0 ? EXIT_HYPERVISOR_ERROR : EXIT_OK;
    }
    if (command == "upload") {
        std::cout << upload(connection, args[0], upload_data, options.progress) << '\n';
        return EXIT_OK;
    }
    if (command == "download")
        return download_to(connection, args[0], args[1], options.progress);
    if (command == "record")
        return download_to(connection, record.kind, record.path, options.progress);
    if (command == "live-update")
        return live_update(connection, update);
    return report(connection.request(line));
}

} // namespace

int main(int argc, char **argv)
{
    try {
        return run(parse_options(argc, argv));
    } catch (const Failure &failure) {
        std::cout.flush();
        std::cerr << "batonctl: " << failure.what() << '\n';
        return failure.exit_code;
    } catch (const std::exception &error) {
        std::cerr << "batonctl: " << error.what() << '\n';
        return EXIT_CHANNEL;
    }
}
