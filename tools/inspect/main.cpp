// SPDX-License-Identifier: MIT
// baton-inspect: decode, validate, diff and measure live-update handover records.
#include "inspect.hpp"
#include <cstring>
#include <string>
#include <vector>

namespace {

const char usage_text[] = "usage: baton-inspect COMMAND [OPTIONS] FILE...\n"
                          "\n"
                          "Reads Baton live-update handover records: Cap'n Proto messages as the hypervisor\n"
                          "writes them (one segment; batonctl saves them as they are) or as other Cap'n Proto\n"
                          "writers frame them (any number of segments). FILE may be '-' for stdin.\n"
                          "\n"
                          "commands:\n"
                          "  decode [--json] FILE   print the record as text, or as JSON with --json\n"
                          "  validate FILE          run the structural and semantic checks the next hypervisor\n"
                          "                         runs; list every problem; exit 0 only if there is none\n"
                          "  diff A B               show what changed from record A to record B\n"
                          "  stats [--json] FILE    counts, preserved bytes, the last update's phase timings,\n"
                          "                         record size and per-section sizes\n"
                          "  help                   show this text\n"
                          "\n"
                          "exit status: 0 success (valid, identical); 1 invalid record or records differ;\n"
                          "2 usage error; 3 unreadable input or not a well-formed record.\n"
                          "See docs/baton-inspect.md.\n";

int usage_error(const std::string &message)
{
    fprintf(stderr, "baton-inspect: %s\nusage: baton-inspect decode|validate|diff|stats ... ('baton-inspect help')\n",
            message.c_str());
    return inspect::exit_usage;
}

int run(const std::vector<std::string> &args)
{
    if (args.empty())
        return usage_error("no command given");
    const std::string &command = args[0];
    if (command == "help" || command == "--help" || command == "-h") {
        fputs(usage_text, stdout);
        return inspect::exit_ok;
    }
    bool json = false;
    std::vector<std::string> files;
    for (size_t i = 1; i < args.size(); i++) {
        if (args[i] == "--json")
            json = true;
        else if (args[i] == "--help" || args[i] == "-h")
            return fputs(usage_text, stdout), inspect::exit_ok;
        else if (args[i].size() > 1 && args[i][0] == '-')
            return usage_error("unknown option " + args[i]);
        else
            files.push_back(args[i]);
    }
    const size_t wanted = command == "diff" ? 2 : 1;
    if (command != "decode" && command != "validate" && command != "diff" && command != "stats")
        return usage_error("unknown command " + command);
    if (files.size() != wanted)
        return usage_error(command + " takes " + (wanted == 2 ? "two files" : "one file"));
    if (json && command != "decode" && command != "stats")
        return usage_error("--json applies to decode and stats");
    if (wanted == 2 && files[0] == "-" && files[1] == "-")
        return usage_error("only one of the files can be stdin");

    if (command == "diff") {
        const inspect::RecordFile a(files[0]), b(files[1]);
        return inspect::diff(a, b, stdout);
    }
    const inspect::RecordFile record(files[0]);
    if (command == "validate")
        return inspect::validate(record, stdout);
    if (command == "stats")
        return inspect::stats(record, json, stdout);
    return json ? inspect::decode_json(record, stdout) : inspect::decode_text(record, stdout);
}

} // namespace

int main(int argc, char **argv)
{
    try {
        const int status = run(std::vector<std::string>(argv + 1, argv + argc));
        if (fflush(stdout) != 0)
            return inspect::exit_input;
        return status;
    } catch (const inspect::InputError &error) {
        fflush(stdout);
        fprintf(stderr, "baton-inspect: %s\n", error.message.c_str());
    } catch (const kj::Exception &error) {
        fflush(stdout);
        fprintf(stderr, "baton-inspect: malformed record: %s\n", error.getDescription().cStr());
    } catch (const std::exception &error) {
        fflush(stdout);
        fprintf(stderr, "baton-inspect: %s\n", error.what());
    }
    return inspect::exit_input;
}
