// SPDX-License-Identifier: MIT
// control-test-server: the hypervisor's real control-channel code (kernel/control/)
// behind a unix socket, with an in-memory backend, for batonctl's CLI tests. Like
// QEMU's `-serial unix:PATH,server,nowait` it serves one client at a time, keeps the
// channel's state between clients and drops output while nobody is connected.
#include "control/control_channel.hpp"
#include "lib/log.hpp"
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <utility>
#include <vector>

// The platform hooks of the portable kernel code (kernel/lib/log.cpp).
void console_write(const char *text, usize length) { fwrite(text, 1, length, stderr); }
[[noreturn]] void platform_fail_stop(const char *) { abort(); }

namespace {

enum class Mode {
    normal,
    silent, // reads requests and never answers
    stale, // greets every client with junk, as a port with old output would
    corrupt_upload, // damages the first upload chunk that arrives (batonctl must resend)
    corrupt_download, // damages the first download chunk it sends (batonctl must fetch again)
    update_hangs, // a live update is accepted, but the "new image" never comes up
};

struct Domain {
    u32 id;
    std::string name;
    std::string state;
    u64 ram_bytes;
    u32 vcpus;
};

// Faults `update-fault` can arm, with the refusal each one causes.
struct UpdateFault {
    const char *name;
    int error;
    const char *reason;
};
constexpr UpdateFault update_faults[] = {
    {"bootmem-violation", -BATON_EBUSY,
     "invariant check failed: domain 1 owns frame 0x2000 inside lu_bootmem; domains resumed"},
    {"record-overflow", -BATON_ENOSPC, "the record does not fit in the preserved area; domains resumed"},
};

class MemoryBackend final : public ControlBackend {
public:
    // Every "image" this server plays has its own build id: generation 0 is the cold
    // boot, each live update starts the next.
    VersionInfo version() override { return {"0.1.0-test", build_id_.c_str()}; }

    void list_domains(DomainVisitor &visitor) override
    {
        for (const Domain &domain : domains_)
            visitor.visit({domain.id, domain.name.c_str(), domain.state.c_str(), domain.ram_bytes, domain.vcpus});
    }

    i64 create_domain(const CreateRequest &request, ControlReason &reason) override
    {
        const std::string module = request.module;
        if (module != "counter" && module != "checksum") {
            reason.set("no boot module '%s' (this server has: counter, checksum)", request.module);
            return -BATON_ENOENT;
        }
        std::string name = request.name != nullptr ? request.name : module;
        for (const Domain &domain : domains_) {
            if (domain.name == name) {
                reason.set("a domain named '%s' exists already (id %u)", name.c_str(), domain.id);
                return -BATON_EEXIST;
            }
        }
        u64 ram = request.ram_bytes != 0 ? request.ram_bytes : 16 * MiB;
        if (ram > 256 * MiB) {
            reason.set("only 256 MiB free");
            return -BATON_ENOMEM;
        }
        domains_.push_back(
            {next_id_, name, request.start ? "running" : "paused", ram, request.vcpus != 0 ? request.vcpus : 1});
        return next_id_++;
    }

    int pause_domain(u32 id, ControlReason &reason) override { return set_state(id, "paused", reason); }
    int unpause_domain(u32 id, ControlReason &reason) override { return set_state(id, "running", reason); }

    int destroy_domain(u32 id, ControlReason &) override
    {
        auto found = std::find_if(domains_.begin(), domains_.end(), [&](const Domain &d) { return d.id == id; });
        if (found == domains_.end())
            return -BATON_ENOENT;
        domains_.erase(found);
        return 0;
    }

    int memory_report(ReportLines &lines, ControlReason &) override
    {
        u64 used = 0;
        for (const Domain &domain : domains_)
            used += domain.ram_bytes;
        lines.line("mem: total_bytes=%lu", 512 * MiB);
        lines.line("mem: domain_bytes=%lu", used);
        lines.line("mem: free_bytes=%lu", 512 * MiB - used);
        return 0;
    }

    // Refuses as a real image would (nothing staged, unknown module, an armed fault),
    // else reports the old image's part in the kernel's format and asks the server to
    // "jump" once the answer is out (take_jump).
    int live_update(const char *module, ReportLines &lines, ControlReason &reason) override
    {
        if (module != nullptr && std::string(module) != "baton-b") {
            reason.set("no boot module named '%s' (this server has: baton-b)", module);
            return -BATON_ENOENT;
        }
        if (module == nullptr && stored_.count(TransferKind::image) == 0) {
            reason.set("no image is staged; upload one or name a boot module");
            return -BATON_ENOENT;
        }
        if (armed_fault_ != nullptr) {
            const UpdateFault *fault = std::exchange(armed_fault_, nullptr); // one shot
            reason.set("%s", fault->reason);
            return fault->error;
        }
        lines.line("next 0.1.0-test build=%s", build_id_for(generation_ + 1).c_str());
        lines.line("record bytes=%zu at=0x1000000 domains=%zu", make_record().size(), domains_.size());
        for (const std::string &phase : old_image_phases())
            lines.line("%s", phase.c_str());
        jump_requested_ = true;
        return 0;
    }

    int last_update(ReportLines &lines, ControlReason &reason) override
    {
        if (generation_ == 0) {
            reason.set("this image was not started by a live update");
            return -BATON_ENOENT;
        }
        for (const std::string &line : last_report_)
            lines.line("%s", line.c_str());
        return 0;
    }

    int inject_update_fault(const char *name, ControlReason &reason) override
    {
        for (const UpdateFault &fault : update_faults) {
            if (std::string(name) == fault.name) {
                armed_fault_ = &fault;
                return 0;
            }
        }
        reason.set("unknown fault '%s' (known: bootmem-violation, record-overflow)", name);
        return -BATON_EINVAL;
    }

    // True once after a live update was accepted: the server then plays the jump.
    bool take_jump() { return std::exchange(jump_requested_, false); }

    // The "new image" boots: same domains, the record it was started from, the next
    // build id, and a report whose blackout is the one the server played.
    void finish_update(double blackout_seconds)
    {
        std::string from = build_id_;
        stored_[TransferKind::record] = make_record();
        stored_.erase(TransferKind::image);
        generation_++;
        build_id_ = build_id_for(generation_);
        u64 blackout_us = static_cast<u64>(blackout_seconds * 1e6);
        u64 after_serialize = blackout_us > SERIALIZE_US ? blackout_us - SERIALIZE_US : 0;
        last_report_ = {"from 0.1.0-test build=" + from, "to 0.1.0-test build=" + build_id_,
                        "generation " + std::to_string(generation_),
                        "domains restored=" + std::to_string(domains_.size()) +
                            " of=" + std::to_string(domains_.size()),
                        "record bytes=" + std::to_string(stored_[TransferKind::record].size())};
        for (const std::string &phase : old_image_phases())
            last_report_.push_back(phase);
        u64 jump = after_serialize / 2, boot = after_serialize / 4, restore = after_serialize / 8;
        last_report_.push_back("phase jump us=" + std::to_string(jump));
        last_report_.push_back("phase boot us=" + std::to_string(boot));
        last_report_.push_back("phase restore us=" + std::to_string(restore));
        last_report_.push_back("phase resume us=" + std::to_string(after_serialize - jump - boot - restore));
        last_report_.push_back("phase blackout us=" + std::to_string(blackout_us));
    }

    int upload_begin(TransferKind, u64 size, ControlReason &reason) override
    {
        if (size > 16 * MiB) {
            reason.set("this server stages at most 16 MiB");
            return -BATON_E2BIG;
        }
        staging_.assign(size, 0);
        return 0;
    }
    int upload_write(TransferKind, u64 offset, const u8 *bytes, usize length, ControlReason &) override
    {
        std::copy(bytes, bytes + length, staging_.begin() + static_cast<long>(offset));
        return 0;
    }
    int upload_finish(TransferKind kind, u64, u32, ControlReason &) override
    {
        stored_[kind] = std::move(staging_);
        return 0;
    }
    void upload_abort(TransferKind) override { staging_.clear(); }

    int download_begin(TransferKind kind, u64 &size, ControlReason &reason) override
    {
        if (kind == TransferKind::snapshot)
            stored_[kind] = make_record(); // written now, from the running state
        auto found = stored_.find(kind);
        if (found == stored_.end()) {
            reason.set("no %s stored yet", transfer_kind_name(kind));
            return -BATON_ENOENT;
        }
        size = found->second.size();
        return 0;
    }
    int download_read(TransferKind kind, u64 offset, u8 *bytes, usize length, ControlReason &) override
    {
        const std::vector<u8> &data = stored_[kind];
        std::copy(data.begin() + static_cast<long>(offset), data.begin() + static_cast<long>(offset + length), bytes);
        return 0;
    }

private:
    static constexpr u64 SERIALIZE_US = 560;

    static std::string build_id_for(u64 generation)
    {
        return generation == 0 ? "control-test-server" : "control-test-server-" + std::to_string(generation);
    }
    static std::vector<std::string> old_image_phases()
    {
        return {"phase check us=150", "phase pause us=270", "phase serialize us=" + std::to_string(SERIALIZE_US)};
    }

    // Stands in for a handover record: not Cap'n Proto, but it changes with the state.
    std::vector<u8> make_record() const
    {
        std::string text = "fake handover record\ngeneration=" + std::to_string(generation_) + "\n";
        for (const Domain &domain : domains_)
            text += "domain id=" + std::to_string(domain.id) + " name=" + domain.name + " state=" + domain.state + "\n";
        return std::vector<u8>(text.begin(), text.end());
    }

    int set_state(u32 id, const char *state, ControlReason &reason)
    {
        for (Domain &domain : domains_) {
            if (domain.id != id)
                continue;
            if (domain.state == state) {
                reason.set("domain %u is already %s", id, state);
                return -BATON_EBUSY;
            }
            domain.state = state;
            return 0;
        }
        return -BATON_ENOENT;
    }

    std::vector<Domain> domains_ = {{1, "counter", "running", 64 * MiB, 1}, {2, "idle", "paused", 32 * MiB, 2}};
    u32 next_id_ = 3;
    std::vector<u8> staging_;
    std::map<TransferKind, std::vector<u8>> stored_;
    std::string build_id_ = "control-test-server";
    u64 generation_ = 0;
    const UpdateFault *armed_fault_ = nullptr;
    bool jump_requested_ = false;
    std::vector<std::string> last_report_;
};

// Sends the channel's lines to the connected client, if any; may damage one chunk.
class SocketOutput final : public ControlOutput {
public:
    void write(const char *text, usize length) override
    {
        if (client < 0)
            return;
        std::string line(text, length);
        if (corrupt_next_chunk && line.rfind(". chunk ", 0) == 0) {
            size_t data = line.find(' ', 8) + 1; // the first base64 character
            line[data] = line[data] == 'A' ? 'B' : 'A';
            corrupt_next_chunk = false;
        }
        // A client that vanished mid-line is the client's problem, as with QEMU.
        if (send(client, line.data(), line.size(), MSG_NOSIGNAL) < 0)
            client = -1;
    }

    int client = -1;
    bool corrupt_next_chunk = false;
};

// Damages the first base64 character of the first `upload chunk` request.
class UploadCorrupter final {
public:
    explicit UploadCorrupter(bool armed) : armed_(armed) {}
    char filter(char byte)
    {
        if (byte == '\n' || byte == '\r') {
            line_.clear();
            return byte;
        }
        if (armed_ && line_.rfind("upload chunk ", 0) == 0 && line_.back() == ' ' &&
            std::count(line_.begin(), line_.end(), ' ') == 3) {
            armed_ = false;
            byte = byte == 'A' ? 'B' : 'A';
        }
        line_ += byte;
        return byte;
    }

private:
    bool armed_;
    std::string line_;
};

// The hypervisor as the client sees it through the port, including the jump of a live
// update: once the old image has answered `live-update` it reads nothing more; after
// `blackout` seconds the new image comes up with a fresh channel (no half line, no open
// transfer), its port set up anew. What the client sent meanwhile waited in the socket,
// except the first bytes, which the port's reset dropped (typically cutting a line in
// two); and the port emits some noise as it is set up.
class Machine final {
public:
    Machine(MemoryBackend &backend, SocketOutput &output, Mode mode, double blackout)
        : backend_(backend), output_(output), mode_(mode), blackout_(blackout), corrupter_(mode == Mode::corrupt_upload)
    {
        channel_.emplace(backend_, output_);
    }

    void receive(const char *bytes, usize length)
    {
        for (usize i = 0; i < length; i++) {
            if (down_) {
                held_input_ += bytes[i];
                continue;
            }
            channel_->feed(corrupter_.filter(bytes[i]));
            if (backend_.take_jump()) {
                down_ = true;
                held_input_.clear();
                boot_at_ =
                    std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                           std::chrono::duration<double>(blackout_));
            }
        }
    }

    // Boots the new image once its time has come (never in update-hangs mode).
    void tick()
    {
        if (!down_ || mode_ == Mode::update_hangs || std::chrono::steady_clock::now() < boot_at_)
            return;
        backend_.finish_update(blackout_);
        channel_.emplace(backend_, output_);
        down_ = false;
        const char noise[] = "\xff\xfe\x00\r\n\x01~~ port reset ~~"; // no line end: the next answer shares it
        output_.write(noise, sizeof(noise) - 1);
        std::string waiting = std::move(held_input_);
        held_input_.clear();
        constexpr usize PORT_FIFO_BYTES = 16;
        if (waiting.size() > PORT_FIFO_BYTES)
            receive(waiting.data() + PORT_FIFO_BYTES, waiting.size() - PORT_FIFO_BYTES);
    }

private:
    MemoryBackend &backend_;
    SocketOutput &output_;
    Mode mode_;
    double blackout_;
    UploadCorrupter corrupter_;
    std::optional<ControlChannel> channel_;
    bool down_ = false;
    std::chrono::steady_clock::time_point boot_at_;
    std::string held_input_;
};

[[noreturn]] void fail(const char *what)
{
    fprintf(stderr, "control-test-server: %s: %s\n", what, strerror(errno));
    exit(1);
}

int listen_on(const std::string &path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        fprintf(stderr, "control-test-server: socket path too long\n");
        exit(2);
    }
    memcpy(address.sun_path, path.c_str(), path.size() + 1);
    unlink(path.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket");
    if (bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof(address)) != 0)
        fail("bind");
    if (listen(fd, 4) != 0)
        fail("listen");
    return fd;
}

} // namespace

int main(int argc, char **argv)
{
    std::string path;
    Mode mode = Mode::normal;
    double lifetime = 60;
    double blackout = 1.0;
    for (int i = 1; i < argc; i++) {
        std::string word = argv[i];
        std::string value = i + 1 < argc ? argv[i + 1] : "";
        if (word == "--socket" && i + 1 < argc) {
            path = value;
            i++;
        } else if (word == "--lifetime" && i + 1 < argc) {
            lifetime = atof(value.c_str());
            i++;
        } else if (word == "--blackout" && i + 1 < argc) {
            blackout = atof(value.c_str());
            i++;
        } else if (word == "--mode" && i + 1 < argc) {
            const std::map<std::string, Mode> modes = {{"normal", Mode::normal},
                                                       {"silent", Mode::silent},
                                                       {"stale", Mode::stale},
                                                       {"corrupt-upload", Mode::corrupt_upload},
                                                       {"corrupt-download", Mode::corrupt_download},
                                                       {"update-hangs", Mode::update_hangs}};
            if (!modes.count(value)) {
                fprintf(stderr, "control-test-server: unknown mode '%s'\n", value.c_str());
                return 2;
            }
            mode = modes.at(value);
            i++;
        } else {
            fprintf(stderr, "usage: control-test-server --socket PATH [--mode normal|silent|stale|"
                            "corrupt-upload|corrupt-download|update-hangs] [--lifetime SECONDS] "
                            "[--blackout SECONDS]\n");
            return 2;
        }
    }
    if (path.empty()) {
        fprintf(stderr, "control-test-server: --socket PATH is required\n");
        return 2;
    }

    int listener = listen_on(path);
    MemoryBackend backend;
    SocketOutput output;
    output.corrupt_next_chunk = mode == Mode::corrupt_download;
    Machine machine(backend, output, mode, blackout);
    printf("listening on %s\n", path.c_str());
    fflush(stdout);

    // Never outlive the test that started us, even if it forgets to stop us.
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(lifetime);
    while (std::chrono::steady_clock::now() < end) {
        machine.tick();
        pollfd listen_fd{listener, POLLIN, 0};
        if (poll(&listen_fd, 1, 100) <= 0)
            continue;
        int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0)
            continue;
        output.client = client;
        if (mode == Mode::stale) {
            const char junk[] = "old output\nerror EIO stale answer\nok sync notyours\n. stale data\nhalf a li";
            send(client, junk, sizeof(junk) - 1, MSG_NOSIGNAL);
        }
        while (std::chrono::steady_clock::now() < end) {
            machine.tick();
            pollfd client_fd{client, POLLIN, 0};
            if (poll(&client_fd, 1, 50) <= 0)
                continue;
            char bytes[4096];
            ssize_t got = recv(client, bytes, sizeof(bytes), 0);
            if (got <= 0)
                break;
            if (mode == Mode::silent)
                continue;
            machine.receive(bytes, static_cast<usize>(got));
        }
        output.client = -1;
        close(client);
    }
    close(listener);
    unlink(path.c_str());
    return 0;
}
