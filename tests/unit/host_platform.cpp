// Host stand-ins for the platform hooks the portable kernel code calls.
#include <cstdio>
#include <cstdlib>
#include <string>
#include "host_platform.hpp"
#include "lib/log.hpp"
#include "lib/time.hpp"
#include "dom/vcpu.hpp"
#include "version.hpp"

namespace {
std::string captured;
bool capturing = false;
} // namespace

void console_write(const char *text, usize length)
{
    if (capturing)
        captured.append(text, length);
    else
        fwrite(text, 1, length, stderr);
}

[[noreturn]] void platform_fail_stop()
{
    // A panic in host tests is a test failure; death tests match on the message.
    fflush(stderr);
    abort();
}

void console_capture_begin()
{
    captured.clear();
    capturing = true;
}

std::string console_capture_end()
{
    capturing = false;
    return captured;
}

// Host tests control time explicitly.
u64 host_time_ns = 0;
u64 time_now_ns() { return host_time_ns; }

// The image identity that version.cpp provides in the kernel.
const char *const baton_version = "0.0.0-host";
const char *const baton_build_id = "host-test";

// The architecture's vCPU hooks: host tests have no SVM, so a vCPU is bookkeeping only.
struct ArchVcpu {
    u64 nested_root;
    u8 upcall_vector;
};
int arch_vcpu_create(Vcpu &vcpu, u64 nested_root, u32, u32)
{
    vcpu.arch = new ArchVcpu{nested_root, 0};
    return 0;
}
void arch_vcpu_destroy(Vcpu &vcpu)
{
    delete vcpu.arch;
    vcpu.arch = nullptr;
}
void arch_vcpu_flush_guest_tlb(Vcpu &vcpu, u64 nested_root) { vcpu.arch->nested_root = nested_root; }
void arch_vcpu_request_upcall(Vcpu &vcpu, u8 vector) { vcpu.arch->upcall_vector = vector; }
