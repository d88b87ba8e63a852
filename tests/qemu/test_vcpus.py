# SPDX-License-Identifier: MIT
"""QEMU test of multi-vCPU domains on a 4-CPU machine (docs/vcpus.md, docs/smp.md): counter
and memcheck with 1, 2 and 4 vCPUs side by side, spread over all four CPUs. Every vCPU of
every domain makes progress; memcheck's per-vCPU slices never mismatch and its shared
page holds exactly what all vCPUs added (atomic adds from vCPUs on different CPUs). Then
ten live updates, each stopping and restarting every CPU, and a rollback: each vCPU resumes
where it was, nothing leaks, every record validates and carries every vCPU and the CPU it
ran on. Bad vcpus= values are refused by the module parser and by `create`."""

import re
from collections import defaultdict

from baton_qemu import Machine, make_iso
from test_kexec import batonctl, build_id, expect, stripped
from test_live_update import inspect_record, memory_counts

UPDATES = 10
CPUS = 4
EXIT_ROLLED_BACK = 4
# (module string, vCPUs): two guests, each with 1, 2 and 4 vCPUs.
DOMAINS = [("counter", 1), ("counter2", 2), ("counter4", 4), ("memcheck", 1), ("memcheck2", 2), ("memcheck4", 4)]
BAD_MODULES = [("counter.elf", "bad0 vcpus=0"), ("counter.elf", "bad9 vcpus=9"),
               ("counter.elf", "pcsmp kind=pc vcpus=2"), ("counter.elf", "pcfake kind=pc")]


def modules(ctx):
    guests = []
    for name, vcpus in DOMAINS:
        elf = "counter.elf" if name.startswith("counter") else "memcheck.elf"
        guests.append((ctx.build / "guests" / elf, f"{name} start ram=8M vcpus={vcpus}"))
    bad = [(ctx.build / "guests" / elf, string) for elf, string in BAD_MODULES]
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    return guests + bad + images


def whole_lines(log):
    """The log up to its last newline: the line after it may still be arriving."""
    return log[:log.rfind("\n") + 1]


def counter_ticks(log, name):
    """Every tick line of counter domain `name`: [(tick, [count per vCPU])]."""
    log = whole_lines(log)
    ticks = []
    for tick, rest in re.findall(rf"\[d\d+ {name}\] counter: tick (\d+) count=\d+ (.*)", log):
        counts = re.search(r"counts=([\d,]+)", rest)
        ticks.append((int(tick), [int(c) for c in counts.group(1).split(",")] if counts else None))
    return ticks


def shared_passes(log, name):
    """memcheck domain `name`'s shared-page checks: [(pass, vcpus, total, expected, wrong)]."""
    return [tuple(int(v) for v in m) for m in re.findall(
        rf"\[d\d+ {name}\] memcheck: shared pass (\d+) vcpus=(\d+) total=(\d+) expected=(\d+) wrong_words=(\d+)",
        whole_lines(log))]


def wait_for_progress(machine, after, what):
    """Each domain reports progress past byte `after`: SMP counters their per-vCPU counts,
    SMP memchecks a shared check; single-vCPU ones their usual lines."""
    for name, vcpus in DOMAINS:
        if name.startswith("counter"):
            pattern = rf"\[d\d+ {name}\] counter: tick \d+ count=\d+" + (r" .*counts=" if vcpus > 1 else "")
        else:
            pattern = rf"\[d\d+ {name}\] memcheck: " + (r"shared pass \d+" if vcpus > 1 else r"pass \d+ verified")
        machine.wait_for_pattern(pattern, 90, f"{what}: {name} progressing", start=after)


def check_counters_advance(log, before, after, what):
    """Every vCPU of every SMP counter counted between the last tick before byte `before`
    and the last tick after it, and no count ever went back."""
    for name, vcpus in DOMAINS:
        if not name.startswith("counter") or vcpus == 1:
            continue
        ticks = [t for t in counter_ticks(log, name) if t[1] is not None]
        assert ticks and all(len(c) == vcpus for _, c in ticks), f"{name}: tick lines {ticks[-3:]}"
        for (_, a), (_, b) in zip(ticks, ticks[1:]):
            assert all(y >= x for x, y in zip(a, b)), f"{name}: a vCPU's count went back: {a} -> {b}"
        earlier = [t for t in counter_ticks(log[:before], name) if t[1] is not None]
        if earlier:
            first, last = earlier[-1][1], ticks[-1][1]
            assert all(y > x for x, y in zip(first, last)), f"{what}: {name}: not every vCPU counted: {first} -> {last}"


def check_memchecks(log):
    """No mismatch anywhere; each vCPU's checksum never changes; every shared check exact."""
    log = whole_lines(log)
    assert "mismatch" not in log.replace("mismatches=0", ""), "memcheck found a mismatch"
    checksums = defaultdict(set)
    for name, rest in re.findall(r"\[d\d+ (memcheck\d?)\] memcheck: pass \d+ verified \d+ pages (.*)", log):
        vcpu = re.search(r"vcpu=(\d+)", rest)
        checksums[(name, vcpu.group(1) if vcpu else "0")].add(re.search(r"checksum=(0x[0-9a-f]+)", rest).group(1))
    for name, vcpus in DOMAINS:
        if not name.startswith("memcheck"):
            continue
        for vcpu in range(vcpus):
            seen = checksums.get((name, str(vcpu)))
            assert seen and len(seen) == 1, f"{name} vCPU {vcpu}: checksums {seen}"
        if vcpus > 1:
            passes = shared_passes(log, name)
            assert passes, f"{name}: no shared check"
            for number, count, total, expected, wrong in passes:
                assert count == vcpus and total == expected and wrong == 0, \
                    f"{name}: shared pass {number}: total {total}, expected {expected}, {wrong} words wrong"
            numbers = [p[0] for p in passes]
            assert numbers == list(range(1, len(numbers) + 1)), f"{name}: shared passes {numbers}"


def check_list(ctx, machine):
    """`list` shows each domain's vCPU count and every vCPU's state (none down) and CPU.
    Returns the set of CPUs the vCPUs last ran on."""
    out = expect(ctx, machine, 0, "list")
    cpus = set()
    for name, vcpus in DOMAINS:
        line = re.search(rf"domain id=\d+ name={name} state=running ram=\d+ vcpus={vcpus} vcpu-states=(\S+) "
                         r"vcpu-cpus=(\S+)", out)
        assert line, f"{name}: {out}"
        states = line.group(1).split(",")
        assert len(states) == vcpus and all(s in ("running", "blocked") for s in states), f"{name}: {line.group(0)}"
        where = line.group(2).split(",")
        assert len(where) == vcpus and all(c == "-" or 0 <= int(c) < CPUS for c in where), f"{name}: {line.group(0)}"
        cpus.update(int(c) for c in where if c != "-")
    return cpus


def check_record(ctx, machine, name):
    """Every vCPU of every domain is in the record; returns the CPUs they last ran on."""
    decoded = inspect_record(ctx, machine, name)
    cpus = set()
    for domain, vcpus in DOMAINS:
        block = re.search(rf'domain \d+ "{domain}".*?(?=\ndomain \d+ "|\Z)', decoded, re.S)
        assert block, f"{name}: no domain {domain} in the record"
        states = re.findall(r"\n  vcpu (\d+): (\w+), p2m view \S+( \(host\))?, last ran on CPU (\d+)", block.group(0))
        assert [int(s[0]) for s in states] == list(range(vcpus)), f"{name}: {domain}: vCPUs {states}"
        assert all(s[1] in ("runnable", "blocked") for s in states), f"{name}: {domain}: {states}"
        cpus.update(int(s[3]) for s in states)
    return cpus


def test_domains_with_one_two_and_four_vcpus(ctx):
    iso = make_iso(ctx.scratch / "vcpus.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules(ctx))
    with Machine(iso, ctx.scratch, cpus=CPUS) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        log = machine.log
        assert re.search(r"module \d+ \('bad0 vcpus=0'\) ignored: 'vcpus=0': a domain has 1 to 8 vCPUs", log), \
            machine.describe()
        assert re.search(r"module \d+ \('bad9 vcpus=9'\) ignored: 'vcpus=9': a domain has 1 to 8 vCPUs", log)
        assert re.search(r"module \d+ \('pcsmp kind=pc vcpus=2'\) ignored: vcpus=2: a kind=pc guest has exactly "
                         r"one vCPU for now", log)
        for name, vcpus in DOMAINS:
            assert re.search(rf"d\d+ '{name}' created: baton guest, 8 MiB RAM, {vcpus} vCPUs?,", log), name
            for vcpu in range(1, vcpus):
                machine.wait_for_pattern(rf"\[d\d+ {name}\] \w+: vcpu {vcpu} up", 60, f"{name} vCPU {vcpu} up")

        # `create` refuses what cannot be, and nothing else changes.
        for args, message in ((["vcpus=0"], r"vcpus is a number from 1 to"),
                              (["vcpus=9"], r"vcpus=9: a domain has 1 to 8 vCPUs")):
            code, out = batonctl(ctx, machine, "create", "counter", "name=nope", *args)
            assert code != 0 and re.search(message, out), f"create {args}: {code} {out}"
        code, out = batonctl(ctx, machine, "create", "pcfake", "vcpus=2")
        assert code != 0 and "a kind=pc guest has exactly one vCPU" in out, f"{code} {out}"
        assert "nope" not in expect(ctx, machine, 0, "list")

        assert f"smp: {CPUS} of {CPUS} CPUs up" in machine.log, machine.describe()
        wait_for_progress(machine, 0, "boot")
        wait_for_progress(machine, len(machine.log), "boot, again")
        # The 13 vCPUs are placed over the four CPUs; every CPU runs some.
        assert check_list(ctx, machine) == set(range(CPUS)), expect(ctx, machine, 0, "list")
        check_counters_advance(machine.log, 0, len(machine.log), "boot")
        steady = memory_counts(ctx, machine)

        quiesce_us = []  # how long each update took to get every vCPU off every CPU
        for update in range(1, UPDATES + 1):
            variant = "B" if update % 2 else "A"
            before = len(machine.log)
            out = expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant.lower()}")
            assert "phase blackout us=" in out, out
            quiesce = re.search(r"quiesce us=(\d+) cpus=(\d+)", out)
            assert quiesce and int(quiesce.group(2)) == CPUS, out
            quiesce_us.append(int(quiesce.group(1)))
            machine.wait_for_pattern(rf"update: from \S+ \(build \S+\), generation {update}, 6 of 6 domains", 60,
                                     f"update {update} restored", start=before)
            machine.wait_for_pattern(rf"smp: {CPUS} of {CPUS} CPUs up", 60, f"update {update}: CPUs up", start=before)
            machine.wait_for_pattern(r"control: listening on COM2", 60, f"update {update}: control up", start=before)
            assert build_id(ctx, machine).endswith(f"-{variant}")
            wait_for_progress(machine, len(machine.log), f"update {update}")
            check_counters_advance(machine.log, before, len(machine.log), f"update {update}")
            # Each vCPU went back to the CPU it ran on, once that CPU was up again.
            assert check_list(ctx, machine) == set(range(CPUS)), expect(ctx, machine, 0, "list")
            counts = memory_counts(ctx, machine)
            assert counts == steady or update == 1, f"update {update}: free/preserved frames {counts}, {steady}"
            steady = counts
            if update in (1, UPDATES):
                ran_on = check_record(ctx, machine, f"vcpus-record-{update}")
                assert ran_on == set(range(CPUS)), f"update {update}: the record's vCPUs ran on CPUs {ran_on}"

        print(f"    quiesce of 13 vCPUs on {CPUS} CPUs, us: {quiesce_us} (median {sorted(quiesce_us)[len(quiesce_us) // 2]})")

        # A rollback (the next image fails to rebuild a domain): the old image takes every
        # vCPU back, as it was.
        before = len(machine.log)
        expect(ctx, machine, 0, "raw", "update-fault fail-domain")
        running = "B" if UPDATES % 2 else "A"
        other = "a" if running == "B" else "b"
        out = expect(ctx, machine, EXIT_ROLLED_BACK, "live-update", "--module", f"baton-{other}", timeout=60)
        assert "the update was rolled back" in out, out
        machine.wait_for_pattern(r"control: listening on COM2", 60, "rollback: control up", start=before)
        assert build_id(ctx, machine).endswith(f"-{running}"), build_id(ctx, machine)
        wait_for_progress(machine, len(machine.log), "rollback")
        check_counters_advance(machine.log, before, len(machine.log), "rollback")
        assert memory_counts(ctx, machine) == steady, "the rollback changed the frame counts"
        check_list(ctx, machine)

        log = machine.log
        check_memchecks(log)
        assert "crashed" not in log and "PANIC" not in log and "EXCEPTION" not in log, machine.describe()
        assert not re.search(r"\] \w+: ERROR", log), re.findall(r".*: ERROR.*", log)[:5]
