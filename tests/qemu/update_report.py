# SPDX-License-Identifier: MIT
"""Reading live-update timings and summarising them: shared by `make soak`
(tests/qemu/soak.py), `make demo` (tests/qemu/demo.py) and the blackout benchmark
(tests/bench/blackout.py). Not a test module (no test_ prefix)."""

import re
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# The spans the hypervisor reports (kernel/update/timeline.hpp, UPDATE_SPANS), in order;
# the blackout is paused -> resumed, i.e. serialize + jump + boot + restore + resume.
PHASES = ["check", "pause", "serialize", "jump", "boot", "restore", "resume", "blackout"]

# The line the new image prints once its guests run again.
CONSOLE_UPDATE = (r"update: from (?P<version>\S+) \(build (?P<build>\S+)\), generation (?P<generation>\d+), "
                  r"(?P<restored>\d+) of (?P<recorded>\d+) domains;(?P<spans>[^\n]*)")


class Context:
    """What the helpers of tests/qemu/test_*.py expect as `ctx`: the build directory and a
    scratch directory (tests/run_tests.py gives the tests the same)."""

    def __init__(self, build: Path, scratch: Path):
        self.root = ROOT
        self.build = Path(build).resolve()
        self.scratch = Path(scratch)
        self.scratch.mkdir(parents=True, exist_ok=True)


def phases_from_report(text):
    """{phase: microseconds} from `phase NAME us=N` lines (batonctl last-update, raw
    last-update with its '. ' data prefix, or batonctl live-update)."""
    return {name: int(us) for name, us in re.findall(r"phase (\w+) us=(\d+)", text)}


def phases_from_console(spans):
    """{phase: microseconds} from the tail of the console's update line (' check=740us ...')."""
    return {name: int(us) for name, us in re.findall(r"(\w+)=(\d+)us", spans)}


def ms(us):
    return f"{us / 1000:.1f}"


def phase_line(phases, names=PHASES):
    """'blackout 143.4 ms (serialize 4.2 jump 106.6 ...)' for one update."""
    parts = [f"{name} {ms(phases[name])}" for name in names if name in phases and name != "blackout"]
    head = f"blackout {ms(phases['blackout'])} ms" if "blackout" in phases else "blackout ? ms"
    return f"{head} ({' '.join(parts)})"


def summary_table(samples, title=None):
    """Lines of a median/min/max table (milliseconds) over a list of {phase: us}."""
    lines = []
    if title:
        lines.append(title)
    lines.append(f"  {'phase':<10} {'median':>9} {'min':>9} {'max':>9}   (ms, {len(samples)} updates)")
    for name in PHASES:
        values = [s[name] for s in samples if name in s]
        if not values:
            continue
        lines.append(f"  {name:<10} {ms(statistics.median(values)):>9} {ms(min(values)):>9} {ms(max(values)):>9}")
    return lines


def median(samples, name):
    values = [s[name] for s in samples if name in s]
    return statistics.median(values) if values else None
