// SPDX-License-Identifier: MIT
// batonctl's side of the control channel: a unix-socket connection with a deadline on
// every exchange, resynchronisation, and request/response framing.
#pragma once
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

// Exit codes (also documented in --help and docs/control-channel.md).
enum ExitCode : int {
    EXIT_OK = 0,
    EXIT_HYPERVISOR_ERROR = 1, // the hypervisor answered `error ...`
    EXIT_USAGE = 2,
    EXIT_CHANNEL = 3, // cannot connect, timeout, connection lost, protocol violation
    EXIT_ROLLED_BACK = 4, // live-update: the new image failed before committing; the old one runs again
};

// Anything that ends batonctl early: the exit code and what to tell the user.
struct Failure : std::runtime_error {
    Failure(int code, const std::string &message) : std::runtime_error(message), exit_code(code) {}
    int exit_code;
};

// One request's answer: data lines (without their ". " prefix), then the status line.
struct Response {
    std::vector<std::string> data;
    std::string status; // "ok ..." or "error ..." as received
    bool ok() const { return status == "ok" || status.rfind("ok ", 0) == 0; }
    std::string message() const; // the status text after "ok " (may be empty)
};

class Connection {
public:
    using Seconds = std::chrono::duration<double>;

    // Connects (Failure EXIT_CHANNEL if it cannot) and synchronises: drops any partial
    // line the hypervisor holds, then discards everything up to the echo of a fresh
    // nonce, so stale output from earlier clients cannot be taken for an answer.
    Connection(const std::string &socket_path, Seconds timeout);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    // Sends one request line and reads its response, within the timeout (or `limit`,
    // for a request that takes longer by design, such as live-update).
    Response request(const std::string &line);
    Response request(const std::string &line, Seconds limit);

    // Raw access for the `raw` command: every response line as received.
    std::vector<std::string> request_raw(const std::string &line);

    // How waiting for a restarted control channel went.
    struct RestartWait {
        bool answered = false; // a sync was answered and the channel is in step again
        bool closed = false; // the peer closed the connection instead
        Seconds waited{}; // until the first answer, or until giving up
        unsigned syncs_sent = 0;
        std::vector<std::string> seen; // what arrived that was not the answer (printable)
    };
    // Waits for the hypervisor to come back on this connection after it replaced itself
    // (the socket stays up, but the next image answers only once it has booted, and
    // whatever the port holds meanwhile may be dropped or garbled): sends a fresh
    // `sync` every `retry_every` until one is answered or `limit` passes. Answers to the
    // earlier syncs may still be queued behind the first one, so it then synchronises
    // once more, as on connecting.
    RestartWait wait_for_restart(Seconds limit, Seconds retry_every);

private:
    using Clock = std::chrono::steady_clock;
    enum class Received { data, timeout, closed };

    void send_all(const std::string &bytes, Clock::time_point deadline);
    // Appends whatever arrives before `deadline` to buffer_; Failure on a socket error.
    Received receive(Clock::time_point deadline);
    // Moves the first complete line of buffer_ (CR/LF stripped) into `line`.
    bool take_line(std::string &line);
    // The next line; Failure on timeout (`limit` is what the message names), EOF or an
    // endless line.
    std::string read_line(Clock::time_point deadline, Seconds limit, const std::string &waiting_for);
    std::vector<std::string> exchange(const std::string &line, Seconds limit);
    void synchronise();

    int fd_ = -1;
    std::string socket_path_;
    Seconds timeout_;
    std::string buffer_; // received bytes not yet returned as lines
};
