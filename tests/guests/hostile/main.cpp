// SPDX-License-Identifier: MIT
// hostile: bad hypercall arguments, hypercalls from CPL 3, host I/O ports, and finally
// a write to unbacked guest-physical memory. Each check prints its expected result;
// docs/guests.md has the same table.
#include "lib/interrupts.hpp"
#include "lib/runtime.hpp"
#include "lib/smp.hpp"

const char guest_name[] = "hostile";

extern "C" uint64_t vmmcall_changed_registers(uint64_t number);

namespace {

using guest::Line_writer;

constexpr uint64_t UNBACKED_GPA = 3ull << 30; // inside the identity map, never guest RAM
constexpr uint64_t NO_SUCH_DOMAIN = 0x7fffffff;
constexpr uint64_t NEVER_BOUND_PORT = 200;
constexpr uint8_t GUARD = 0xa5;
constexpr uint16_t QEMU_DEBUG_EXIT_PORT = 0xf4; // ends QEMU with status 2 * value + 1
constexpr uint8_t ESCAPED_EXIT_VALUE = 0x7e; // status 253: "the hostile guest reached the host"

alignas(64) char message[2 * BATON_CONSOLE_MAX];
alignas(64) unsigned char buffer[4096];

const char *errno_name(long value)
{
    switch (-value) {
    case BATON_EPERM: return "EPERM";
    case BATON_ENOENT: return "ENOENT";
    case BATON_EIO: return "EIO";
    case BATON_E2BIG: return "E2BIG";
    case BATON_ENOMEM: return "ENOMEM";
    case BATON_EFAULT: return "EFAULT";
    case BATON_EBUSY: return "EBUSY";
    case BATON_EEXIST: return "EEXIST";
    case BATON_EINVAL: return "EINVAL";
    case BATON_ENOSPC: return "ENOSPC";
    case BATON_ERANGE: return "ERANGE";
    case BATON_ENOSYS: return "ENOSYS";
    case BATON_EOVERFLOW: return "EOVERFLOW";
    default: return nullptr;
    }
}

void put_value(Line_writer &line, long value)
{
    if (const char *name = value < 0 ? errno_name(value) : nullptr)
        line.format("-%s", name);
    else if (value >= 4096 || value < -4096)
        line.format("0x%lx", static_cast<uint64_t>(value));
    else
        line.format("%ld", value);
}

// Numbers the checks, prints one line each and remembers which failed.
class Checks final {
public:
    // An exact expected result.
    void expect(long got, long want, const char *what, ...) __attribute__((format(printf, 4, 5)))
    {
        Line_writer line;
        va_list arguments;
        va_start(arguments, what);
        begin(line, what, arguments);
        va_end(arguments);
        put_value(line, got);
        if (got == want) {
            line.put_string(" ok");
        } else {
            line.put_string(" FAIL expected ");
            put_value(line, want);
            record_failure();
        }
        line.send();
    }

    // A result judged by the caller: problem is nullptr when all is well.
    void judge(long got, const char *problem, const char *what, ...) __attribute__((format(printf, 4, 5)))
    {
        Line_writer line;
        va_list arguments;
        va_start(arguments, what);
        begin(line, what, arguments);
        va_end(arguments);
        put_value(line, got);
        if (problem == nullptr) {
            line.put_string(" ok");
        } else {
            line.format(" FAIL %s", problem);
            record_failure();
        }
        line.send();
    }

    void result() const
    {
        if (failure_count_ == 0) {
            guest::result_pass();
            return;
        }
        Line_writer line;
        line.format("%s: RESULT FAIL %u of %u checks:", guest_name, failure_count_, count_);
        for (unsigned i = 0; i < failure_count_ && i < MAX_LISTED; ++i)
            line.format(" #%u", failed_[i]);
        line.send();
    }

private:
    static constexpr unsigned MAX_LISTED = 40;

    void begin(Line_writer &line, const char *what, va_list arguments)
    {
        line.format("%s: #%u ", guest_name, ++count_);
        line.vformat(what, arguments);
        line.put_string(" -> ");
    }

    void record_failure()
    {
        if (failure_count_ < MAX_LISTED)
            failed_[failure_count_] = count_;
        ++failure_count_;
    }

    unsigned count_ = 0;
    unsigned failure_count_ = 0;
    unsigned failed_[MAX_LISTED] = {};
};

Checks checks;

// BATON_HC_VCPU_UP with what cannot be started: each refused with its code, the vCPU
// left down (a later attempt is refused for its own reason, not as "already up").
void vcpu_ups(uint64_t ram)
{
    const unsigned vcpus = guest::vcpu_count();
    const uint64_t entry = 0x100000, stack = 0x200000;
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, 0, entry, stack), -BATON_EBUSY, "vcpu_up 0 (this one, running)");
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, vcpus, entry, stack), -BATON_ENOENT, "vcpu_up %u (of %u)", vcpus,
                  vcpus);
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, ~0ull, entry, stack), -BATON_ENOENT, "vcpu_up 0xffffffffffffffff");
    if (vcpus < 2)
        return;
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, 1, ram, stack), -BATON_EFAULT, "vcpu_up 1 entry=0x%lx (past RAM)",
                  ram);
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, 1, ~0ull, stack), -BATON_EFAULT, "vcpu_up 1 entry=~0");
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, 1, entry, 0), -BATON_EFAULT, "vcpu_up 1 stack=0");
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, 1, entry, ram + guest::PAGE_SIZE), -BATON_EFAULT,
                  "vcpu_up 1 stack=0x%lx (past RAM)", ram + guest::PAGE_SIZE);
    checks.expect(guest::hypercall(BATON_HC_VCPU_UP, 1, entry, UNBACKED_GPA), -BATON_EFAULT,
                  "vcpu_up 1 stack=0x%lx (unbacked)", UNBACKED_GPA);
}

void hypercall_numbers()
{
    checks.expect(guest::hypercall(BATON_HC_COUNT), -BATON_ENOSYS, "unknown hypercall %u", BATON_HC_COUNT);
    checks.expect(guest::hypercall(~0ull), -BATON_ENOSYS, "unknown hypercall 0xffffffffffffffff");
    checks.expect(guest::hypercall(1ull << 32 | BATON_HC_TIME), -BATON_ENOSYS,
                  "hypercall 0x%llx (TIME with high bits set)", 1ull << 32 | BATON_HC_TIME);
}

void console_writes(uint64_t ram)
{
    uint64_t text = guest::gpa_of(message);
    checks.expect(guest::hypercall(BATON_HC_CONSOLE_WRITE, ram, 16), -BATON_EFAULT,
                  "console_write gpa=0x%lx len=16 (first byte beyond RAM)", ram);
    checks.expect(guest::hypercall(BATON_HC_CONSOLE_WRITE, UNBACKED_GPA, 16), -BATON_EFAULT,
                  "console_write gpa=0x%lx len=16 (unbacked)", UNBACKED_GPA);
    checks.expect(guest::hypercall(BATON_HC_CONSOLE_WRITE, text, BATON_CONSOLE_MAX + 1), -BATON_E2BIG,
                  "console_write len=%u (over BATON_CONSOLE_MAX)", BATON_CONSOLE_MAX + 1);
    checks.expect(guest::hypercall(BATON_HC_CONSOLE_WRITE, text, 1ull << 63), -BATON_E2BIG, "console_write len=0x%llx",
                  1ull << 63);
    checks.expect(guest::hypercall(BATON_HC_CONSOLE_WRITE, ~0ull - 15, 32), -BATON_EFAULT,
                  "console_write gpa=0x%llx len=32 (wraps around 2^64)", ~0ull - 15);
    checks.expect(guest::hypercall(BATON_HC_CONSOLE_WRITE, ram - 8, 16), -BATON_EFAULT,
                  "console_write gpa=0x%lx len=16 (straddles the end of RAM)", ram - 8);
    checks.expect(guest::hypercall(BATON_HC_CONSOLE_WRITE, text, 0), 0, "console_write len=0");
}

void shared_info_maps(uint64_t ram)
{
    uint64_t beyond = ram >> guest::PAGE_SHIFT;
    checks.expect(guest::shared_info_map(beyond), -BATON_EINVAL, "shared_info_map gfn=0x%lx (first gfn beyond RAM)",
                  beyond);
    checks.expect(guest::shared_info_map(1ull << 52), -BATON_EINVAL, "shared_info_map gfn=0x%llx", 1ull << 52);
    checks.expect(guest::shared_info_map(~0ull), -BATON_EINVAL, "shared_info_map gfn=0xffffffffffffffff");
}

void blocking()
{
    uint64_t before = guest::time_ns();
    long result = guest::block(1);
    uint64_t elapsed = guest::time_ns() - before;
    checks.judge(result,
                 result != 0                       ? "expected 0"
                 : elapsed >= guest::NS_PER_SECOND ? "took a second or more"
                                                   : nullptr,
                 "block deadline=1 (in the past)");
    uint64_t deadline = guest::time_ns() + 20 * guest::NS_PER_MS;
    result = guest::block(deadline);
    uint64_t woke = guest::time_ns();
    checks.judge(result,
                 result != 0       ? "expected 0"
                 : woke < deadline ? "returned before the deadline"
                                   : nullptr,
                 "block deadline=now+20ms (no events bound)");
}

void event_channels()
{
    using guest::evtchn_op;
    checks.expect(evtchn_op(99), -BATON_ENOSYS, "evtchn op 99 (unknown)");
    checks.expect(evtchn_op(1ull << 32 | BATON_EVTCHN_SEND), -BATON_ENOSYS,
                  "evtchn op 0x%llx (SEND with high bits set)", 1ull << 32 | BATON_EVTCHN_SEND);
    constexpr uint64_t bad_vectors[] = {31, 256, 1ull << 32 | 32};
    for (uint64_t vector : bad_vectors)
        checks.expect(evtchn_op(BATON_EVTCHN_SET_UPCALL_VECTOR, vector), -BATON_EINVAL,
                      "evtchn set_upcall_vector 0x%lx", vector);
    checks.expect(evtchn_op(BATON_EVTCHN_BIND_TIMER, 0), -BATON_EINVAL, "evtchn bind_timer period=0");
    checks.expect(evtchn_op(BATON_EVTCHN_BIND_TIMER, BATON_TIMER_MIN_PERIOD_NS - 1), -BATON_EINVAL,
                  "evtchn bind_timer period=%u ns (below the minimum)", BATON_TIMER_MIN_PERIOD_NS - 1);
    checks.expect(evtchn_op(BATON_EVTCHN_SEND, BATON_EVTCHN_PORTS), -BATON_EINVAL, "evtchn send port=%u",
                  BATON_EVTCHN_PORTS);
    checks.expect(evtchn_op(BATON_EVTCHN_SEND, ~0ull), -BATON_EINVAL, "evtchn send port=0xffffffffffffffff");
    checks.expect(evtchn_op(BATON_EVTCHN_SEND, NEVER_BOUND_PORT), -BATON_ENOENT, "evtchn send port=%lu (never bound)",
                  NEVER_BOUND_PORT);
    checks.expect(evtchn_op(BATON_EVTCHN_UNMASK, BATON_EVTCHN_PORTS), -BATON_EINVAL, "evtchn unmask port=%u",
                  BATON_EVTCHN_PORTS);
    checks.expect(evtchn_op(BATON_EVTCHN_CLOSE, BATON_EVTCHN_PORTS), -BATON_EINVAL, "evtchn close port=%u",
                  BATON_EVTCHN_PORTS);
    checks.expect(evtchn_op(BATON_EVTCHN_CLOSE, NEVER_BOUND_PORT), -BATON_ENOENT, "evtchn close port=%lu (never bound)",
                  NEVER_BOUND_PORT);
    checks.expect(evtchn_op(BATON_EVTCHN_ALLOC_UNBOUND, NO_SUCH_DOMAIN), -BATON_ENOENT,
                  "evtchn alloc_unbound remote_domid=0x%lx (no such domain)", NO_SUCH_DOMAIN);
    checks.expect(evtchn_op(BATON_EVTCHN_BIND_INTERDOMAIN, NO_SUCH_DOMAIN, 0), -BATON_ENOENT,
                  "evtchn bind_interdomain remote_domid=0x%lx port=0 (no such domain)", NO_SUCH_DOMAIN);

    long port = evtchn_op(BATON_EVTCHN_BIND_TIMER, guest::NS_PER_SECOND);
    bool bound = port >= 0 && port < static_cast<long>(BATON_EVTCHN_PORTS);
    checks.judge(port, bound ? nullptr : "expected a port in 0..255", "evtchn bind_timer period=1 s");
    if (bound) {
        checks.expect(evtchn_op(BATON_EVTCHN_CLOSE, port), 0, "evtchn close port=%ld (the timer)", port);
        checks.expect(evtchn_op(BATON_EVTCHN_CLOSE, port), -BATON_ENOENT, "evtchn close port=%ld again", port);
    }
}

// Fills the buffer with GUARD, returns whether bytes [from, to) still hold it.
void guard_buffer()
{
    for (unsigned char &byte : buffer)
        byte = GUARD;
}

bool guarded(size_t from, size_t to)
{
    for (size_t i = from; i < to; ++i)
        if (buffer[i] != GUARD)
            return false;
    return true;
}

bool terminated(const char *text, size_t size)
{
    for (size_t i = 0; i < size; ++i)
        if (text[i] == '\0')
            return true;
    return false;
}

void domain_infos(const baton_start_info &start, uint64_t ram)
{
    auto *info = reinterpret_cast<baton_domain_info *>(buffer);
    guard_buffer();
    long result = guest::domain_info(info, 0);
    checks.judge(result,
                 result != 0                   ? "expected 0"
                 : !guarded(0, sizeof(buffer)) ? "wrote into the buffer"
                                               : nullptr,
                 "domain_info size=0");

    guard_buffer();
    result = guest::domain_info(info, 4);
    const char *problem = result != 4                   ? "expected 4"
                          : info->domid != start.domid  ? "domid wrong"
                          : !guarded(4, sizeof(buffer)) ? "wrote beyond 4 bytes"
                                                        : nullptr;
    checks.judge(result, problem, "domain_info size=4 (older, smaller struct)");

    guard_buffer();
    result = guest::domain_info(info, sizeof(buffer));
    bool sized = result >= static_cast<long>(sizeof(baton_domain_info)) && result <= static_cast<long>(sizeof(buffer));
    problem = !sized                                                  ? "expected sizeof(baton_domain_info)"
              : !guarded(static_cast<size_t>(result), sizeof(buffer)) ? "wrote beyond the returned size"
              : info->domid != start.domid                            ? "domid wrong"
              : info->ram_bytes != start.ram_bytes                    ? "ram_bytes wrong"
              : info->vcpus == 0                                      ? "vcpus is 0"
              : !terminated(info->name, sizeof(info->name))           ? "name not NUL-terminated"
              : !terminated(info->hypervisor_build_id, sizeof(info->hypervisor_build_id))
                  ? "build id not NUL-terminated"
                  : nullptr;
    checks.judge(result, problem, "domain_info size=%zu", sizeof(buffer));
    if (problem == nullptr)
        guest::report("domain info: domid=%u vcpus=%u ram=%lu name=\"%s\" generation=%lu build=\"%s\"", info->domid,
                      info->vcpus, info->ram_bytes, info->name, info->hypervisor_generation, info->hypervisor_build_id);

    checks.expect(guest::hypercall(BATON_HC_DOMAIN_INFO, ram, sizeof(baton_domain_info)), -BATON_EFAULT,
                  "domain_info gpa=0x%lx (first byte beyond RAM)", ram);
    // The last 8 bytes of RAM are free memory: they must not be half-written.
    volatile uint64_t *last_word = guest::at_gpa<volatile uint64_t>(ram - 8);
    *last_word = 0x6775617264656421;
    result = guest::hypercall(BATON_HC_DOMAIN_INFO, ram - 8, sizeof(baton_domain_info));
    checks.judge(result,
                 result != -BATON_EFAULT            ? "expected -EFAULT"
                 : *last_word != 0x6775617264656421 ? "partly written"
                                                    : nullptr,
                 "domain_info gpa=0x%lx size=%zu (straddles the end of RAM)", ram - 8, sizeof(baton_domain_info));
    checks.expect(guest::hypercall(BATON_HC_DOMAIN_INFO, ~0ull - 3, sizeof(baton_domain_info)), -BATON_EFAULT,
                  "domain_info gpa=0x%llx (wraps around 2^64)", ~0ull - 3);
}

const char *changed_registers(uint64_t mask)
{
    static const char *const names[] = {"rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9",
                                        "r10", "r11", "r12", "r13", "r14", "r15", "rsp"};
    static char text[80];
    size_t length = 0;
    for (unsigned i = 0; i < 15; ++i) {
        if ((mask >> i & 1) == 0)
            continue;
        for (const char *c = length == 0 ? "changed " : " "; *c != '\0'; ++c)
            text[length++] = *c;
        for (const char *c = names[i]; *c != '\0'; ++c)
            text[length++] = *c;
    }
    text[length] = '\0';
    return mask == 0 ? nullptr : text;
}

// First of all: every other check (and the compiled code around it) relies on this.
void registers_preserved()
{
    constexpr uint64_t numbers[] = {BATON_HC_TIME, 0x1234, BATON_HC_CONSOLE_WRITE};
    for (uint64_t number : numbers) {
        uint64_t mask = vmmcall_changed_registers(number);
        checks.judge(static_cast<long>(mask), changed_registers(mask), "registers preserved across hypercall 0x%lx",
                     number);
    }
}

void cpu_containment()
{
    checks.expect(hypercall_at_cpl3(BATON_HC_TIME, 0), -BATON_EPERM, "hypercall TIME from CPL 3");
    checks.expect(guest::inb(0x3fd), 0xff, "inb port 0x3fd (host COM1 line status)");
    checks.expect(guest::inl(0x1234), 0xffffffff, "inl port 0x1234 (nothing there)");
    guest::outb(QEMU_DEBUG_EXIT_PORT, ESCAPED_EXIT_VALUE);
    checks.judge(0, nullptr, "outb 0x%x to port 0x%x (QEMU isa-debug-exit): still running", ESCAPED_EXIT_VALUE,
                 QEMU_DEBUG_EXIT_PORT);
}

// True if `word` appears in `text` as a whole blank-separated word.
bool has_word(const char *text, const char *word)
{
    for (const char *p = text; p != nullptr && *p != '\0';) {
        while (*p == ' ')
            p++;
        const char *w = word;
        const char *q = p;
        while (*w != '\0' && *q == *w)
            q++, w++;
        if (*w == '\0' && (*q == ' ' || *q == '\0'))
            return true;
        while (*p != '\0' && *p != ' ')
            p++;
    }
    return false;
}

} // namespace

void guest_main(const baton_start_info *start)
{
    uint64_t ram = start->ram_bytes;
    if (ram >= UNBACKED_GPA) {
        guest::result_fail("needs less than 0x%lx bytes of RAM (has 0x%lx)", UNBACKED_GPA, ram);
        return;
    }
    registers_preserved();
    hypercall_numbers();
    console_writes(ram);
    shared_info_maps(ram);
    blocking();
    event_channels();
    domain_infos(*start, ram);
    checks.expect(guest::hypercall(BATON_HC_SHUTDOWN, 99), -BATON_EINVAL, "shutdown reason=99 (unknown)");
    cpu_containment();
    vcpu_ups(ram);
    checks.result();

    // Last act: the hypervisor must stop this domain and nothing else. The module string
    // picks how: a nested page fault (default) or, with `last=triple_fault`, a triple fault.
    if (has_word(guest::command_line(*start), "last=triple_fault")) {
        guest::report("triple faulting: empty IDT, then int3");
        const struct __attribute__((packed)) {
            uint16_t limit;
            uint64_t base;
        } empty_idt = {0, 0};
        asm volatile("lidt %0; int3" ::"m"(empty_idt));
        guest::report("ERROR the triple fault did not stop the domain");
        guest::shutdown(BATON_SHUTDOWN_CRASH);
    }
    guest::report("touching unmapped memory at 0x%lx", UNBACKED_GPA);
    *guest::at_gpa<volatile uint64_t>(UNBACKED_GPA) = 0x686f7374696c6521;
    guest::report("ERROR write to unmapped 0x%lx did not stop the domain", UNBACKED_GPA);
    guest::shutdown(BATON_SHUTDOWN_CRASH);
}
