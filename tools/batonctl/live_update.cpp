// SPDX-License-Identifier: MIT
// batonctl live-update. The old image answers `live-update` and jumps; QEMU keeps the
// socket connected across the jump, so the new image is waited for on the same
// connection with the stale-output-proof sync, then asked for its report.
#include "live_update.hpp"
#include <cstdio>
#include <iostream>

namespace {

// How often a sync goes out while the new image boots: it may drop what arrived before
// it set up its port, so one sync is not enough, and more often would only queue more.
constexpr Connection::Seconds SYNC_RETRY{0.5};

void print_data(const Response &response)
{
    for (const std::string &line : response.data)
        std::cout << line << '\n';
}

int print_answer(const Response &response)
{
    print_data(response);
    if (response.ok())
        return EXIT_OK;
    std::cout.flush();
    std::cerr << "batonctl: " << response.status << '\n';
    return EXIT_HYPERVISOR_ERROR;
}

std::string seconds_text(double seconds)
{
    char text[32];
    snprintf(text, sizeof(text), "%.1f s", seconds);
    return text;
}

[[noreturn]] void no_new_image(const Connection::RestartWait &wait, double limit)
{
    std::string message = wait.closed ? "connection closed after " + seconds_text(wait.waited.count()) +
                                            " while waiting for the new image"
                                      : "timeout: the new image did not answer within " + seconds_text(limit) + " (" +
                                            std::to_string(wait.syncs_sent) + " syncs sent)";
    if (wait.seen.empty()) {
        message += "; nothing arrived meanwhile";
    } else {
        message += "; what arrived meanwhile:";
        for (const std::string &line : wait.seen)
            message += "\n  " + line;
    }
    throw Failure(EXIT_CHANNEL, message);
}

// After a rollback the old image answers, and its report says so: a status of its own,
// with the failed image's reason on stderr.
int rolled_back(const Response &report)
{
    bool rolled = false;
    std::string failed, reason;
    for (const std::string &line : report.data) {
        rolled |= line == "outcome rolled-back";
        if (line.rfind("failed ", 0) == 0)
            failed = line.substr(7);
        if (line.rfind("reason ", 0) == 0)
            reason = line.substr(7);
    }
    if (!rolled)
        return EXIT_OK;
    std::cout.flush();
    std::cerr << "batonctl: the update was rolled back: the new image (" << failed << ") failed: " << reason
              << "; the previous image runs the guests again\n";
    return EXIT_ROLLED_BACK;
}

} // namespace

int live_update(Connection &connection, const LiveUpdateOptions &options)
{
    std::string request = "live-update";
    if (options.module.empty())
        std::cout << upload(connection, "image", options.image, options.progress) << '\n';
    else
        request += " module=" + options.module;

    Connection::Seconds limit(options.timeout_seconds);
    Response accepted = connection.request(request, limit);
    if (int refused = print_answer(accepted))
        return refused; // the old image said why; its domains run on
    std::cout << accepted.message() << '\n' << std::flush;

    if (options.progress)
        std::cerr << "waiting for the new image (up to " << seconds_text(options.timeout_seconds) << ")\n";
    Connection::RestartWait wait = connection.wait_for_restart(limit, SYNC_RETRY);
    if (!wait.answered)
        no_new_image(wait, options.timeout_seconds);
    std::cout << "new image answered after " << seconds_text(wait.waited.count()) << '\n';

    if (int error = print_answer(connection.request("version")))
        return error;
    Response report = connection.request("last-update");
    if (int error = print_answer(report))
        return error;
    return rolled_back(report);
}
