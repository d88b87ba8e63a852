// SPDX-License-Identifier: MIT
// Host test helpers for the control channel: a scriptable fake backend and a line catcher.
#pragma once
#include "control/control_channel.hpp"
#include <algorithm>
#include <gtest/gtest.h>
#include <map>
#include <string>
#include <vector>

// Collects everything the channel writes and checks that every write is one whole line.
class CapturedOutput final : public ControlOutput {
public:
    void write(const char *text, usize length) override
    {
        std::string line(text, length);
        if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1)
            broken_writes++;
        all += line;
    }
    std::vector<std::string> take_lines()
    {
        std::vector<std::string> lines;
        size_t start = 0;
        for (size_t end; (end = all.find('\n', start)) != std::string::npos; start = end + 1)
            lines.push_back(all.substr(start, end - start));
        all.clear();
        return lines;
    }

    std::string all;
    int broken_writes = 0;
};

struct FakeDomain {
    u32 id;
    std::string name;
    std::string state;
    u64 ram_bytes;
    u32 vcpus;
};

// Domains live in a vector; every call is logged; `fail_next` makes the next backend call
// fail with that errno (and `fail_reason`, if not empty, as its explanation).
// A backend with only the methods every image must have, each refusing: what an image
// built before the optional commands existed looks like. Tests derive from it to
// implement the few commands they exercise.
class MinimalBackend : public ControlBackend {
public:
    VersionInfo version() override { return {"0.0.1", "minimal"}; }
    void list_domains(DomainVisitor &) override {}
    i64 create_domain(const CreateRequest &, ControlReason &) override { return -BATON_ENOSYS; }
    int pause_domain(u32, ControlReason &) override { return -BATON_ENOSYS; }
    int unpause_domain(u32, ControlReason &) override { return -BATON_ENOSYS; }
    int destroy_domain(u32, ControlReason &) override { return -BATON_ENOSYS; }
    int memory_report(ReportLines &, ControlReason &) override { return -BATON_ENOSYS; }
};

class FakeBackend final : public ControlBackend {
public:
    VersionInfo version() override { return {"0.1.0", "abc123-A"}; }

    void list_domains(DomainVisitor &visitor) override
    {
        calls.push_back("list");
        for (const FakeDomain &domain : domains)
            visitor.visit({domain.id, domain.name.c_str(), domain.state.c_str(), domain.ram_bytes, domain.vcpus});
    }

    i64 create_domain(const CreateRequest &request, ControlReason &reason) override
    {
        last_create = request;
        last_create_module = request.module;
        last_create_name = request.name != nullptr ? request.name : "(default)";
        calls.push_back("create " + last_create_module);
        if (int error = take_failure(reason))
            return error;
        u32 id = next_id++;
        domains.push_back({id, request.name != nullptr ? request.name : request.module,
                           request.start ? "running" : "paused", request.ram_bytes ? request.ram_bytes : 16 * MiB,
                           request.vcpus ? request.vcpus : 1});
        return id;
    }

    int pause_domain(u32 id, ControlReason &reason) override { return act("pause", id, reason); }
    int unpause_domain(u32 id, ControlReason &reason) override { return act("unpause", id, reason); }
    int destroy_domain(u32 id, ControlReason &reason) override { return act("destroy", id, reason); }

    int memory_report(ReportLines &lines, ControlReason &reason) override
    {
        calls.push_back("mem");
        if (int error = take_failure(reason))
            return error;
        lines.line("mem: total %s", "512 MiB");
        lines.line("mem: free %s", "400 MiB");
        return 0;
    }

    // Reports the old image's phases as a real one would: verification first, so a
    // failure after it still leaves that line in front of the error.
    int live_update(const char *module, ReportLines &lines, ControlReason &reason) override
    {
        live_update_module = module != nullptr ? module : "(staged)";
        calls.push_back("live_update " + live_update_module);
        lines.line("phase check us=120");
        if (int error = take_failure(reason))
            return error;
        lines.line("phase pause us=340");
        lines.line("phase serialize us=910");
        return 0;
    }
    int last_update(ReportLines &lines, ControlReason &reason) override
    {
        calls.push_back("last_update");
        if (int error = take_failure(reason))
            return error;
        if (update_report.empty())
            return -BATON_ENOENT;
        for (const std::string &line : update_report)
            lines.line("%s", line.c_str());
        return 0;
    }
    int inject_update_fault(const char *fault, ControlReason &reason) override
    {
        calls.push_back(std::string("update_fault ") + fault);
        if (int error = take_failure(reason))
            return error;
        if (std::string(fault) != "bootmem-violation") {
            reason.set("unknown fault '%s'", fault);
            return -BATON_EINVAL;
        }
        return 0;
    }

    int upload_begin(TransferKind kind, u64 size, ControlReason &reason) override
    {
        calls.push_back(std::string("upload_begin ") + transfer_kind_name(kind) + " " + std::to_string(size));
        if (int error = take_failure(reason))
            return error;
        staging.assign(size, 0xee);
        return 0;
    }
    int upload_write(TransferKind, u64 offset, const u8 *bytes, usize length, ControlReason &reason) override
    {
        calls.push_back("upload_write " + std::to_string(offset) + " " + std::to_string(length));
        if (int error = take_failure(reason))
            return error;
        std::copy(bytes, bytes + length, staging.begin() + static_cast<long>(offset));
        return 0;
    }
    int upload_finish(TransferKind kind, u64 size, u32, ControlReason &reason) override
    {
        calls.push_back("upload_finish " + std::to_string(size));
        if (int error = take_failure(reason))
            return error;
        stored[kind] = staging;
        return 0;
    }
    void upload_abort(TransferKind) override { calls.push_back("upload_abort"); }

    int download_begin(TransferKind kind, u64 &size, ControlReason &reason) override
    {
        calls.push_back(std::string("download_begin ") + transfer_kind_name(kind));
        if (int error = take_failure(reason))
            return error;
        auto found = stored.find(kind);
        if (found == stored.end()) {
            reason.set("no %s stored", transfer_kind_name(kind));
            return -BATON_ENOENT;
        }
        size = found->second.size() + extra_download_size;
        return 0;
    }
    int download_read(TransferKind kind, u64 offset, u8 *bytes, usize length, ControlReason &reason) override
    {
        calls.push_back("download_read " + std::to_string(offset) + " " + std::to_string(length));
        if (int error = take_failure(reason))
            return error;
        const std::vector<u8> &data = stored[kind];
        for (usize i = 0; i < length; i++)
            bytes[i] = offset + i < data.size() ? data[offset + i] : 0;
        return 0;
    }
    void download_end(TransferKind) override { calls.push_back("download_end"); }

    std::vector<FakeDomain> domains;
    std::vector<std::string> calls;
    u32 next_id = 1;
    int fail_next = 0;
    std::string fail_reason;
    CreateRequest last_create;
    std::string last_create_module, last_create_name;
    std::vector<u8> staging;
    std::map<TransferKind, std::vector<u8>> stored;
    u64 extra_download_size = 0; // makes download_begin report a size past the data
    std::string live_update_module; // "(staged)" when live-update named no module
    std::vector<std::string> update_report; // last-update's lines; empty: ENOENT (cold boot)

private:
    int take_failure(ControlReason &reason)
    {
        int error = fail_next;
        fail_next = 0;
        if (error != 0 && !fail_reason.empty())
            reason.set("%s", fail_reason.c_str());
        return error;
    }

    int act(const char *verb, u32 id, ControlReason &reason)
    {
        calls.push_back(std::string(verb) + " " + std::to_string(id));
        if (int error = take_failure(reason))
            return error;
        for (FakeDomain &domain : domains) {
            if (domain.id == id) {
                domain.state = std::string(verb) == "pause" ? "paused" : "running";
                return 0;
            }
        }
        return -BATON_ENOENT;
    }
};

// A channel with its backend (the scriptable fake unless given); send() feeds one line
// and returns the response lines.
template <typename Backend>
struct BasicControlHarness {
    Backend backend;
    CapturedOutput output;
    ControlChannel channel{backend, output};

    std::vector<std::string> send(const std::string &line)
    {
        channel.feed(line.data(), line.size());
        channel.feed('\n');
        return output.take_lines();
    }
    // The status line of a one-line request; fails the test unless the response is
    // data lines followed by exactly one status line, each written whole.
    std::string status(const std::string &line)
    {
        std::vector<std::string> lines = send(line);
        return status_of(lines, line);
    }

    static bool is_status(const std::string &line)
    {
        return line == "ok" || line.rfind("ok ", 0) == 0 || line.rfind("error ", 0) == 0;
    }

    std::string status_of(const std::vector<std::string> &lines, const std::string &request)
    {
        EXPECT_EQ(output.broken_writes, 0) << request;
        if (lines.empty()) {
            ADD_FAILURE() << "no response to '" << request << "'";
            return "";
        }
        for (size_t i = 0; i + 1 < lines.size(); i++)
            EXPECT_EQ(lines[i].rfind(". ", 0), 0u)
                << "line " << i << " of the response to '" << request << "' is not a data line: " << lines[i];
        EXPECT_TRUE(is_status(lines.back())) << "last line for '" << request << "': " << lines.back();
        return lines.back();
    }
};
using ControlHarness = BasicControlHarness<FakeBackend>;
