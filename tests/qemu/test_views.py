# SPDX-License-Identifier: MIT
"""QEMU tests of alternate p2m views: a view remaps and restricts what the views guest
sees, log-dirty records its writes through the view, and views, their rights, the vCPU's
view and the dirty bits all survive live updates A -> B -> A."""

import re
import subprocess

from baton_qemu import Machine, make_iso
from test_kexec import expect, stripped
from test_live_update import dirty_frames


def boot_views_guest(ctx, name):
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    modules = [(ctx.build / "guests" / "views.elf", "views start ram=8M")] + images
    iso = make_iso(ctx.scratch / f"{name}.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    return Machine(iso, ctx.scratch)


def guest_layout(machine):
    """The probe, target and written frames the guest announced."""
    machine.wait_for_pattern(r"views: probe=0x[0-9a-f]+ target=0x[0-9a-f]+ written=0x[0-9a-f]+-0x[0-9a-f]+", 60,
                             "the views guest's layout")
    match = re.search(r"views: probe=(0x[0-9a-f]+) target=(0x[0-9a-f]+) written=(0x[0-9a-f]+)-(0x[0-9a-f]+)",
                      machine.log)
    probe, target, first, last = (int(group, 16) for group in match.groups())
    return probe, target, set(range(first, last + 1))


def wait_for_round(machine, shows, what, rounds=2):
    """Waits until the guest reported `rounds` rounds after now, the last with the probe
    page showing `shows`; returns the log from now on."""
    at = len(machine.log)
    machine.wait_for_pattern(r"views: round \d+ probe-shows=" + shows, 30, what, count=rounds, start=at)
    return machine.log[at:]


def view_list(ctx, machine):
    out = expect(ctx, machine, 0, "view", "1", "list")
    return sorted(line for line in out.splitlines() if line.startswith(("view ", "entry ", "vcpu ")))


def check_no_stale_writes(log):
    stale = re.findall(r"views: round \d+ .* stale=([1-9]\d*)", log)
    assert not stale, f"the guest found pages not holding its last write: {stale}"
    assert "crashed" not in log and "PANIC" not in log and "EXCEPTION" not in log


def test_views_remap_restrict_and_survive_live_updates(ctx):
    with boot_views_guest(ctx, "views") as machine:
        probe, target, written = guest_layout(machine)
        wait_for_round(machine, "probe", "rounds in the host view")
        first, count = min(written), len(written)

        assert "index 1" in expect(ctx, machine, 0, "view", "1", "create")
        assert "index 2" in expect(ctx, machine, 0, "view", "1", "create")
        expect(ctx, machine, 0, "view", "1", "remap", "1", hex(probe), hex(target), "1", "rw")
        expect(ctx, machine, 0, "view", "1", "access", "1", hex(first), str(count), "rw")
        expect(ctx, machine, 0, "view", "1", "access", "2", hex(first), str(count), "r")
        # Bad requests are refused with a reason and change nothing.
        out = expect(ctx, machine, 1, "view", "1", "remap", "1", hex(probe), "0xfffff", "1", "rw")
        assert "not all RAM" in out, out
        out = expect(ctx, machine, 1, "view", "1", "access", "1", hex(first), "1", "w")
        assert "cannot be expressed" in out, out
        expect(ctx, machine, 1, "view", "1", "switch", "5")

        expect(ctx, machine, 0, "logdirty", "1", "enable")
        expect(ctx, machine, 0, "view", "1", "switch", "1")
        wait_for_round(machine, "target", "the probe page shows the target in view 1")
        out = expect(ctx, machine, 1, "view", "1", "destroy", "1")
        assert "in use" in out, out
        views_before = view_list(ctx, machine)
        assert "vcpu 0 view=1" in views_before, views_before
        assert any(f"gfn={hex(probe)} count=1 target={hex(target)} rights=rw" in line for line in views_before), \
            views_before

        # Update 1 with the guest running: nothing dirty before is lost, and its writes
        # through view 1 are tracked; the view is still the one it runs in.
        dirty_frames(ctx, machine, 1, "clean")
        wait_for_round(machine, "target", "rounds after the clean")
        before = dirty_frames(ctx, machine, 1)
        assert written <= before, f"writes through view 1 went untracked: {sorted(written - before)}"
        expect(ctx, machine, 0, "live-update", "--module", "baton-b")
        after = dirty_frames(ctx, machine, 1)
        assert before <= after, f"the update lost dirty frames: {sorted(before - after)}"
        assert view_list(ctx, machine) == views_before
        wait_for_round(machine, "target", "view 1 is still active after update 1")

        # Update 2 with the domain paused: the dirty bits come out exactly as they went in.
        expect(ctx, machine, 0, "pause", "1")
        dirty_frames(ctx, machine, 1, "clean")
        expect(ctx, machine, 0, "unpause", "1")
        wait_for_round(machine, "target", "rounds writing through view 1")
        expect(ctx, machine, 0, "pause", "1")
        before = dirty_frames(ctx, machine, 1)
        assert written <= before, f"writes through view 1 went untracked: {sorted(written - before)}"
        expect(ctx, machine, 0, "live-update", "--module", "baton-a")
        after = dirty_frames(ctx, machine, 1)
        assert after == before, f"dirty frames changed across the update: lost {sorted(before - after)}, " \
                                f"gained {sorted(after - before)}"
        assert view_list(ctx, machine) == views_before
        expect(ctx, machine, 0, "unpause", "1")
        wait_for_round(machine, "target", "view 1 is still active after update 2")

        # The consumed record carries the views and the vCPU's view.
        record = ctx.scratch / "views-record.bin"
        expect(ctx, machine, 0, "record", "--out", str(record))
        proc = subprocess.run([str(ctx.build / "bin" / "baton-inspect"), "validate", str(record)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"baton-inspect validate: {proc.stdout}{proc.stderr}"

        # Back to the host view; view 1 can go now.
        expect(ctx, machine, 0, "view", "1", "switch", "0")
        wait_for_round(machine, "probe", "the host view shows the probe page again")
        expect(ctx, machine, 0, "view", "1", "destroy", "1")
        check_no_stale_writes(machine.log)

        # View 2's rights survived both updates: a write there is denied.
        expect(ctx, machine, 0, "view", "1", "switch", "2")
        machine.wait_for_pattern(r"dom: d1 'views' crashed: nested page fault: write at guest-physical "
                                 + hex(first << 12) + r" in view 2", 30, "the write denied in view 2")
