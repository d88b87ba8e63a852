#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live-update blackout benchmark (part of `make bench`). Boots Baton under QEMU/TCG with
counter guests and replaces the hypervisor A -> B -> A ... several times per
configuration, reading each update's phases from `batonctl raw last-update`:
1 guest and 4 guests, each of 64 MiB and of the largest size the QEMU machine holds.
Every configuration runs on the same QEMU machine size, so that only guest RAM changes,
and the configurations are run in several rounds, every other one in reverse order, so
that a change in the host's speed does not favour one end. Prints the median (and min) of the
blackout and of every phase per configuration, and the ratio of the blackout medians
largest / 64 MiB: the goal is that the blackout does not grow with guest RAM. Beside the
hypervisor's blackout it shows what the first counter guest saw: the max_gap_us of its
first tick after each update (the longest time it did not run, by its own TSC), and
the difference guest - hypervisor. Writes the figures to BUILD/bench/blackout.json as
well. Every update is checked: the new image restored every domain and each counter
ticks again."""

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

SMALL_MIB = 64
MAX_GUEST_MIB = 4096      # DOMAIN_MAX_RAM (kernel/dom/domain.hpp)
HYPERVISOR_MIB = 768      # what a configuration leaves to the hypervisor: bootmem, frame table, slack
HOST_HEADROOM_MIB = 3072  # what the host keeps for itself and the other jobs while QEMU holds guest RAM
BOOTMEM = "32M"
# The counter guest's periodic line; max_gap_us is the longest time it did not run since
# its previous tick (docs/guests.md).
COUNTER_TICK = r"\[d\d+ {name}\] counter: tick \d+ count=\d+ time_ms=\d+ max_gap_us=(?P<gap>\d+)"


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


def guest_budget_mib(machine_mib, guests):
    """The RAM each of `guests` guests may have on a `machine_mib` machine."""
    return min(MAX_GUEST_MIB, (machine_mib - min(HYPERVISOR_MIB, machine_mib // 4)) // guests)


def largest_guest_mib(machine_mib, guests):
    """The largest per-guest RAM (a multiple of 256 MiB, at most 4 GiB) for `guests` guests."""
    return guest_budget_mib(machine_mib, guests) // 256 * 256


def run_configuration(ctx, images, machine_mib, guests, guest_mib, updates):
    """Boots one configuration and does `updates` live updates; returns [{phase: us}], each
    with the first counter's observed gap as 'guest_gap' too."""
    names = ["counter"] + [f"counter{i}" for i in range(2, guests + 1)]
    modules = [(ctx.build / "guests" / "counter.elf", f"{name} start ram={guest_mib}M") for name in names]
    iso = make_iso(ctx.scratch / f"bench-{guests}x{guest_mib}.iso", ctx.build / "baton.elf",
                   f"loglevel=info lu_bootmem={BOOTMEM}", modules + images)
    samples = []
    started = time.monotonic()
    with Machine(iso, ctx.scratch, memory=f"{machine_mib}M") as machine:
        def ctl(*words):  # big guests make every step slow under TCG
            return expect(ctx, machine, 0, *words, timeout=120)
        # Guest RAM is zeroed when a domain is created: gigabytes take a while under TCG.
        machine.wait_for_pattern(r"control: listening on COM2", 600, "control channel up")
        for name in names:
            machine.wait_for_pattern(rf"\[d\d+ {name}\] counter: tick", 120, f"{name} ticking")
        print(f"  booted with {guests} x {guest_mib} MiB in {time.monotonic() - started:.0f}s", flush=True)
        for number in range(1, updates + 1):
            variant = "b" if number % 2 else "a"
            before = len(machine.log)
            ctl("raw", f"live-update module=baton-{variant}")
            line = machine.wait_for_pattern(CONSOLE_UPDATE, 120, f"update {number}: the new image's update line",
                                            start=before)[0]
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
            samples.append(phases)
            print(f"  update {number}/{updates} {phase_line(phases)}; guest gap {ms(phases['guest_gap'])} ms",
                  flush=True)
        log = machine.log
        for bad in ("PANIC", "EXCEPTION", "crashed", "time went backwards", "[E] "):
            assert bad not in log, f"'{bad}' in the serial log:\n{machine.describe()}"
    return samples


def medians(samples):
    return {name: statistics.median([s[name] for s in samples if name in s])
            for name in PHASES if any(name in s for s in samples)}


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


def minima(samples):
    return {name: min(s[name] for s in samples if name in s) for name in PHASES if any(name in s for s in samples)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="build directory (default: build)")
    parser.add_argument("--updates", type=int, default=5, help="live updates per configuration and round (default 5)")
    parser.add_argument("--machine-mib", type=int, default=0,
                        help="QEMU -m in MiB for every configuration (default: up to 6144, as the host allows)")
    parser.add_argument("--guests", default="1,4", help="guest counts, comma-separated (default 1,4)")
    parser.add_argument("--sizes", default=f"{SMALL_MIB},largest",
                        help=f"RAM per guest in MiB, comma-separated, 'largest' for the largest that fits "
                             f"(default {SMALL_MIB},largest)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="passes over the configurations, every other one in reverse order so that a "
                             "change in the host's speed does not favour one end (default 4)")
    args = parser.parse_args()

    available = host_available_mib()
    machine_mib = args.machine_mib or min(6144, (available - HOST_HEADROOM_MIB) // 512 * 512)
    if not args.machine_mib and machine_mib < 1024:
        print(f"blackout: only {available} MiB available on this host; need at least "
              f"{1024 + HOST_HEADROOM_MIB} MiB for a 1 GiB QEMU machine")
        return 1
    counts = [int(n) for n in args.guests.split(",")]
    configurations = []
    for guests in counts:
        largest = largest_guest_mib(machine_mib, guests)
        for word in args.sizes.split(","):
            # A named size need not be a multiple of 256 MiB: 4 x 64 MiB fit a 1 GiB machine.
            size = largest if word == "largest" else int(word)
            if 4 <= size <= guest_budget_mib(machine_mib, guests) and (guests, size) not in configurations:
                configurations.append((guests, size))

    if not configurations:
        print(f"blackout: no configuration fits a {machine_mib} MiB machine")
        return 1
    ctx = Context(Path(args.build), Path(args.build) / "bench" / "blackout")
    for old in ctx.scratch.glob("*"):
        old.unlink()
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    machine_text = (f"QEMU {subprocess.run(['qemu-system-x86_64', '--version'], capture_output=True, text=True).stdout.split()[3]}"
                    f" TCG, q35, -cpu max, 1 vCPU, -m {machine_mib}M, lu_bootmem={BOOTMEM}; host {cpu_model()}, "
                    f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"blackout: {args.rounds} x {args.updates} live updates per configuration, counter guests; "
          f"{machine_text}", flush=True)

    results = {key: [] for key in configurations}
    started = time.monotonic()
    for round_number in range(args.rounds):
        order = configurations if round_number % 2 == 0 else configurations[::-1]
        for guests, size in order:
            print(f"round {round_number + 1}/{args.rounds}, configuration {guests} x {size} MiB:", flush=True)
            try:
                results[(guests, size)] += run_configuration(ctx, images, machine_mib, guests, size, args.updates)
            except AssertionError as error:
                print(f"blackout: FAILED in configuration {guests} x {size} MiB: {error}")
                return 1
    total = args.rounds * args.updates

    headers = [f"{g}x{s}M" for g, s in configurations]
    print(f"\nblackout: medians (min) in ms over {total} updates per configuration "
          f"({time.monotonic() - started:.0f}s in all; load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"  {'phase':<10}" + "".join(f"{h:>18}" for h in headers))
    for name in PHASES:
        row = f"  {name:<10}"
        for key in configurations:
            med, low = medians(results[key]).get(name), minima(results[key]).get(name)
            row += f"{ms(med) + ' (' + ms(low) + ')':>18}" if med is not None else f"{'-':>18}"
        print(row)
    print(f"\nblackout: as the counter guest saw it (max_gap_us of its first tick after each update), "
          f"medians in ms")
    print(f"  {'':<18}" + "".join(f"{h:>18}" for h in headers))
    gaps = {key: guest_gaps(results[key]) for key in configurations}
    for field, title in (("blackout_us", "hypervisor"), ("guest_gap_us", "guest"),
                         ("difference_us", "difference"), ("max_difference_us", "max diff."),
                         ("difference_from_request_us", "diff. from request")):
        print(f"  {title:<18}" + "".join(f"{ms(gaps[key][field]) if gaps[key] else '-':>18}"
                                         for key in configurations))
    ratios = {}
    for guests in counts:
        sizes = sorted(size for g, size in configurations if g == guests)
        if len(sizes) < 2:
            continue
        small, large = (guests, sizes[0]), (guests, sizes[-1])
        ratio = medians(results[large])["blackout"] / medians(results[small])["blackout"]
        ratio_min = minima(results[large])["blackout"] / minima(results[small])["blackout"]
        ratios[guests] = ratio
        growth = (medians(results[large])["blackout"] - medians(results[small])["blackout"]) / \
            ((large[1] - small[1]) * guests / 1024)
        print(f"  {guests} guest{'s' if guests > 1 else ''}: blackout {large[1]} MiB / {small[1]} MiB: "
              f"ratio of the medians {ratio:.2f} ({growth / 1000:+.1f} ms per GiB of guest RAM), "
              f"of the minima {ratio_min:.2f}")

    out = ctx.build / "bench" / "blackout.json"
    out.write_text(json.dumps({
        "machine": machine_text,
        "updates_per_configuration": total,
        "configurations": [{"guests": g, "guest_mib": s, "median_us": medians(results[(g, s)]),
                            "min_us": minima(results[(g, s)]), "guest_observed": gaps[(g, s)],
                            "samples_us": results[(g, s)]}
                           for g, s in configurations],
        "blackout_ratio_largest_over_64mib": {str(g): r for g, r in ratios.items()},
    }, indent=1) + "\n")
    print(f"blackout: figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
