#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make soak`: many live updates in a row. Boots image A under QEMU with the counter,
memcheck and events guests (and images A and B as boot modules), then replaces the
hypervisor A -> B -> A -> ... (two updates with `batonctl raw "live-update
module=baton-X"`, two with `batonctl live-update --module baton-X`, and so on), and after
every update checks what tests/qemu/test_live_update.py checks: the new image restored
3 of 3 domains and answers with the right build id, every guest makes progress, the
counter never goes back, memcheck sees no mismatch, events keep arriving and the events
guest saw the new generation, the free/preserved frame counts stay what they were after
update 1, nothing crashed or panicked. Before every `--fail-every`th update (default 4) an
attempt fails first, at a fault drawn at random (`batonctl update-fault`, docs/live-update.md
"What can go wrong"): it must roll back, with every guest going on and the frame counts
unchanged. One line per update with its blackout; at the end median/min/max of the
blackout and of every phase, and how many attempts committed and rolled back. Exits 1 at the first failure, with
what was seen; the whole serial log is kept in BUILD/soak/serial.log."""

import argparse
import random
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_kexec import build_id, expect, stripped  # noqa: E402
from test_live_update import (boot_with_guests, check_guest_history, inspect_record,  # noqa: E402
                              memory_counts, wait_for_guests)
from update_report import (CONSOLE_UPDATE, Context, median, ms, phase_line, phases_from_console,  # noqa: E402
                           phases_from_report, summary_table)

TIMEOUT = 60  # seconds for anything one update is waited on for
FAULTS = ["panic-early", "exception-restore", "refuse-record", "fail-domain", "hang-cli", "hang-sti"]
EXIT_ROLLED_BACK = 4


class SegmentChecker:
    """Checks the log as it grows, each new piece once: the counter never goes back,
    nothing failed, crashed or panicked. Hypervisor warnings are collected."""

    FATAL = [("PANIC", "a hypervisor panic"), ("EXCEPTION", "a hypervisor exception"),
             ("crashed", "a crashed domain"), ("time went backwards", "the counter's clock went back"),
             ("ERROR", "a guest reported an error"), (" FAIL", "a guest check failed"), ("[E] ", "a hypervisor error")]

    def __init__(self):
        self.checked = 0
        self.last_count = None
        self.warnings = []

    def check(self, log):
        # Only whole lines: the last one may still be being written.
        end = log.rfind("\n") + 1
        if end <= self.checked:
            return
        piece = log[self.checked:end]
        for pattern, what in self.FATAL:
            at = piece.find(pattern)
            if at >= 0:
                line = piece[piece.rfind("\n", 0, at) + 1:piece.find("\n", at)]
                raise AssertionError(f"{what}: {line}")
        if "mismatch" in piece.replace("mismatches=0", ""):
            line = next(l for l in piece.splitlines() if "mismatch" in l.replace("mismatches=0", ""))
            raise AssertionError(f"memcheck found a mismatch: {line}")
        for count in (int(c) for c in re.findall(r"counter: tick \d+ count=(\d+)", piece)):
            if self.last_count is not None and count <= self.last_count:
                raise AssertionError(f"the counter went back: {self.last_count} then {count}")
            self.last_count = count
        self.warnings += [l for l in piece.splitlines() if l.startswith("[W] ")]
        self.checked = end


def one_update(ctx, machine, number, steady, checker, via="raw", cpus=1):
    """Update number `number` (1-based); returns (phases from last-update, frame counts).
    via "raw" sends the request line and reads the old image's answer; via "batonctl"
    uses `batonctl live-update --module`, which also waits for the new image's report."""
    variant = "B" if number % 2 else "A"
    previous = "A" if variant == "B" else "B"
    before = len(machine.log)
    if via == "batonctl":
        out = expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant.lower()}")
        assert f"generation {number}" in out and "phase blackout us=" in out and "build=" in out, \
            f"batonctl live-update printed: {out}"
        new_build = re.search(r"^baton version=\S+ build=(\S+)", out, re.MULTILINE)
        assert new_build and new_build.group(1).endswith(f"-{variant}"), \
            f"batonctl live-update: the answer after the update came from {new_build and new_build.group(1)}:\n{out}"
    else:
        out = expect(ctx, machine, 0, "raw", f"live-update module=baton-{variant.lower()}")
    assert "phase serialize us=" in out and f"-{variant}" in out, f"the old image's answer: {out}"

    line = machine.wait_for_pattern(CONSOLE_UPDATE, TIMEOUT, f"update {number}: the new image's update line",
                                    start=before)[0]
    assert int(line["generation"]) == number, f"generation {line['generation']}, expected {number}: {line[0]}"
    assert line["restored"] == line["recorded"] == "3", f"not 3 of 3 domains restored: {line[0]}"
    assert line["build"].endswith(f"-{previous}"), f"updated from {line['build']}, expected -{previous}: {line[0]}"
    restored_at = before + line.end()
    machine.wait_for_pattern(r"control: listening on COM2", TIMEOUT, f"update {number}: control channel up",
                             start=before)
    running = build_id(ctx, machine)
    assert running.endswith(f"-{variant}"), f"update {number}: running build {running}, expected -{variant}"
    if cpus > 1:  # the old image parked the APs; this one started every one again
        machine.wait_for_pattern(rf"smp: {cpus} of {cpus} CPUs up", TIMEOUT, f"update {number}: every CPU up",
                                 start=before)

    # Every guest makes progress under the new image, and events saw the change.
    wait_for_guests(machine, after=restored_at)
    machine.wait_for_pattern(rf"events: hypervisor changed: generation {number} build \S+-{variant}", TIMEOUT,
                             f"update {number}: the events guest saw generation {number}", start=before)

    counts = memory_counts(ctx, machine)
    if steady is not None:
        assert counts == steady, (f"update {number}: free/preserved frames {counts}, after update 1 {steady} "
                                  "(a leak or a double free across updates)")

    report = expect(ctx, machine, 0, "raw", "last-update")
    assert f"generation {number}" in report, f"update {number}: last-update says: {report}"
    phases = phases_from_report(report)
    assert "blackout" in phases, f"update {number}: no blackout in last-update: {report}"
    console = phases_from_console(line["spans"])
    assert console.get("blackout") == phases["blackout"], \
        f"update {number}: console blackout {console.get('blackout')} us, last-update {phases['blackout']} us"
    checker.check(machine.log)
    return phases, counts


def without_failed_images(log, spans):
    """The log with the failed images' expected PANIC and EXCEPTION words renamed inside
    `spans`, so that the whole-log checks still catch any other."""
    pieces, at = [], 0
    for start, end in spans:
        pieces += [log[at:start], re.sub(r"PANIC|EXCEPTION", "failed-image", log[start:end])]
        at = end
    return "".join(pieces + [log[at:]])


def failed_attempt(ctx, machine, number, steady, checker, fault):
    """An attempt at update `number` that `fault` makes fail: it must roll back to the
    running image, and every guest must go on with the frame counts unchanged."""
    running = "A" if number % 2 else "B"
    target = "b" if running == "A" else "a"
    before = len(machine.log)
    expect(ctx, machine, 0, "raw", f"update-fault {fault}")
    out = expect(ctx, machine, EXIT_ROLLED_BACK, "live-update", "--module", f"baton-{target}", timeout=TIMEOUT)
    assert "the update was rolled back" in out, f"update {number}, {fault}: {out}"
    machine.wait_for_pattern(r"update: ROLLED BACK", TIMEOUT, f"update {number}, {fault}: rolled back", start=before)
    machine.wait_for_pattern(r"control: listening on COM2", TIMEOUT, f"{fault}: control up", start=before)
    assert build_id(ctx, machine).endswith(f"-{running}"), f"{fault}: the old image should run again"
    wait_for_guests(machine, after=len(machine.log))
    if steady is not None:
        counts = memory_counts(ctx, machine)
        assert counts == steady, f"{fault}: frames {counts} after the rollback, {steady} before"
    # The failed image's panic or exception lines are expected here: only the guests'
    # history is checked over this stretch.
    end = machine.log.rfind("\n") + 1
    for count in (int(c) for c in re.findall(r"counter: tick \d+ count=(\d+)", machine.log[checker.checked:end])):
        assert checker.last_count is None or count > checker.last_count, "the counter went back"
        checker.last_count = count
    checker.checked = end
    return before, end


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="build directory (default: build)")
    parser.add_argument("--updates", type=int, default=100, help="live updates to do (default 100)")
    parser.add_argument("--via", choices=["raw", "batonctl", "both"], default="both",
                        help="how to ask: 'raw' (batonctl raw \"live-update module=...\"), 'batonctl' "
                             "(batonctl live-update --module ..., which waits for the new image and prints its "
                             "report) or 'both', taking turns (the default)")
    parser.add_argument("--fail-every", type=int, default=4,
                        help="before every Nth update, an attempt that fails at a random fault and must roll back "
                             "(default 4; 0: none)")
    parser.add_argument("--seed", type=int, default=15, help="seed of the faults' order (default 15)")
    parser.add_argument("--cpus", type=int, default=4,
                        help="QEMU -smp: CPUs of the machine (default 4; every update parks the application "
                             "processors and the next image starts them again, checked)")
    args = parser.parse_args()
    if args.updates < 1:
        parser.error("--updates must be at least 1")

    ctx = Context(Path(args.build), Path(args.build) / "soak")
    shutil.rmtree(ctx.scratch, ignore_errors=True)
    ctx.scratch.mkdir(parents=True)
    kept_log = ctx.scratch / "serial.log"
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    print(f"soak: {args.updates} live updates A -> B -> A ... with the counter, memcheck and events guests "
          f"(QEMU/TCG, 512 MiB, -smp {args.cpus}, lu_bootmem=32M; asked via {args.via})", flush=True)

    samples = []
    rollbacks = {}
    failed_spans = []  # where the failed images' own panics and exceptions are expected
    pick = random.Random(args.seed)
    started = time.monotonic()
    number = 0
    checker = SegmentChecker()
    with boot_with_guests(ctx, "soak", images, cpus=args.cpus) as machine:
        try:
            machine.wait_for_pattern(r"control: listening on COM2", TIMEOUT, "control channel up")
            wait_for_guests(machine)
            checker.check(machine.log)
            steady = None
            for number in range(1, args.updates + 1):
                via = args.via if args.via != "both" else ("raw", "batonctl")[(number - 1) // 2 % 2]
                if args.fail_every and number % args.fail_every == 0:
                    fault = pick.choice(FAULTS)
                    failed_spans.append(failed_attempt(ctx, machine, number, steady, checker, fault))
                    rollbacks[fault] = rollbacks.get(fault, 0) + 1
                    print(f"update {number:4}/{args.updates} attempt with {fault}: rolled back, guests running",
                          flush=True)
                phases, counts = one_update(ctx, machine, number, steady, checker, via, args.cpus)
                steady = steady or counts
                samples.append(phases)
                arrow = "A->B" if number % 2 else "B->A"
                print(f"update {number:4}/{args.updates} {arrow} {via:8} {phase_line(phases)}; frames free={counts[0]} "
                      f"preserved={counts[1]}; counter={checker.last_count} [{time.monotonic() - started:.0f}s]",
                      flush=True)
                if number in (1, args.updates):
                    decoded = inspect_record(ctx, machine, f"record-{number}")
                    assert all(name in decoded for name in ("counter", "memcheck", "events")), \
                        f"update {number}: the record lacks a domain:\n{decoded}"
            check_guest_history(without_failed_images(machine.log, failed_spans))
            checker.check(machine.log)
        except Exception as error:  # an assertion, or a crash of this script: both end the soak
            if not isinstance(error, AssertionError):
                traceback.print_exc()
            machine.stop()
            shutil.copyfile(machine.log_path, kept_log)
            where = f"at update {number} of {args.updates}" if number else "before the first update"
            headline = str(error).splitlines()[0] if str(error) else type(error).__name__
            print(f"soak: FAILED {where} after {time.monotonic() - started:.0f}s: {error}\n"
                  f"soak: the whole serial log is in {kept_log}\n"
                  f"soak: FAILED {where}: {headline}", flush=True)
            return 1
        machine.stop()
        shutil.copyfile(machine.log_path, kept_log)

    print("")
    for line in summary_table(samples, f"soak: {len(samples)} live updates, every check passed "
                                       f"({time.monotonic() - started:.0f}s); frames free/preserved "
                                       f"{steady[0]}/{steady[1]} from update 1 on"):
        print(line)
    if len(samples) >= 20:
        first, last = samples[:10], samples[-10:]
        print(f"  medians of the first 10 updates / the last 10: blackout {ms(median(first, 'blackout'))} / "
              f"{ms(median(last, 'blackout'))} ms, boot {ms(median(first, 'boot'))} / {ms(median(last, 'boot'))} ms "
              "(boot does the same work every time: when it changes by the same factor as the blackout, the "
              "host's speed changed, not the hypervisor)")
    print(f"soak: {len(samples)} updates committed, {sum(rollbacks.values())} attempts rolled back "
          f"({', '.join(f'{k} {v}' for k, v in sorted(rollbacks.items())) or 'none'}), no guest lost")
    if checker.warnings:
        print(f"soak: {len(checker.warnings)} hypervisor warnings, e.g.: {checker.warnings[0]}")
    print(f"soak: serial log in {kept_log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
