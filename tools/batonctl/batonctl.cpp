// batonctl: the host's client for Baton's control channel (a line protocol on the
// hypervisor's second serial port, reached through QEMU's unix socket).
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
#include "connection.hpp"
#include "live_update.hpp"
#include "transfers.hpp"

namespace {

constexpr const char *DEFAULT_SOCKET = "build/control.sock";
constexpr double DEFAULT_TIMEOUT = 10.0;

constexpr const char *USAGE = R"(usage: batonctl [--socket PATH] [--timeout SECONDS] COMMAND [ARGS]

Talks to a running Baton hypervisor over its control channel (the second serial
port, e.g. QEMU's -serial unix:PATH,server,nowait).

commands:
  list                       list domains: id, name, state, RAM bytes, vCPUs
  create MODULE [name=NAME] [ram=SIZE] [vcpus=N] [start=yes|no] [assign=BB:DD.F]
                             create a domain from a boot module (SIZE: 64M, 1G, ...)
  pause ID                   pause a domain
  unpause ID                 let a paused domain run again
  destroy ID                 destroy a domain
  mem                        memory report
  logdirty ID enable|disable|peek|clean
                             log-dirty mode of a domain; peek/clean list dirty frames
                             (clean also clears what it lists)
  view ID list               alternate p2m views of a domain: their entries, the vCPU's view
  view ID create [INDEX]     a new view (the lowest free index 1..8 unless INDEX)
  view ID destroy INDEX      (refused while the vCPU runs in it)
  view ID switch INDEX       run the domain's vCPU in view INDEX (0: the host p2m)
  view ID access INDEX GFN COUNT RIGHTS
                             frames GFN.. show their own memory with RIGHTS (n r rw rx rwx)
  view ID remap INDEX GFN TARGET COUNT RIGHTS
                             frames GFN.. show the domain's RAM at TARGET.. instead
  view ID reset INDEX GFN COUNT
                             frames GFN.. show the host p2m again
  version                    hypervisor version, build id and protocol version
  pci list                   PCI devices on bus 0 and their DMA state (blocked, assigned, unprotected)
  pci dma-probe BB:DD.F [write|read]
                             diagnostic: the hypervisor makes an edu device do one DMA;
                             the IOMMU's fault line in the log is the verdict
  iommu status               IOMMU units, translation state, fault count, latest faults
  assign ID BB:DD.F          give a PCI device to a domain (DMA through its IO page table,
                             BARs in its p2m, filtered configuration space)
  deassign ID BB:DD.F        take it back; its DMA is blocked again
  live-update (--image PATH | --module NAME) [--timeout SECONDS]
                             replace the running hypervisor, keeping its domains:
                             upload image PATH (or use boot module NAME), hand over,
                             wait for the new image to answer (default 60 s) and show
                             its version and update report
  last-update                the update report of the running image (phase timings)
  record --out FILE [--snapshot]
                             fetch the handover record this image started from, or
                             with --snapshot one written now from the running state
  update-fault FAULT         tests: make the next live-update fail at FAULT
  upload KIND FILE           send FILE to the hypervisor (KIND: image)
  kexec                      enter the uploaded image as is (refused while domains exist)
  download KIND FILE         fetch data into FILE, '-' for stdout (KIND: record, snapshot)
  raw LINE                   send one protocol line, print the answer as received
  help                       this text

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
)";

struct Options {
    std::string socket_path;
    double timeout = DEFAULT_TIMEOUT;
    bool progress = isatty(STDERR_FILENO) != 0;
    std::string command;
    std::vector<std::string> arguments;
};

// Commands sent as their words, with the argument counts the channel accepts.
struct WordCommand {
    const char *name;
    size_t min_arguments;
    size_t max_arguments;
    const char *synopsis;
};
constexpr WordCommand WORD_COMMANDS[] = {
    {"create", 1, 6, "MODULE [name=NAME] [ram=SIZE] [vcpus=N] [start=yes|no] [assign=BB:DD.F]"},
    {"assign", 2, 2, "ID BB:DD.F"},
    {"deassign", 2, 2, "ID BB:DD.F"},
    {"view", 2, 7, "ID list|create|destroy|switch|access|remap|reset ..."},
    {"pci", 1, 3, "list | dma-probe BB:DD.F [write|read]"},
    {"iommu", 1, 1, "status"},
};

const WordCommand *find_word_command(const std::string &name)
{
    for (const WordCommand &command : WORD_COMMANDS)
        if (name == command.name)
            return &command;
    return nullptr;
}

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
    CommandOptions parsed(options, "(--image PATH | --module NAME) [--timeout SECONDS]");
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
    CommandOptions parsed(options, "--out FILE [--snapshot]", {"--snapshot"});
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
        std::cout << USAGE;
        return EXIT_OK;
    }

    // Check everything that can be checked here before touching the channel.
    std::string line;
    ByteVector upload_data;
    LiveUpdateOptions update;
    RecordRequest record;
    if (command == "list" || command == "mem" || command == "version" || command == "kexec" ||
        command == "last-update") {
        expect_arguments(options, 0, 0, "");
        line = command;
    } else if (command == "pause" || command == "unpause" || command == "destroy") {
        expect_arguments(options, 1, 1, "ID");
        check_word(args[0], "ID");
        line = command + " " + args[0];
    } else if (command == "update-fault") {
        expect_arguments(options, 1, 1, "FAULT");
        check_word(args[0], "FAULT");
        line = command + " " + args[0];
    } else if (command == "logdirty") {
        expect_arguments(options, 2, 2, "ID enable|disable|peek|clean");
        check_word(args[0], "ID");
        check_word(args[1], "operation");
        line = command + " " + args[0] + " " + args[1];
    } else if (const WordCommand *word_command = find_word_command(command)) {
        // Commands whose words pass through as given, each checked to be one word.
        expect_arguments(options, word_command->min_arguments, word_command->max_arguments, word_command->synopsis);
        line = command;
        for (const std::string &arg : args) {
            check_word(arg, "argument");
            line += " " + arg;
        }
    } else if (command == "raw") {
        expect_arguments(options, 1, 1, "LINE");
        for (unsigned char c : args[0])
            if (c < ' ' || c >= 0x7f)
                usage_error("raw: the line must be printable ASCII on one line");
        if (args[0].find_first_not_of(' ') == std::string::npos)
            usage_error("raw: a blank line gets no answer; give a request");
        line = args[0];
    } else if (command == "upload" || command == "download") {
        expect_arguments(options, 2, 2, "KIND FILE");
        check_word(args[0], "KIND");
        if (command == "upload")
            upload_data = read_file(args[1]);
    } else if (command == "live-update") {
        update = parse_live_update(options);
    } else if (command == "record") {
        record = parse_record(options);
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
