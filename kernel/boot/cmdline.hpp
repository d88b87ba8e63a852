// SPDX-License-Identifier: MIT
// Kernel command-line options: defaults, checked parsing with diagnostics, formatting.
#pragma once
#include "lib/log.hpp"
#include "lib/types.hpp"

// The live-update bootmem region (DESIGN.md section 3): `lu_bootmem=SIZE[@ADDR]`.
inline constexpr u64 LU_BOOTMEM_DEFAULT_SIZE = 64 * MiB;
inline constexpr u64 LU_BOOTMEM_MIN_SIZE = 16 * MiB;
inline constexpr u64 LU_BOOTMEM_ALIGN = 2 * MiB; // sizes round up to this, addresses must be aligned
inline constexpr u64 PHYS_ADDRESS_LIMIT = u64{1} << 52; // x86-64 architectural maximum

// What the hypervisor does once booted: keep running, or end the machine with a success
// status (tests and `make demo`).
enum class AfterBoot : u8 { run, exit };

// Deliberate faults at the end of boot that prove failures are reported (QEMU tests).
enum class Selftest : u8 { none, page_fault, invalid_opcode, stack_overflow, panic, count };
const char *selftest_name(Selftest test);

// A failure the next image injects into its own boot, before it commits the update
// (`batonctl update-fault`): each must send the machine back to the old image.
enum class InjectedFault : u8 {
    none,
    panic_early, // a panic right after the command line is read
    exception_restore, // a CPU exception while the domains are rebuilt
    refuse_record, // the record is refused as if it failed a check
    fail_domain, // one domain cannot be rebuilt
    hang_cli, // a hang with interrupts off, once the record is checked
    hang_sti, // a hang with interrupts on
    count
};
const char *injected_fault_name(InjectedFault fault);
// Accepts the names with '-' or '_' between words ("panic-early" as batonctl writes it).
[[nodiscard]] bool injected_fault_from_name(const char *name, usize length, InjectedFault &fault);

inline constexpr u32 MEM_DEFER_PACE_DEFAULT = 16;
inline constexpr u32 MEM_DEFER_PACE_MAX = 65536;

struct KernelOptions {
    // lu_bootmem_given stays false unless a valid lu_bootmem= appeared, so the memory
    // manager may apply its own default (BootmemRequest size 0) instead of the fixed one.
    bool lu_bootmem_given = false;
    u64 lu_bootmem_size = LU_BOOTMEM_DEFAULT_SIZE;
    bool lu_bootmem_fixed = false; // true: the region must start at lu_bootmem_address
    u64 lu_bootmem_address = 0;
    LogLevel loglevel = LogLevel::info;
    AfterBoot after_boot = AfterBoot::run;
    Selftest selftest = Selftest::none;
    // Live update: `lu_record=ADDR,SIZE,CRC32` says where the old image left the handover
    // record (bytes at ADDR, its CRC-32). Only the old image writes it.
    bool lu_record_given = false;
    u64 lu_record_address = 0;
    u64 lu_record_size = 0;
    u32 lu_record_crc = 0;
    // Rollback (docs/live-update.md): `lu_rollback=ADDR` gives the next image the way back,
    // the rollback kit the old image left in preserved memory; `lu_rolled_back=ADDR` tells
    // the old image, entered again through that kit, that the update failed and why.
    // The old image writes both, for one jump; 0 when absent.
    u64 lu_rollback_kit = 0;
    u64 lu_rolled_back_kit = 0;
    InjectedFault lu_fault = InjectedFault::none; // `lu_fault=NAME`, for the rollback tests
    // `lu_require_signature=yes|no`: whether a next image must carry a valid signature by
    // a trusted key (docs/image-signing.md). `no` is for development only; it is passed on
    // to the next image so an update does not change the machine's policy.
    bool lu_require_signature = true;
    // `smp=N`: run on at most N processors, the bootstrap one included (1: no application
    // processor is started); 0, the default: every processor the firmware lists. Passed on.
    u32 smp_cpus = 0;
    // `mem_defer_pace=N`: after a live update, how many 2 MiB sections of free memory the
    // scheduling loop gives to the heap per pass (docs/memory.md, deferred start-up); 0
    // gives memory only when an allocation needs it. Passed on to the next image.
    u32 mem_defer_pace = MEM_DEFER_PACE_DEFAULT;

    bool operator==(const KernelOptions &) const = default;
};

enum class CmdlineSeverity : u8 {
    warning, // reported; the option keeps its previous value (the default unless set earlier)
    fatal, // boot cannot sensibly continue; no current option produces this
};

inline constexpr usize CMDLINE_DIAGNOSTIC_SIZE = 192;
inline constexpr usize MAX_CMDLINE_DIAGNOSTICS = 12;
inline constexpr usize MAX_CMDLINE_WORD_LENGTH = 255; // one key=value word, after unquoting

struct CmdlineDiagnostic {
    CmdlineSeverity severity = CmdlineSeverity::warning;
    char text[CMDLINE_DIAGNOSTIC_SIZE] = {}; // one line starting "cmdline: ", no newline
};

// The parser collects diagnostics instead of printing them, so it can run before the
// console is up and tests can check what it says.
struct CmdlineResult {
    KernelOptions options;
    CmdlineDiagnostic diagnostics[MAX_CMDLINE_DIAGNOSTICS];
    usize diagnostic_count = 0;
    usize dropped_diagnostics = 0; // problems beyond MAX_CMDLINE_DIAGNOSTICS
    bool has_fatal = false; // counts dropped diagnostics too
};

// Parses `text` (NUL-terminated; nullptr means empty) into result.options, starting
// from the defaults. Syntax: words separated by blanks (space, tab, CR, LF), each
// `key=value` or a bare `key`; double quotes group blanks into a word and are removed
// (`key="a b"`, as GRUB writes arguments that contain blanks); there are no escapes.
// Keys are case-sensitive. Unknown keys are reported and ignored; a repeated option is
// reported and the last valid value wins; a bad value is reported and ignored.
void parse_kernel_command_line(const char *text, CmdlineResult &result);

// Prints the diagnostics: warnings with log_warn, fatal ones with log_error. The
// caller panics afterwards if result.has_fatal.
void log_cmdline_diagnostics(const CmdlineResult &result);

// Writes the options as `key=value` words separated by spaces: loglevel always,
// lu_bootmem when given (live update sets it, with the address, to pass its region on),
// lu_require_signature when it is `no`.
// parse_kernel_command_line() of the output gives back `options`. Returns the full length like format(): the output is
// complete only if that is below capacity.
usize format_kernel_options(const KernelOptions &options, char *buffer, usize capacity);

// A number as options write it: decimal (leading zeros allowed, never octal) or 0x hex,
// optionally followed by K, M or G (either case, binary units) or KiB, MiB, GiB.
// Returns false for anything else, including overflow past 2^64 - 1.
[[nodiscard]] bool parse_cmdline_number(const char *text, usize length, u64 &value);
