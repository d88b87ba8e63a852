// SPDX-License-Identifier: MIT
// Table-driven kernel command-line parser: every problem becomes a diagnostic line.
#include "boot/cmdline.hpp"
#include "lib/format.hpp"
#include <stdarg.h>

namespace {

constexpr usize SHOWN_TEXT_LENGTH = 48; // how much of a bad word a diagnostic quotes
using ShownText = char[SHOWN_TEXT_LENGTH + 4]; // room for "..." and the NUL

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool equals(const char *text, usize length, const char *word)
{
    for (usize i = 0; i < length; i++)
        if (word[i] == '\0' || word[i] != text[i])
            return false;
    return word[length] == '\0';
}

// Copies text for quoting in a diagnostic: non-printable bytes become '?', and long
// text is cut with "..." so one hostile word cannot fill the console line.
void show(const char *text, usize length, ShownText &shown)
{
    usize kept = length > SHOWN_TEXT_LENGTH ? SHOWN_TEXT_LENGTH : length;
    usize out = 0;
    for (usize i = 0; i < kept; i++) {
        char c = text[i];
        shown[out++] = (c >= 0x20 && c <= 0x7e) ? c : '?';
    }
    if (kept < length)
        for (int i = 0; i < 3; i++)
            shown[out++] = '.';
    shown[out] = '\0';
}

void add_diagnostic(CmdlineResult &result, CmdlineSeverity severity, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void add_diagnostic(CmdlineResult &result, CmdlineSeverity severity, const char *fmt, ...)
{
    if (severity == CmdlineSeverity::fatal)
        result.has_fatal = true;
    if (result.diagnostic_count == MAX_CMDLINE_DIAGNOSTICS) {
        result.dropped_diagnostics++;
        return;
    }
    CmdlineDiagnostic &diagnostic = result.diagnostics[result.diagnostic_count++];
    diagnostic.severity = severity;
    usize length = format(diagnostic.text, sizeof(diagnostic.text), "cmdline: ");
    va_list args;
    va_start(args, fmt);
    format_v(diagnostic.text + length, sizeof(diagnostic.text) - length, fmt, args);
    va_end(args);
}

// Appends to format()-style output whose full length so far is `length`; returns the
// new full length. Never writes past capacity, even once the output is truncated.
usize append(char *buffer, usize capacity, usize length, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

usize append(char *buffer, usize capacity, usize length, const char *fmt, ...)
{
    usize used = length < capacity ? length : capacity;
    va_list args;
    va_start(args, fmt);
    length += format_v(buffer + used, capacity - used, fmt, args);
    va_end(args);
    return length;
}

// One occurrence of an option, handed to its parser. Every option takes a value today
// (apply_word reports a missing one); a flag option would need a field in OptionSpec.
struct OptionUse {
    const char *value; // after '=', non-empty, NUL-terminated
    usize value_length;
    ShownText shown; // the word as written, printable, for messages
    CmdlineResult &result;
};

using OptionParser = void (*)(OptionUse &use);
// Writes `key=value`, or nothing when the option should not be passed on.
using OptionFormatter = usize (*)(const KernelOptions &options, char *buffer, usize capacity);

struct OptionSpec {
    const char *key;
    OptionParser parse;
    OptionFormatter format;
};

// ---- lu_bootmem=SIZE[@ADDR] ----------------------------------------------------------

usize format_lu_bootmem_value(const KernelOptions &options, char *buffer, usize capacity)
{
    u64 size = options.lu_bootmem_size;
    usize length;
    if (size != 0 && size % GiB == 0)
        length = format(buffer, capacity, "%luG", size / GiB);
    else if (size != 0 && size % MiB == 0)
        length = format(buffer, capacity, "%luM", size / MiB);
    else if (size != 0 && size % KiB == 0)
        length = format(buffer, capacity, "%luK", size / KiB);
    else
        length = format(buffer, capacity, "%lu", size);
    if (options.lu_bootmem_fixed)
        length = append(buffer, capacity, length, "@0x%lx", options.lu_bootmem_address);
    return length;
}

// "the default 64 MiB", "128 MiB" or "64 MiB at 0x10000000": what stays in force.
void describe_lu_bootmem(const KernelOptions &options, char *buffer, usize capacity)
{
    char size[32];
    format_size(size, sizeof(size), options.lu_bootmem_size);
    if (!options.lu_bootmem_given)
        format(buffer, capacity, "the default %s", size);
    else if (options.lu_bootmem_fixed)
        format(buffer, capacity, "%s at 0x%lx", size, options.lu_bootmem_address);
    else
        format(buffer, capacity, "%s", size);
}

void reject_lu_bootmem(OptionUse &use, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void reject_lu_bootmem(OptionUse &use, const char *fmt, ...)
{
    char reason[112];
    va_list args;
    va_start(args, fmt);
    format_v(reason, sizeof(reason), fmt, args);
    va_end(args);
    char current[64];
    describe_lu_bootmem(use.result.options, current, sizeof(current));
    add_diagnostic(use.result, CmdlineSeverity::warning, "%s: %s; using %s", use.shown, reason, current);
}

void parse_lu_bootmem(OptionUse &use)
{
    constexpr const char *example = "(expected e.g. 64M or 64M@0x10000000)";
    usize at = 0;
    while (at < use.value_length && use.value[at] != '@')
        at++;
    bool fixed = at < use.value_length;
    ShownText shown;

    u64 size;
    if (!parse_cmdline_number(use.value, at, size)) {
        show(use.value, at, shown);
        return reject_lu_bootmem(use, "bad size '%s' %s", shown, example);
    }
    u64 address = 0;
    if (fixed && !parse_cmdline_number(use.value + at + 1, use.value_length - at - 1, address)) {
        show(use.value + at + 1, use.value_length - at - 1, shown);
        return reject_lu_bootmem(use, "bad address '%s' %s", shown, example);
    }
    char size_text[32];
    format_size(size_text, sizeof(size_text), size);
    if (size < LU_BOOTMEM_MIN_SIZE)
        return reject_lu_bootmem(use, "size %s is below the minimum 16 MiB", size_text);
    if (size > PHYS_ADDRESS_LIMIT)
        return reject_lu_bootmem(use, "size %s is beyond the physical address limit", size_text);
    if (fixed && !is_aligned(address, LU_BOOTMEM_ALIGN))
        return reject_lu_bootmem(use, "address 0x%lx is not 2 MiB aligned", address);

    u64 rounded = align_up(size, LU_BOOTMEM_ALIGN); // size <= 2^52: cannot wrap
    u64 end;
    if (add_overflows(address, rounded, &end) || end > PHYS_ADDRESS_LIMIT)
        return reject_lu_bootmem(use, "region 0x%lx + %s ends beyond the physical address limit", address, size_text);
    if (rounded != size) {
        char rounded_text[32];
        format_size(rounded_text, sizeof(rounded_text), rounded);
        add_diagnostic(use.result, CmdlineSeverity::warning, "%s: size %s rounded up to %s (a multiple of 2 MiB)",
                       use.shown, size_text, rounded_text);
    }
    KernelOptions &options = use.result.options;
    options.lu_bootmem_given = true;
    options.lu_bootmem_size = rounded;
    options.lu_bootmem_fixed = fixed;
    options.lu_bootmem_address = address;
}

usize format_lu_bootmem(const KernelOptions &options, char *buffer, usize capacity)
{
    if (!options.lu_bootmem_given)
        return format(buffer, capacity, "%s", "");
    char value[64];
    format_lu_bootmem_value(options, value, sizeof(value));
    return format(buffer, capacity, "lu_bootmem=%s", value);
}

// ---- loglevel=error|warn|info|debug|0-3 -----------------------------------------------

constexpr const char *log_level_names[] = {"error", "warn", "info", "debug"};

const char *log_level_name(LogLevel level)
{
    u8 index = static_cast<u8>(level);
    return index < 4 ? log_level_names[index] : "info";
}

void parse_loglevel(OptionUse &use)
{
    for (u8 level = 0; level < 4; level++) {
        bool digit = use.value_length == 1 && use.value[0] == '0' + level;
        if (digit || equals(use.value, use.value_length, log_level_names[level])) {
            use.result.options.loglevel = static_cast<LogLevel>(level);
            return;
        }
    }
    add_diagnostic(use.result, CmdlineSeverity::warning, "%s: expected error|warn|info|debug or 0-3; using %s",
                   use.shown, log_level_name(use.result.options.loglevel));
}

usize format_loglevel(const KernelOptions &options, char *buffer, usize capacity)
{
    return format(buffer, capacity, "loglevel=%s", log_level_name(options.loglevel));
}

// ---- options that pick one of a few names -----------------------------------------------

// Sets `choice` to the index of the value in `names`; otherwise reports and keeps it.
template <usize N>
void parse_choice(OptionUse &use, const char *const (&names)[N], u8 &choice)
{
    static_assert(N <= 255, "a choice is stored in a u8");
    for (usize i = 0; i < N; i++) {
        if (equals(use.value, use.value_length, names[i])) {
            choice = static_cast<u8>(i);
            return;
        }
    }
    char expected[128];
    usize length = 0;
    for (usize i = 0; i < N; i++)
        length = append(expected, sizeof(expected), length, i == 0 ? "%s" : "|%s", names[i]);
    add_diagnostic(use.result, CmdlineSeverity::warning, "%s: expected %s; using %s", use.shown, expected,
                   names[choice]);
}

constexpr const char *after_boot_names[] = {"run", "exit"};
constexpr const char *selftest_names[] = {"none", "page_fault", "invalid_opcode", "stack_overflow", "panic"};
static_assert(sizeof(selftest_names) / sizeof(selftest_names[0]) == static_cast<usize>(Selftest::count));

void parse_after_boot(OptionUse &use)
{
    u8 choice = static_cast<u8>(use.result.options.after_boot);
    parse_choice(use, after_boot_names, choice);
    use.result.options.after_boot = static_cast<AfterBoot>(choice);
}

void parse_selftest(OptionUse &use)
{
    u8 choice = static_cast<u8>(use.result.options.selftest);
    parse_choice(use, selftest_names, choice);
    use.result.options.selftest = static_cast<Selftest>(choice);
}

// Neither is handed to the next image: both describe this boot only.
usize format_nothing(const KernelOptions &, char *buffer, usize capacity) { return format(buffer, capacity, "%s", ""); }

// ---- lu_record=ADDR,SIZE,CRC32 ----------------------------------------------------------

// Splits off the next comma-separated number; false when it is missing or not a number.
bool next_number(const char *&text, const char *end, u64 &value)
{
    const char *start = text;
    while (text < end && *text != ',')
        text++;
    bool ok = parse_cmdline_number(start, static_cast<usize>(text - start), value);
    if (text < end)
        text++; // the comma
    return ok;
}

void parse_lu_record(OptionUse &use)
{
    const char *text = use.value, *end = use.value + use.value_length;
    u64 address = 0, size = 0, crc = 0;
    if (!next_number(text, end, address) || !next_number(text, end, size) || !next_number(text, end, crc) ||
        text != end)
        return add_diagnostic(use.result, CmdlineSeverity::warning,
                              "%s: expected ADDR,SIZE,CRC32 (e.g. lu_record=0x40000000,0x2000,0x1234abcd); ignored",
                              use.shown);
    u64 record_end = 0;
    if (size == 0 || crc > 0xffffffff || address % PAGE_SIZE != 0 || add_overflows(address, size, &record_end) ||
        record_end > PHYS_ADDRESS_LIMIT)
        return add_diagnostic(use.result, CmdlineSeverity::warning,
                              "%s: the record must be a non-empty, page-aligned range below the physical address "
                              "limit with a 32-bit CRC; ignored",
                              use.shown);
    KernelOptions &options = use.result.options;
    options.lu_record_given = true;
    options.lu_record_address = address;
    options.lu_record_size = size;
    options.lu_record_crc = static_cast<u32>(crc);
}

usize format_lu_record(const KernelOptions &options, char *buffer, usize capacity)
{
    if (!options.lu_record_given)
        return format(buffer, capacity, "%s", "");
    return format(buffer, capacity, "lu_record=0x%lx,0x%lx,0x%x", options.lu_record_address, options.lu_record_size,
                  options.lu_record_crc);
}

// ---- lu_rollback=ADDR, lu_rolled_back=ADDR, lu_fault=NAME ------------------------------

constexpr const char *injected_fault_names[] = {"none",        "panic_early", "exception_restore", "refuse_record",
                                                "fail_domain", "hang_cli",    "hang_sti"};
static_assert(sizeof(injected_fault_names) / sizeof(injected_fault_names[0]) ==
              static_cast<usize>(InjectedFault::count));

// A rollback kit is a page-aligned address below 4 GiB: the way back runs with paging off.
void parse_kit_address(OptionUse &use, u64 &kit)
{
    u64 address = 0;
    if (!parse_cmdline_number(use.value, use.value_length, address) || address == 0 || address % PAGE_SIZE != 0 ||
        address >= 4 * GiB)
        return add_diagnostic(use.result, CmdlineSeverity::warning,
                              "%s: expected the page-aligned address of a rollback kit below 4 GiB; ignored",
                              use.shown);
    kit = address;
}

void parse_lu_rollback(OptionUse &use) { parse_kit_address(use, use.result.options.lu_rollback_kit); }
void parse_lu_rolled_back(OptionUse &use) { parse_kit_address(use, use.result.options.lu_rolled_back_kit); }

usize format_kit(const char *key, u64 kit, char *buffer, usize capacity)
{
    return kit == 0 ? format(buffer, capacity, "%s", "") : format(buffer, capacity, "%s=0x%lx", key, kit);
}
usize format_lu_rollback(const KernelOptions &options, char *buffer, usize capacity)
{
    return format_kit("lu_rollback", options.lu_rollback_kit, buffer, capacity);
}
usize format_lu_rolled_back(const KernelOptions &options, char *buffer, usize capacity)
{
    return format_kit("lu_rolled_back", options.lu_rolled_back_kit, buffer, capacity);
}

void parse_lu_fault(OptionUse &use)
{
    u8 choice = static_cast<u8>(use.result.options.lu_fault);
    parse_choice(use, injected_fault_names, choice);
    use.result.options.lu_fault = static_cast<InjectedFault>(choice);
}

usize format_lu_fault(const KernelOptions &options, char *buffer, usize capacity)
{
    if (options.lu_fault == InjectedFault::none)
        return format(buffer, capacity, "%s", "");
    return format(buffer, capacity, "lu_fault=%s", injected_fault_name(options.lu_fault));
}

// ---- lu_require_signature=yes|no ----------------------------------------------------------

constexpr const char *yes_no_names[] = {"yes", "no"};

void parse_lu_require_signature(OptionUse &use)
{
    u8 choice = use.result.options.lu_require_signature ? 0 : 1;
    parse_choice(use, yes_no_names, choice);
    use.result.options.lu_require_signature = choice == 0;
}

// Only `no` is written: the default needs no word.
usize format_lu_require_signature(const KernelOptions &options, char *buffer, usize capacity)
{
    if (options.lu_require_signature)
        return format(buffer, capacity, "%s", "");
    return format(buffer, capacity, "lu_require_signature=no");
}

// ---- counts: smp=N, mem_defer_pace=N -----------------------------------------------------

// Far above any machine this runs on; the architecture caps it again at what it can start.
constexpr u64 SMP_CPUS_LIMIT = 4096;

// The value as a number in [low, high]; false (the caller says why) when it is not one.
bool parse_count(const OptionUse &use, u64 low, u64 high, u32 &out)
{
    u64 count = 0;
    if (!parse_cmdline_number(use.value, use.value_length, count) || count < low || count > high)
        return false;
    out = static_cast<u32>(count);
    return true;
}

// `key=value`, or nothing when the value is the default (not passed on).
usize format_count(char *buffer, usize capacity, const char *key, u32 value, u32 default_value)
{
    if (value == default_value)
        return format(buffer, capacity, "%s", "");
    return format(buffer, capacity, "%s=%u", key, value);
}

void parse_smp(OptionUse &use)
{
    if (!parse_count(use, 1, SMP_CPUS_LIMIT, use.result.options.smp_cpus))
        add_diagnostic(use.result, CmdlineSeverity::warning,
                       "%s: expected the number of processors to run on, 1-%lu (1: the bootstrap one only); ignored",
                       use.shown, SMP_CPUS_LIMIT);
}

usize format_smp(const KernelOptions &options, char *buffer, usize capacity)
{
    return format_count(buffer, capacity, "smp", options.smp_cpus, 0);
}

void parse_mem_defer_pace(OptionUse &use)
{
    if (!parse_count(use, 0, MEM_DEFER_PACE_MAX, use.result.options.mem_defer_pace))
        add_diagnostic(use.result, CmdlineSeverity::warning,
                       "%s: expected a number of 2 MiB sections per pass, 0 to %u; using %u", use.shown,
                       MEM_DEFER_PACE_MAX, use.result.options.mem_defer_pace);
}

usize format_mem_defer_pace(const KernelOptions &options, char *buffer, usize capacity)
{
    return format_count(buffer, capacity, "mem_defer_pace", options.mem_defer_pace, MEM_DEFER_PACE_DEFAULT);
}

// ---- the option table: one line per option ---------------------------------------------

constexpr OptionSpec option_table[] = {
    {"lu_bootmem", parse_lu_bootmem, format_lu_bootmem},
    {"loglevel", parse_loglevel, format_loglevel},
    {"after_boot", parse_after_boot, format_nothing},
    {"selftest", parse_selftest, format_nothing},
    {"lu_record", parse_lu_record, format_lu_record},
    {"lu_rollback", parse_lu_rollback, format_lu_rollback},
    {"lu_rolled_back", parse_lu_rolled_back, format_lu_rolled_back},
    {"lu_fault", parse_lu_fault, format_lu_fault},
    {"lu_require_signature", parse_lu_require_signature, format_lu_require_signature},
    {"smp", parse_smp, format_smp},
    {"mem_defer_pace", parse_mem_defer_pace, format_mem_defer_pace},
};
constexpr usize OPTION_COUNT = sizeof(option_table) / sizeof(option_table[0]);

// Looks the word up and runs its option parser. `word` is unquoted and NUL-terminated.
void apply_word(const char *raw, usize raw_length, const char *word, usize length, CmdlineResult &result,
                bool (&seen)[OPTION_COUNT])
{
    ShownText shown;
    show(raw, raw_length, shown);
    usize key_length = 0;
    while (key_length < length && word[key_length] != '=')
        key_length++;
    if (key_length == 0)
        return add_diagnostic(result, CmdlineSeverity::warning, "'%s': option without a name ignored", shown);

    for (usize i = 0; i < OPTION_COUNT; i++) {
        const OptionSpec &spec = option_table[i];
        if (!equals(word, key_length, spec.key))
            continue;
        if (seen[i])
            add_diagnostic(result, CmdlineSeverity::warning, "%s given more than once; the last valid value counts",
                           spec.key);
        seen[i] = true;
        if (key_length + 1 >= length) { // bare `key` or `key=`
            char example[64];
            KernelOptions defaults;
            defaults.lu_bootmem_given = true; // so that the example is not empty
            defaults.lu_record_given = true;
            defaults.lu_rollback_kit = defaults.lu_rolled_back_kit = 0x10000000;
            defaults.lu_fault = InjectedFault::panic_early;
            defaults.lu_require_signature = false;
            defaults.smp_cpus = 1;
            defaults.mem_defer_pace = 4;
            spec.format(defaults, example, sizeof(example));
            return add_diagnostic(result, CmdlineSeverity::warning, "%s: needs a value, e.g. %s; option ignored", shown,
                                  example);
        }
        OptionUse use{word + key_length + 1, length - key_length - 1, {}, result};
        show(raw, raw_length, use.shown);
        return spec.parse(use);
    }
    show(word, key_length, shown);
    add_diagnostic(result, CmdlineSeverity::warning, "unknown option '%s' ignored", shown);
}

} // namespace

void parse_kernel_command_line(const char *text, CmdlineResult &result)
{
    result.options = KernelOptions{};
    result.diagnostic_count = 0;
    result.dropped_diagnostics = 0;
    result.has_fatal = false;
    if (text == nullptr)
        return;

    bool seen[OPTION_COUNT] = {};
    char word[MAX_CMDLINE_WORD_LENGTH + 1];
    const char *cursor = text;
    for (;;) {
        while (is_blank(*cursor))
            cursor++;
        if (*cursor == '\0')
            return;
        const char *raw = cursor;
        usize length = 0;
        bool quoted = false;
        bool too_long = false;
        for (; *cursor != '\0' && (quoted || !is_blank(*cursor)); cursor++) {
            if (*cursor == '"') {
                quoted = !quoted;
                continue;
            }
            if (length == MAX_CMDLINE_WORD_LENGTH)
                too_long = true;
            else
                word[length++] = *cursor;
        }
        word[length] = '\0';
        usize raw_length = static_cast<usize>(cursor - raw);
        ShownText shown;
        show(raw, raw_length, shown);
        if (quoted)
            add_diagnostic(result, CmdlineSeverity::warning, "'%s': unterminated quote; ignored", shown);
        else if (too_long)
            add_diagnostic(result, CmdlineSeverity::warning, "'%s': longer than %zu characters; ignored", shown,
                           MAX_CMDLINE_WORD_LENGTH);
        else
            apply_word(raw, raw_length, word, length, result, seen);
    }
}

void log_cmdline_diagnostics(const CmdlineResult &result)
{
    for (usize i = 0; i < result.diagnostic_count; i++) {
        const CmdlineDiagnostic &diagnostic = result.diagnostics[i];
        if (diagnostic.severity == CmdlineSeverity::fatal)
            log_error("%s", diagnostic.text);
        else
            log_warn("%s", diagnostic.text);
    }
    if (result.dropped_diagnostics != 0)
        log_warn("cmdline: %zu more problems not shown", result.dropped_diagnostics);
}

usize format_kernel_options(const KernelOptions &options, char *buffer, usize capacity)
{
    usize length = format(buffer, capacity, "%s", "");
    for (const OptionSpec &spec : option_table) {
        char word[MAX_CMDLINE_WORD_LENGTH + 1];
        if (spec.format(options, word, sizeof(word)) == 0)
            continue; // an option left at a default the next image works out itself
        length = append(buffer, capacity, length, length == 0 ? "%s" : " %s", word);
    }
    return length;
}

const char *selftest_name(Selftest test) { return selftest_names[static_cast<u8>(test)]; }

const char *injected_fault_name(InjectedFault fault) { return injected_fault_names[static_cast<u8>(fault)]; }

bool injected_fault_from_name(const char *name, usize length, InjectedFault &fault)
{
    for (usize i = 0; i < static_cast<usize>(InjectedFault::count); i++) {
        const char *known = injected_fault_names[i];
        usize at = 0;
        while (at < length && known[at] != '\0' && (name[at] == known[at] || (name[at] == '-' && known[at] == '_')))
            at++;
        if (at == length && known[at] == '\0') {
            fault = static_cast<InjectedFault>(i);
            return true;
        }
    }
    return false;
}
