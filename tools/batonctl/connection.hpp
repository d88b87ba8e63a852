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
};

// Anything that ends batonctl early: the exit code and what to tell the user.
struct Failure : std::runtime_error {
    Failure(int code, const std::string &message) : std::runtime_error(message), exit_code(code) {}
    int exit_code;
};

// One request's answer: data lines (without their ". " prefix), then the status line.
struct Response {
    std::vector<std::string> data;
    std::string status;  // "ok ..." or "error ..." as received
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

    // Sends one request line and reads its response, within the timeout.
    Response request(const std::string &line);

    // Raw access for the `raw` command: every response line as received.
    std::vector<std::string> request_raw(const std::string &line);

private:
    using Clock = std::chrono::steady_clock;
    void send_all(const std::string &bytes, Clock::time_point deadline);
    // The next line (CR/LF stripped); Failure on timeout, EOF or an endless line.
    std::string read_line(Clock::time_point deadline, const std::string &waiting_for);
    void synchronise();

    int fd_ = -1;
    std::string socket_path_;
    Seconds timeout_;
    std::string buffer_; // received bytes not yet returned as lines
};
