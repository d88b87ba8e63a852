#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live-update blackout benchmark (part of `make bench`). Boots Baton under QEMU/TCG with
counter guests and replaces the hypervisor A -> B -> A ... several times per
configuration, reading each update's phases from `batonctl raw last-update`.

A configuration is (QEMU machine MiB, guest count, MiB per guest). The configurations
come in named comparisons, each a pair that differs in one thing only:
  host-ram   1 GiB against 16 GiB machine, 4 guests of 64 MiB on both
  guest-ram  1 guest of 64 MiB against 1 of 4 GiB, on the same 6 GiB machine
  guests     1 against 8 guests of 64 MiB, on the same 1 GiB machine
  cpus       1 against 4 CPUs (QEMU -smp), 4 guests of 64 MiB on a 1 GiB machine; the
             guests' vCPUs are spread over the CPUs, the update stops every one of them,
             parks the application processors for the jump and starts them again after
             the commit (docs/smp.md)
  cpus-2     the same, 1 against 2 CPUs (with cpus: the blackout on 1, 2 and 4 CPUs)
All chosen configurations run side by side in several rounds, every other round in
reverse order, each round a fresh QEMU session per configuration, so that a change in the
host's speed does not favour one end. Prints the median (and min) of the blackout and of
every phase per configuration, for each comparison the ratio of the medians large / small
of the blackout and of every phase, and the goals beside them, met or missed (a missed
goal is a measurement, not a failure; a broken update is). Beside the hypervisor's
blackout it shows what the first counter guest saw: the max_gap_us of its first tick
after each update (the longest time it did not run, by its own TSC).

Writes BUILD/bench/blackout.json (every sample, medians, minima, ratios, goals) and
BUILD/bench/blackout.png (stacked phases per configuration, drawn with gnuplot; without
gnuplot only the JSON). Configurations the host's free memory cannot hold are skipped
with a message. Every update is checked: the new image restored every domain, each
counter ticks again, and the serial log has no PANIC or EXCEPTION."""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "qemu"))
from baton_qemu import Machine, make_iso  # noqa: E402
from test_kexec import expect, stripped  # noqa: E402
from update_report import CONSOLE_UPDATE, PHASES, Context, ms, phase_line, phases_from_report  # noqa: E402

import blackout_plot  # noqa: E402

MAX_GUEST_MIB = 4096      # DOMAIN_MAX_RAM (kernel/dom/domain.hpp)
HOST_HEADROOM_MIB = 2048  # what the host keeps for itself and the other jobs while QEMU runs
QEMU_OVERHEAD_MIB = 512   # QEMU's own memory under TCG (translated code, devices), rounded up
BOOTMEM = "32M"
# The counter guest's periodic line; max_gap_us is the longest time it did not run since
# its previous tick (docs/guests.md).
ROLLED_BACK = r"update: ROLLED BACK: (?P<rollback>[^\n]*)"
COUNTER_TICK = r"\[d\d+ {name}\] counter: tick \d+ count=\d+ time_ms=\d+ max_gap_us=(?P<gap>\d+)"

# Comparisons: name -> what differs. Their configurations come from the options (below).
COMPARISONS = {
    "host-ram": "QEMU machine RAM, same guests",
    "guest-ram": "RAM of one guest, same machine",
    "guests": "guest count, same small guests and machine",
    "cpus": "CPU count, same guests and machine",
    "cpus-2": "CPU count, same guests and machine",
}

# Goals (the live-update issue): a ratio of the blackout medians large / small at most
# this, per comparison; the median blackout of 4 small guests on a 1 GiB machine; the
# guest-observed gap against the hypervisor's blackout.
RATIO_GOALS = {"host-ram": 1.1, "guest-ram": 1.1, "guests": 1.3, "cpus": 1.2, "cpus-2": 1.2}
SMALL_MACHINE_BLACKOUT_GOAL_US = 15000
GUEST_GAP_GOAL_US = 2000


def host_available_mib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def rss_mib(pid):
    """Resident memory of a process, MiB (0 if gone): what a QEMU session really holds."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def label(config):
    machine, guests, size, cpus = config
    machine_text = f"{machine // 1024}G" if machine % 1024 == 0 else f"{machine}M"
    size_text = f"{size // 1024}G" if size % 1024 == 0 else f"{size}M"
    return f"{machine_text} {guests}x{size_text}" + (f" {cpus}cpu" if cpus != 1 else "")


def touched_mib(config):
    """What a session makes the host back: QEMU only backs memory the machine touches, which
    is the guests' RAM (zeroed at creation), the hypervisor's frame table and boot memory
    (a generous 1/64 of the machine) and QEMU itself."""
    machine, guests, size, _ = config
    return guests * size + machine // 64 + QEMU_OVERHEAD_MIB


def fits(config):
    """None if the host has the memory for this configuration now, else why not."""
    machine, guests, size, _ = config
    if guests * size > machine - min(768, machine // 4):
        return f"{guests} x {size} MiB of guests do not fit a {machine} MiB machine"
    if size > MAX_GUEST_MIB:
        return f"{size} MiB is more than a guest may have ({MAX_GUEST_MIB} MiB)"
    need, available = touched_mib(config) + HOST_HEADROOM_MIB, host_available_mib()
    if need > available:
        return (f"needs about {need} MiB of host memory ({touched_mib(config)} touched + {HOST_HEADROOM_MIB} "
                f"headroom), MemAvailable is {available} MiB")
    return None


def comparison_pairs(args):
    """{name: (small configuration, large configuration)} for the chosen comparisons."""
    pairs = {
        "host-ram": ((args.host_ram[0], args.host_ram_guests, args.small_guest_mib, 1),
                     (args.host_ram[1], args.host_ram_guests, args.small_guest_mib, 1)),
        "guest-ram": ((args.guest_ram_machine_mib, 1, args.guest_ram[0], 1),
                      (args.guest_ram_machine_mib, 1, args.guest_ram[1], 1)),
        "guests": ((args.guests_machine_mib, args.guests[0], args.small_guest_mib, 1),
                   (args.guests_machine_mib, args.guests[1], args.small_guest_mib, 1)),
        # The small end is host-ram's small end: one configuration serves both.
        "cpus": ((args.host_ram[0], args.host_ram_guests, args.small_guest_mib, args.cpus[0]),
                 (args.host_ram[0], args.host_ram_guests, args.small_guest_mib, args.cpus[1])),
        "cpus-2": ((args.host_ram[0], args.host_ram_guests, args.small_guest_mib, args.cpus[0]),
                   (args.host_ram[0], args.host_ram_guests, args.small_guest_mib, 2)),
    }
    return {name: pairs[name] for name in args.compare if name in pairs}


def run_configuration(ctx, images, config, updates):
    """Boots one configuration and does `updates` live updates; returns ([{phase: us}], each
    with the first counter's observed gap as 'guest_gap' too, QEMU's resident MiB)."""
    machine_mib, guests, guest_mib, cpus = config
    names = ["counter"] + [f"counter{i}" for i in range(2, guests + 1)]
    modules = [(ctx.build / "guests" / "counter.elf", f"{name} start ram={guest_mib}M") for name in names]
    iso = make_iso(ctx.scratch / f"bench-{machine_mib}-{guests}x{guest_mib}.iso", ctx.build / "baton.elf",
                   f"loglevel=info lu_bootmem={BOOTMEM}", modules + images)
    samples = []
    started = time.monotonic()
    with Machine(iso, ctx.scratch, memory=f"{machine_mib}M", cpus=cpus) as machine:
        def ctl(*words):  # big guests make every step slow under TCG
            return expect(ctx, machine, 0, *words, timeout=120)
        # Guest RAM is zeroed when a domain is created: gigabytes take a while under TCG.
        machine.wait_for_pattern(r"control: listening on COM2", 900, "control channel up")
        for name in names:
            machine.wait_for_pattern(rf"\[d\d+ {name}\] counter: tick", 120, f"{name} ticking")
        print(f"  booted {label(config)} in {time.monotonic() - started:.0f}s", flush=True)
        for number in range(1, updates + 1):
            variant = "b" if number % 2 else "a"
            before = len(machine.log)
            ctl("raw", f"live-update module=baton-{variant}")
            # A rollback (e.g. the watchdog, 1 s after the jump, on a slow host) ends the wait at once.
            line = machine.wait_for_pattern(f"{CONSOLE_UPDATE}|{ROLLED_BACK}", 120,
                                            f"update {number}: the new image's update line", start=before)[0]
            assert not line["rollback"], f"update {number} rolled back: {line['rollback']}"
            assert int(line["generation"]) == number and line["restored"] == line["recorded"] == str(guests), \
                f"update {number}: {line[0]}"
            machine.wait_for_pattern(r"control: listening on COM2", 120, f"update {number}: control up",
                                     start=before)
            after = before + line.end()
            ticks = {name: machine.wait_for_pattern(COUNTER_TICK.format(name=name), 120,
                                                    f"update {number}: {name} ticking again", start=after)[0]
                     for name in names}
            report = ctl("raw", "last-update")
            assert f"generation {number}" in report, report
            phases = phases_from_report(report)
            assert "blackout" in phases, report
            # The guest's first tick after the update covers the pause: the new image
            # prints its update line before any guest runs again.
            phases["guest_gap"] = int(ticks["counter"]["gap"])
            missing = [name for name in PHASES if name not in phases]
            if missing:  # seen once for resume: kept in the sample and shown, not taken as a failure
                print(f"  update {number}: last-update has no {', '.join(missing)}: {report.strip()!r}")
                phases["missing"] = missing
            samples.append(phases)
            print(f"  update {number}/{updates} {phase_line(phases)}; guest gap {ms(phases['guest_gap'])} ms",
                  flush=True)
        resident = rss_mib(machine.proc.pid)
        log = machine.log
        for bad in ("PANIC", "EXCEPTION", "crashed", "time went backwards", "[E] "):
            assert bad not in log, f"'{bad}' in the serial log:\n{machine.describe()}"
    return samples, resident


def medians(samples):
    return {name: statistics.median([s[name] for s in samples if name in s])
            for name in PHASES + ["guest_gap"] if any(name in s for s in samples)}


def minima(samples):
    return {name: min(s[name] for s in samples if name in s)
            for name in PHASES + ["guest_gap"] if any(name in s for s in samples)}


def guest_gaps(samples):
    """Medians of the hypervisor's blackout, of the counter's observed gap and of their
    difference (guest - hypervisor), in us; and of the gap less the whole update from the
    request on (check + pause + blackout): on one CPU the image check holds the guests
    up too, though it is not in the blackout."""
    kept = [s for s in samples if "blackout" in s and "guest_gap" in s]
    if not kept:
        return {}
    return {"blackout_us": statistics.median(s["blackout"] for s in kept),
            "guest_gap_us": statistics.median(s["guest_gap"] for s in kept),
            "difference_us": statistics.median(s["guest_gap"] - s["blackout"] for s in kept),
            "max_difference_us": max(s["guest_gap"] - s["blackout"] for s in kept),
            "difference_from_request_us": statistics.median(
                s["guest_gap"] - s["blackout"] - s.get("check", 0) - s.get("pause", 0) for s in kept)}


def ratios(results, small, large):
    """{phase: median(large) / median(small)} over the phases both have (None where small is 0)."""
    low, high = medians(results[small]), medians(results[large])
    return {name: (high[name] / low[name] if low[name] else None)
            for name in PHASES + ["guest_gap"] if name in low and name in high}


def goals(results, pairs, comparison_ratios, args):
    """[{goal, value, unit ('ratio' or 'us'), met}] for what was measured; a goal whose
    configurations did not run is left out."""
    out = []
    for name, limit in RATIO_GOALS.items():
        ratio = comparison_ratios.get(name, {}).get("blackout")
        if ratio is not None:
            small, large = pairs[name]
            out.append({"goal": f"{name}: blackout {label(large)} / {label(small)} <= {limit}",
                        "value": round(ratio, 3), "unit": "ratio", "met": ratio <= limit})
    small_machine = (args.host_ram[0], args.host_ram_guests, args.small_guest_mib, 1)
    if results.get(small_machine):
        blackout = medians(results[small_machine])["blackout"]
        out.append({"goal": f"median blackout of {label(small_machine)} <= {ms(SMALL_MACHINE_BLACKOUT_GOAL_US)} ms",
                    "value": blackout, "unit": "us", "met": blackout <= SMALL_MACHINE_BLACKOUT_GOAL_US})
    for config, samples in results.items():
        gaps = guest_gaps(samples)
        if gaps:
            difference = gaps["difference_us"]
            out.append({"goal": f"{label(config)}: guest gap - blackout within {ms(GUEST_GAP_GOAL_US)} ms (median)",
                        "value": difference, "unit": "us", "met": abs(difference) <= GUEST_GAP_GOAL_US})
    return out


def print_tables(configs, results, resident, pairs, comparison_ratios, goal_list):
    headers = [label(c) for c in configs]
    width = 16
    print(f"\nblackout: medians (min) in ms per configuration (machine, guests x RAM)")
    print(f"  {'phase':<10}" + "".join(f"{h:>{width}}" for h in headers))
    for name in PHASES + ["guest_gap"]:
        row = f"  {name:<10}"
        for config in configs:
            med, low = medians(results[config]).get(name), minima(results[config]).get(name)
            row += f"{ms(med) + ' (' + ms(low) + ')':>{width}}" if med is not None else f"{'-':>{width}}"
        print(row)
    print(f"  {'updates':<10}" + "".join(f"{len(results[c]):>{width}}" for c in configs))
    print(f"  {'QEMU RSS':<10}" + "".join(f"{str(resident[c]) + ' MiB':>{width}}" for c in configs))
    print(f"\nblackout: as the counter guest saw it (max_gap_us of its first tick after each update), medians in ms")
    print(f"  {'':<18}" + "".join(f"{h:>{width}}" for h in headers))
    gaps = {config: guest_gaps(results[config]) for config in configs}
    for field, title in (("blackout_us", "hypervisor"), ("guest_gap_us", "guest"),
                         ("difference_us", "difference"), ("max_difference_us", "max diff."),
                         ("difference_from_request_us", "diff. from request")):
        print(f"  {title:<18}" + "".join(f"{ms(gaps[c][field]) if gaps[c] else '-':>{width}}" for c in configs))
    if comparison_ratios:
        print(f"\nblackout: ratios of the medians, large / small")
        names = list(comparison_ratios)
        print(f"  {'phase':<10}" + "".join(f"{n:>{width}}" for n in names))
        for phase in PHASES + ["guest_gap"]:
            cells = [comparison_ratios[n].get(phase) for n in names]
            print(f"  {phase:<10}" + "".join(f"{c:>{width}.2f}" if c is not None else f"{'-':>{width}}"
                                             for c in cells))
        for name in names:
            small, large = pairs[name]
            print(f"  {name}: {label(large)} / {label(small)} ({COMPARISONS[name]})")
    print(f"\nblackout: goals (a missed goal is a measurement, not a failure)")
    for goal in goal_list:
        value = goal["value"]
        shown = f"{value:.2f}" if goal["unit"] == "ratio" else f"{ms(value)} ms"
        print(f"  {'met   ' if goal['met'] else 'MISSED'} {goal['goal']}: {shown}")


def mib_pair(text):
    low, high = (int(word) for word in text.split(","))
    return low, high


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="build directory (default: build)")
    parser.add_argument("--compare", default=",".join(COMPARISONS),
                        help=f"comparisons, comma-separated, of {', '.join(COMPARISONS)} "
                             f"(default: {','.join(COMPARISONS)})")
    parser.add_argument("--updates", type=int, default=5, help="live updates per configuration and round (default 5)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="passes over the configurations, every other one in reverse order so that a "
                             "change in the host's speed does not favour one end (default 4)")
    parser.add_argument("--host-ram", type=mib_pair, default=(1024, 16384), metavar="SMALL,LARGE",
                        help="host-ram: the two machine sizes in MiB (default 1024,16384)")
    parser.add_argument("--host-ram-guests", type=int, default=4, help="host-ram: guest count (default 4)")
    parser.add_argument("--small-guest-mib", type=int, default=64,
                        help="RAM of each guest in host-ram and guests, MiB (default 64)")
    parser.add_argument("--guest-ram", type=mib_pair, default=(64, 4096), metavar="SMALL,LARGE",
                        help="guest-ram: the RAM of the one guest in MiB (default 64,4096)")
    parser.add_argument("--guest-ram-machine-mib", type=int, default=6144,
                        help="guest-ram: machine size in MiB (default 6144)")
    parser.add_argument("--guests", type=mib_pair, default=(1, 8), metavar="FEW,MANY",
                        help="guests: the two guest counts (default 1,8)")
    parser.add_argument("--cpus", type=mib_pair, default=(1, 4), metavar="FEW,MANY",
                        help="cpus: CPU counts compared (default 1,4)")
    parser.add_argument("--guests-machine-mib", type=int, default=1024,
                        help="guests: machine size in MiB (default 1024)")
    args = parser.parse_args()
    args.compare = [word.strip() for word in args.compare.split(",") if word.strip()]
    for word in args.compare:
        if word not in COMPARISONS:
            parser.error(f"unknown comparison '{word}' (known: {', '.join(COMPARISONS)})")

    pairs = comparison_pairs(args)
    configs = []
    for small, large in pairs.values():
        configs += [c for c in (small, large) if c not in configs]
    skipped = {}
    for config in configs:
        reason = fits(config)
        if reason:
            skipped[config] = reason
            print(f"blackout: skipping {label(config)}: {reason}")
    configs = [c for c in configs if c not in skipped]
    if not configs:
        print("blackout: no configuration to run")
        return 1

    ctx = Context(Path(args.build), Path(args.build) / "bench" / "blackout")
    for old in ctx.scratch.glob("*"):
        old.unlink()
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split()[3]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    machine_text = (f"QEMU {qemu} TCG, q35, -cpu max, -smp 1 (Ncpu: -smp N), lu_bootmem={BOOTMEM}; host {cpu_model()}, "
                    f"{os.cpu_count()} CPUs, {host_available_mib()} MiB available, load average "
                    f"{os.getloadavg()[0]:.1f} at the start; tree at {commit}")
    print(f"blackout: {args.rounds} x {args.updates} live updates per configuration "
          f"({', '.join(label(c) for c in configs)}), counter guests; {machine_text}", flush=True)

    results = {config: [] for config in configs}
    resident = {config: 0 for config in configs}
    started = time.monotonic()
    for round_number in range(args.rounds):
        order = configs if round_number % 2 == 0 else configs[::-1]
        for config in order:
            reason = fits(config)
            if reason:  # the host's free memory went down since the start
                print(f"round {round_number + 1}/{args.rounds}, {label(config)}: skipped, {reason}", flush=True)
                continue
            print(f"round {round_number + 1}/{args.rounds}, configuration {label(config)}:", flush=True)
            try:
                samples, rss = run_configuration(ctx, images, config, args.updates)
            except AssertionError as error:
                print(f"blackout: FAILED in configuration {label(config)}: {error}")
                return 1
            results[config] += samples
            resident[config] = max(resident[config], rss)
    configs = [c for c in configs if results[c]]
    results = {c: results[c] for c in configs}
    print(f"\nblackout: {time.monotonic() - started:.0f}s in all; load average {os.getloadavg()[0]:.1f} at the end")

    measured = {name: pair for name, pair in pairs.items() if pair[0] in results and pair[1] in results}
    comparison_ratios = {name: ratios(results, small, large) for name, (small, large) in measured.items()}
    goal_list = goals(results, measured, comparison_ratios, args)
    print_tables(configs, results, resident, measured, comparison_ratios, goal_list)

    out = ctx.build / "bench" / "blackout.json"
    config_json = lambda c: {"machine_mib": c[0], "guests": c[1], "guest_mib": c[2], "cpus": c[3], "label": label(c)}  # noqa: E731
    out.write_text(json.dumps({
        "machine": machine_text,
        "rounds": args.rounds, "updates_per_round": args.updates,
        "configurations": [dict(config_json(c), median_us=medians(results[c]), min_us=minima(results[c]),
                                guest_observed=guest_gaps(results[c]), qemu_rss_mib=resident[c],
                                samples_us=results[c]) for c in configs],
        "skipped": [dict(config_json(c), reason=reason) for c, reason in skipped.items()],
        "comparisons": [{"name": name, "what": COMPARISONS[name], "small": config_json(small),
                         "large": config_json(large), "ratio_of_medians": comparison_ratios[name]}
                        for name, (small, large) in measured.items()],
        "goals": goal_list,
    }, indent=1) + "\n")
    print(f"blackout: figures in {out}")

    rows = []
    for name, (small, large) in measured.items():
        if rows:
            rows.append((None, {}, None, None))
        for config in (small, large):
            med = medians(results[config])
            rows.append((f"{name}: {label(config)}", med, med.get("blackout"), med.get("guest_gap")))
    if not rows:  # no complete comparison: the configurations that ran, one bar each
        rows = [(label(c), medians(results[c]), medians(results[c]).get("blackout"),
                 medians(results[c]).get("guest_gap")) for c in configs]
    png = ctx.build / "bench" / "blackout.png"
    why_not = blackout_plot.draw(png, rows, f"Baton live-update blackout, medians of {args.rounds} x {args.updates} "
                                            f"updates per configuration\\n{machine_text}")
    print(f"blackout: {why_not}" if why_not else f"blackout: plot in {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
