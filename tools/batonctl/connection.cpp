// SPDX-License-Identifier: MIT
// Unix-socket connection to the control channel: deadlines, sync, response framing.
#include "connection.hpp"
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

// More than any well-behaved line; a peer sending endless bytes without a newline is
// not a Baton control channel.
constexpr size_t LINE_LIMIT = 64 * 1024;

std::string format_seconds(double seconds)
{
    char text[32];
    snprintf(text, sizeof(text), "%.1f s", seconds);
    return text;
}

std::string make_nonce()
{
    std::random_device device;
    std::uniform_int_distribution<unsigned> digit(0, 15);
    std::string nonce = "b";
    for (int i = 0; i < 16; i++)
        nonce += "0123456789abcdef"[digit(device)];
    return nonce;
}

// Bytes received while waiting, as a user can read them: non-printable ones as \xNN,
// cut at 200 characters.
std::string printable(const std::string &bytes)
{
    std::string text;
    for (unsigned char c : bytes) {
        if (text.size() >= 200) {
            text += "...";
            break;
        }
        if (c >= ' ' && c < 0x7f) {
            text += static_cast<char>(c);
        } else {
            char escaped[8];
            snprintf(escaped, sizeof(escaped), "\\x%02x", c);
            text += escaped;
        }
    }
    return text;
}

bool ends_with(const std::string &text, const std::string &suffix)
{
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_data(const std::string &line) { return line == "." || line.rfind(". ", 0) == 0; }
bool is_status(const std::string &line)
{
    return line == "ok" || line.rfind("ok ", 0) == 0 || line.rfind("error ", 0) == 0;
}

} // namespace

std::string Response::message() const
{
    return status.size() > 3 && status.rfind("ok ", 0) == 0 ? status.substr(3) : std::string();
}

Connection::Connection(const std::string &socket_path, Seconds timeout) : socket_path_(socket_path), timeout_(timeout)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(address.sun_path))
        throw Failure(EXIT_CHANNEL,
                      "socket path too long (" + std::to_string(socket_path.size()) + " bytes): " + socket_path);
    memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
        throw Failure(EXIT_CHANNEL, std::string("cannot create a socket: ") + strerror(errno));
    if (connect(fd_, reinterpret_cast<const sockaddr *>(&address), sizeof(address)) != 0) {
        int error = errno;
        close(fd_);
        fd_ = -1;
        throw Failure(EXIT_CHANNEL, "cannot connect to " + socket_path + ": " + strerror(error) +
                                        " (is the hypervisor running with -serial unix:" + socket_path +
                                        ",server,nowait?)");
    }
    synchronise();
}

Connection::~Connection()
{
    if (fd_ >= 0)
        close(fd_);
}

void Connection::send_all(const std::string &bytes, Clock::time_point deadline)
{
    size_t sent = 0;
    while (sent < bytes.size()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd poll_fd{fd_, POLLOUT, 0};
        int ready = left > 0 ? poll(&poll_fd, 1, static_cast<int>(left)) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            throw Failure(EXIT_CHANNEL,
                          "timeout: the hypervisor does not take input (" + format_seconds(timeout_.count()) + ")");
        ssize_t written = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (written < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (written < 0)
            throw Failure(EXIT_CHANNEL, std::string("connection lost while sending: ") + strerror(errno));
        sent += static_cast<size_t>(written);
    }
}

Connection::Received Connection::receive(Clock::time_point deadline)
{
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd poll_fd{fd_, POLLIN, 0};
        int ready = left > 0 ? poll(&poll_fd, 1, static_cast<int>(left)) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return Received::timeout;
        char chunk[4096];
        ssize_t got = recv(fd_, chunk, sizeof(chunk), 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0)
            throw Failure(EXIT_CHANNEL, std::string("connection lost: ") + strerror(errno));
        if (got == 0)
            return Received::closed;
        buffer_.append(chunk, static_cast<size_t>(got));
        return Received::data;
    }
}

bool Connection::take_line(std::string &line)
{
    size_t end = buffer_.find_first_of("\r\n");
    if (end == std::string::npos)
        return false;
    line = buffer_.substr(0, end);
    size_t skip = end + 1;
    if (buffer_[end] == '\r' && skip < buffer_.size() && buffer_[skip] == '\n')
        skip++;
    buffer_.erase(0, skip);
    return true;
}

std::string Connection::read_line(Clock::time_point deadline, Seconds limit, const std::string &waiting_for)
{
    std::string line;
    while (!take_line(line)) {
        if (buffer_.size() > LINE_LIMIT)
            throw Failure(EXIT_CHANNEL, "protocol error: a line longer than " + std::to_string(LINE_LIMIT) +
                                            " bytes while waiting for " + waiting_for);
        switch (receive(deadline)) {
        case Received::data: break;
        case Received::timeout:
            throw Failure(EXIT_CHANNEL,
                          "timeout after " + format_seconds(limit.count()) + " waiting for " + waiting_for);
        case Received::closed: throw Failure(EXIT_CHANNEL, "connection closed while waiting for " + waiting_for);
        }
    }
    return line;
}

void Connection::synchronise()
{
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout_);
    std::string nonce = make_nonce();
    // Ctrl-U first: whatever half line an earlier client left behind is dropped.
    send_all(std::string("\x15sync ") + nonce + "\n", deadline);
    // Stale output may end in a half line, so the echo counts at the end of a line too.
    std::string echo = "ok sync " + nonce;
    for (;;) {
        std::string line =
            read_line(deadline, timeout_, "the answer to sync (is the hypervisor polling its control port?)");
        if (ends_with(line, echo))
            return;
    }
}

std::vector<std::string> Connection::request_raw(const std::string &line) { return exchange(line, timeout_); }

std::vector<std::string> Connection::exchange(const std::string &line, Seconds limit)
{
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(limit);
    send_all(line + "\n", deadline);
    std::vector<std::string> lines;
    std::string waiting_for = "the answer to '" + line.substr(0, 40) + "'";
    for (;;) {
        lines.push_back(read_line(deadline, limit, waiting_for));
        const std::string &received = lines.back();
        if (is_status(received))
            return lines;
        if (!is_data(received))
            throw Failure(EXIT_CHANNEL, "protocol error: unexpected line '" + received.substr(0, 80) +
                                            "' while waiting for " + waiting_for);
    }
}

Response Connection::request(const std::string &line) { return request(line, timeout_); }

Response Connection::request(const std::string &line, Seconds limit)
{
    Response response;
    for (std::string &received : exchange(line, limit)) {
        if (is_data(received))
            response.data.push_back(received.size() > 2 ? received.substr(2) : std::string());
        else
            response.status = std::move(received);
    }
    return response;
}

Connection::RestartWait Connection::wait_for_restart(Seconds limit, Seconds retry_every)
{
    constexpr size_t SEEN_MAX = 40; // the last lines are the telling ones
    RestartWait wait;
    auto started = Clock::now();
    auto deadline = started + std::chrono::duration_cast<Clock::duration>(limit);
    auto note = [&](const std::string &bytes) {
        if (bytes.empty())
            return;
        wait.seen.push_back(printable(bytes));
        if (wait.seen.size() > SEEN_MAX)
            wait.seen.erase(wait.seen.begin());
    };
    std::vector<std::string> echoes;
    while (!wait.answered && !wait.closed && Clock::now() < deadline) {
        std::string nonce = make_nonce();
        echoes.push_back("ok sync " + nonce);
        // Ctrl-U first, as on connecting: the new image may hold the tail of an earlier sync.
        try {
            send_all(std::string("\x15sync ") + nonce + "\n", deadline);
        } catch (const Failure &) {
            // Either the time is up or the peer went away; both are reported with what
            // arrived before, not as a bare send error.
            wait.closed = Clock::now() < deadline;
            break;
        }
        wait.syncs_sent++;
        auto retry_at = std::min(deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(retry_every));
        while (!wait.answered) {
            std::string line;
            if (take_line(line)) {
                // Garbage may precede the echo on its line, as stale output does.
                for (const std::string &echo : echoes)
                    wait.answered = wait.answered || ends_with(line, echo);
                if (!wait.answered)
                    note(line);
                continue;
            }
            if (buffer_.size() > LINE_LIMIT) { // noise without a line end: keep a sample, drop it
                note(buffer_.substr(0, 200));
                buffer_.clear();
            }
            Received received;
            try {
                received = receive(retry_at);
            } catch (const Failure &) {
                received = Received::closed; // reset: the peer closed with our syncs unread
            }
            if (received == Received::timeout)
                break;
            if (received == Received::closed) {
                wait.closed = true;
                break;
            }
        }
    }
    wait.waited = Clock::now() - started;
    if (wait.answered)
        synchronise();
    else
        note(buffer_); // a partial line is part of what was seen
    return wait;
}
