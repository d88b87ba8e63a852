# SPDX-License-Identifier: MIT
"""QEMU test of p2m changes seen by every vCPU (docs/p2m.md, "Concurrency"): the remap guest
moves its shared-info page between two of its RAM pages on vCPU 0 while its other vCPUs
read both pages once each move has returned, and every vCPU maps its own info page. A reader must always find the shared-info
page where it was just mapped and its own RAM, intact, where it was before; through a
live update as well."""

import re

from baton_qemu import Machine, make_iso
from test_kexec import expect, stripped
from test_live_update import inspect_record

# (domain name, vCPUs)
DOMAINS = [("remap2", 2), ("remap4", 4)]
ROUNDS = re.compile(r"\[d\d+ (remap\d)\] remap: round (\d+) vcpus=(\d+) stale_reads=(\d+) torn_pages=(\d+) "
                    r"failed_maps=(\d+) info_errors=(\d+) cpus=([\d,]+)")


def wait_for_rounds(machine, after, what):
    for name, _ in DOMAINS:
        machine.wait_for_pattern(rf"\[d\d+ {name}\] remap: round \d+", 120, f"{what}: {name} remapping", start=after)


def check_rounds(log):
    seen = {}
    for name, number, vcpus, stale, torn, failed, info_errors, cpus in ROUNDS.findall(log):
        assert (stale, torn, failed, info_errors) == ("0", "0", "0", "0"), \
            f"{name} round {number}: stale_reads={stale} torn_pages={torn} failed_maps={failed} info_errors={info_errors}"
        assert len(cpus.split(",")) == int(vcpus), f"{name} round {number}: cpus={cpus}"
        assert int(vcpus) == dict(DOMAINS)[name], f"{name}: {vcpus} vCPUs"
        assert int(number) > seen.get(name, 0), f"{name}: round {number} after {seen.get(name)}"
        seen[name] = int(number)
    return seen


def test_every_vcpu_sees_a_remap_once_it_returned(ctx):
    guests = [(ctx.build / "guests" / "remap.elf", f"{name} start ram=4M vcpus={vcpus}") for name, vcpus in DOMAINS]
    images = [(stripped(ctx, "baton-b.elf"), "baton-b")]
    iso = make_iso(ctx.scratch / "remap.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M",
                   guests + images)
    with Machine(iso, ctx.scratch, cpus=4) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        for name, vcpus in DOMAINS:
            machine.wait_for_pattern(rf"\[d\d+ {name}\] remap: pages at gfn 0x[0-9a-f]+ and 0x[0-9a-f]+, "
                                     rf"{vcpus - 1} readers", 60, f"{name} started")
        wait_for_rounds(machine, 0, "boot")
        before_update = check_rounds(machine.log)

        before = len(machine.log)
        out = expect(ctx, machine, 0, "live-update", "--module", "baton-b")
        assert "phase blackout us=" in out, out
        machine.wait_for_pattern(r"update: from \S+ \(build \S+\), generation 1, 2 of 2 domains", 60,
                                 "update restored", start=before)
        wait_for_rounds(machine, len(machine.log), "after the update")
        after_update = check_rounds(machine.log)
        # Every vCPU's info page travels in the record, mapped where its vCPU put it.
        decoded = inspect_record(ctx, machine, "remap-record")
        for name, vcpus in DOMAINS:
            block = re.search(rf'domain \d+ "{name}".*?(?=\ndomain \d+ "|\Z)', decoded, re.S).group(0)
            pages = re.findall(r"vcpuInfo\s+vcpu (\d+) guest 0x[0-9a-f]+ -> machine", block)
            assert sorted(int(p) for p in pages) == list(range(vcpus)), f"{name}: info pages {pages}"
            assert re.search(rf"handover record: \d+ bytes, ABI version 7 \(readers from version 7\)", decoded)
        assert all(after_update[n] > before_update[n] for n, _ in DOMAINS), (before_update, after_update)
        log = machine.log
        assert "crashed" not in log and "PANIC" not in log and "EXCEPTION" not in log, machine.describe()
        assert not re.search(r"\] remap: ERROR", log), re.findall(r".*remap: ERROR.*", log)[:5]
        print(f"remap rounds before the update {before_update}, after {after_update}")
