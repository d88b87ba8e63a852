# SPDX-License-Identifier: MIT
"""QEMU tests of live update: the counter, memcheck and events guests keep running while
the hypervisor is replaced A -> B -> A -> ... (images preloaded as boot modules, and one
uploaded); after every update each guest makes progress, memcheck sees no mismatch, the
counter never goes back, events keep arriving, no frame leaks, and the record the new
image consumed decodes and validates with baton-inspect. Refusals leave the guests
running."""

import re
import statistics
import struct
import subprocess
import time

from baton_qemu import Machine, boot, make_iso
from test_kexec import batonctl, build_id, expect, stripped

UPDATES = 10
# The new image's boot line: where it runs (the old image placed it in a load slot).
IMAGE_AT = r"boot: image at (?P<base>0x[0-9a-f]+)-0x[0-9a-f]+ \(load delta (?P<delta>0x[0-9a-f]+)\)"
# The jump (serialized -> entered) copies no image any more: it was 25-60 ms under TCG
# while the trampoline copied the image over itself, 1-3 ms without. A loose bound, for a
# slow host: only a jump that copies again should cross it.
JUMP_MEDIAN_MAX_US = 15000
# The counter's first tick after an update must report a gap (max_gap_us) that covers the
# blackout, less this much for the two clocks' rounding and the guest's TSC-rate estimate...
GAP_BELOW_BLACKOUT_US = 2000
# ... and not much more than the whole update: on one CPU the image check holds the guests
# up as well, then the other domains may run first after the resume.
GAP_ABOVE_UPDATE_US = 1000 * 1000
GUESTS = [("counter.elf", "counter start ram=8M"), ("memcheck.elf", "memcheck start ram=8M"),
          ("events.elf", "events start ram=8M")]


def boot_with_guests(ctx, name, extra_modules=(), cpus=1):
    modules = [(ctx.build / "guests" / elf, string) for elf, string in GUESTS] + list(extra_modules)
    iso = make_iso(ctx.scratch / f"{name}.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    return Machine(iso, ctx.scratch, cpus=cpus)


def wait_for_guests(machine, after=0):
    """Waits until every guest printed progress past byte `after` of the log."""
    for pattern, what in ((r"counter: tick \d+", "counter ticking"),
                          (r"memcheck: pass \d+ verified", "memcheck pass"),
                          (r"events: timer events=[1-9]", "events arriving")):
        machine.wait_for_pattern(pattern, 60, what, start=after)


DEFERRED_DONE = "mem: deferred: 0 B free not yet in the heap, 0 B not yet in the frame table"


def memory_counts(ctx, machine, timeout=60):
    """Free and preserved frames, once the deferred start-up after an update is over (the
    counts are exact only then; docs/memory.md)."""
    deadline = time.monotonic() + timeout
    while True:
        out = expect(ctx, machine, 0, "mem")
        match = re.search(r"mem: free frames (\d+), preserved frames (\d+)", out)
        assert match, out
        if DEFERRED_DONE in out:
            return int(match.group(1)), int(match.group(2))
        assert time.monotonic() < deadline, f"the deferred start-up did not end in {timeout}s:\n{out}"


def check_guest_history(log):
    """What must hold over the whole log, across every update."""
    counts = [int(c) for c in re.findall(r"counter: tick \d+ count=(\d+)", log)]
    assert counts and all(b > a for a, b in zip(counts, counts[1:])), f"the counter went back: {counts}"
    assert "time went backwards" not in log
    assert "mismatch" not in log.replace("mismatches=0", ""), "memcheck found a mismatch"
    assert "ERROR no timer events" not in log
    assert "crashed" not in log and "PANIC" not in log and "EXCEPTION" not in log


def check_guest_gap(machine, update, report, after):
    """The counter's first tick after byte `after` (the new image's update line, printed
    before any guest runs again) must report a gap that covers the blackout of `report`
    (the live-update output) and is not far beyond the whole update."""
    phases = {name: int(us) for name, us in re.findall(r"phase (\w+) us=(\d+)", report)}
    tick = machine.wait_for_pattern(r"\[d\d+ counter\] counter: tick \d+ .*max_gap_us=(\d+)", 30,
                                    f"update {update}: the counter's first tick", start=after)[0]
    gap, blackout = int(tick.group(1)), phases["blackout"]
    whole = blackout + phases.get("check", 0) + phases.get("pause", 0)
    print(f"update {update}: blackout {blackout} us, from the request {whole} us, the counter saw {gap} us "
          f"(gap - blackout {gap - blackout} us)")
    assert blackout - GAP_BELOW_BLACKOUT_US <= gap <= whole + GAP_ABOVE_UPDATE_US, \
        f"update {update}: the counter saw a gap of {gap} us, the blackout was {blackout} us " \
        f"({whole} us from the request): {tick.group(0)}"


def inspect_record(ctx, machine, name):
    record = ctx.scratch / f"{name}.bin"
    expect(ctx, machine, 0, "download", "record", str(record))
    proc = subprocess.run([str(ctx.build / "bin" / "baton-inspect"), "validate", str(record)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"baton-inspect validate {record}: {proc.stdout}{proc.stderr}"
    decoded = subprocess.run([str(ctx.build / "bin" / "baton-inspect"), "decode", str(record)],
                             capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    return decoded.stdout


def test_live_update_ten_times_with_guests(ctx):
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    with boot_with_guests(ctx, "lu", images) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        wait_for_guests(machine)
        steady = None
        bases = [int(re.findall(IMAGE_AT, machine.log)[0][0], 16)]
        jumps = []
        for update in range(1, UPDATES + 1):
            variant = "B" if update % 2 else "A"
            before = len(machine.log)
            # The client uploads nothing here, waits for the new image and prints its report.
            out = expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant.lower()}")
            assert "phase serialize us=" in out and "phase blackout us=" in out, out
            assert re.search(rf"build=\S+-{variant}", out), out
            restored = machine.wait_for_pattern(
                rf"update: from \S+ \(build \S+\), generation {update}, 3 of 3 domains", 60,
                f"update {update} restored", start=before)[0]
            check_guest_gap(machine, update, out, before + restored.end())
            # Each image runs where the one before placed it, never over itself.
            at = re.search(IMAGE_AT, machine.log[before:])
            assert at, f"update {update}: no 'boot: image at' line"
            bases.append(int(at["base"], 16))
            assert bases[-1] != bases[-2], f"update {update}: the image runs at 0x{bases[-1]:x} again"
            assert int(at["delta"], 16) == bases[-1] - bases[0], at.group(0)
            jumps.append(int(re.search(r"phase jump us=(\d+)", out).group(1)))
            machine.wait_for_pattern(r"control: listening on COM2", 60, f"update {update}: control up",
                                     start=before)
            assert build_id(ctx, machine).endswith(f"-{variant}")
            wait_for_guests(machine, after=len(machine.log))
            machine.wait_for_pattern(rf"events: hypervisor changed: generation {update} build \S+-{variant}", 30,
                                     "the events guest saw the new hypervisor", start=before)
            counts = memory_counts(ctx, machine)
            if steady is None:
                steady = counts
            assert counts == steady, f"update {update}: free/preserved frames {counts}, after update 1 {steady}"
            report = expect(ctx, machine, 0, "raw", "last-update")
            assert f"generation {update}" in report and "phase blackout us=" in report, report
            decoded = inspect_record(ctx, machine, f"record-{update}")
            assert "counter" in decoded and "memcheck" in decoded and "events" in decoded
        check_guest_history(machine.log)
        # The first image measures the timers; every later one keeps its rates (record v7),
        # since measuring the LAPIC timer again would cost 6 ms of each blackout.
        rates = re.findall(r"timer: TSC (\d+) kHz, LAPIC timer (\d+) kHz", machine.log)
        assert len(rates) == UPDATES + 1 and len(set(rates)) == 1, rates
        assert f"local APIC timer: {rates[0][1]} kHz" in decoded, decoded[:400]
        print(f"image bases: {' '.join(hex(b) for b in bases)}; jump us: {jumps}, "
              f"median {statistics.median(jumps)}")


def test_live_update_refusals_keep_guests_running(ctx):
    junk = ctx.scratch / "junk.elf"
    junk.write_bytes(b"\x7fELF" + bytes(range(256)) * 8)
    newer = ctx.scratch / "needs-newer-reader.elf"
    newer.write_bytes(patch_read_versions(stripped(ctx, "baton-b.elf").read_bytes(), 99, 99))
    with boot_with_guests(ctx, "lu-refuse", [(junk, "junk"), (newer, "newer")]) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        wait_for_guests(machine)
        out = expect(ctx, machine, 1, "raw", "live-update")
        assert "no image is staged" in out, out
        # The staged image takes memory until it is used: count from here on.
        expect(ctx, machine, 0, "upload", "image", str(stripped(ctx, "baton-b.elf")))
        counts = memory_counts(ctx, machine)
        refusals = [
            ("live-update module=nonesuch", "no boot module named 'nonesuch'"),
            ("live-update module=junk", "ELF"),
            ("live-update module=newer", "record"),
        ]
        for line, reason in refusals:
            out = expect(ctx, machine, 1, "raw", line)
            assert reason in out, f"{line}: {out}"
        expect(ctx, machine, 0, "raw", "update-fault bootmem-violation")
        out = expect(ctx, machine, 1, "raw", "live-update")
        assert "invariant broken" in out and "bootmem region" in out, out

        after = len(machine.log)
        wait_for_guests(machine, after=after)
        assert build_id(ctx, machine).endswith("-A")
        assert memory_counts(ctx, machine) == counts, "a refused update changed the memory counts"
        check_guest_history(machine.log)
        # Once the fault is gone the update goes through, here the way a user runs it:
        # upload, update, wait for the new image and print its report.
        out = expect(ctx, machine, 0, "live-update", "--image", str(stripped(ctx, "baton-b.elf")))
        assert re.search(r"build=\S+-B", out) and "phase blackout us=" in out, out
        machine.wait_for_pattern(r"update: from \S+ \(build \S+-A\), generation 1, 3 of 3 domains", 60,
                                 "update after the refusals", start=after)
        wait_for_guests(machine, after=len(machine.log))
        check_guest_history(machine.log)


def patch_read_versions(image: bytes, min_read: int, max_read: int) -> bytes:
    """The image with its note claiming it reads only records min_read..max_read."""
    marker = b"Baton\0\0\0"
    at = image.find(marker)
    assert at > 12, "no Baton image note"
    # abi/image_note.h: after the note header and name comes the descriptor: note_version,
    # then the record versions written, min read and max read, as 32-bit numbers.
    desc = at + len(marker)
    note_version, written, low, high = struct.unpack_from("<IIII", image, desc)
    assert note_version >= 1 and low <= written <= high, (note_version, written, low, high)
    patched = bytearray(image)
    struct.pack_into("<II", patched, desc + 8, min_read, max_read)
    return bytes(patched)


def test_an_unusable_record_starts_no_guest_and_says_why(ctx):
    """A boot that names a record which is not there (here: RAM that holds no record)
    reports the reason and starts no guest, not even the boot modules' ones."""
    modules = [(ctx.build / "guests" / "counter.elf", "counter start ram=8M")]
    for record, reason in (("0x4000000,0x1000,0x12345678", r"the record's CRC-32 is 0x[0-9a-f]{8}, the old image "
                                                              r"announced 0x12345678: it was damaged"),
                           ("0x1800000,0x1000,0x0", r"lies in the bootmem region")):
        iso = make_iso(ctx.scratch / "bad-record.iso", ctx.build / "baton.elf",
                       f"loglevel=info lu_bootmem=16M@0x1000000 after_boot=exit lu_record={record}", modules)
        run = boot(iso, ctx.scratch, timeout=60)
        run.expect_status(33)
        run.expect(r"update: the handover record cannot be used: .*" + reason)
        run.expect(r"update: no guest is started")
        assert "counter: tick" not in run.log and "d1 'counter' created" not in run.log, run.describe()


def dirty_frames(ctx, machine, domain, op="peek"):
    """The frames `batonctl logdirty ID peek|clean` lists, as a set of guest frame numbers."""
    out = expect(ctx, machine, 0, "logdirty", str(domain), op)
    assert "ranges-not-shown" not in out, out
    frames = set()
    for first, end in re.findall(r"range (0x[0-9a-f]+)-(0x[0-9a-f]+)", out):
        frames.update(range(int(first, 16), int(end, 16)))
    total = int(re.search(r"dirty frames=(\d+)", out).group(1))
    assert total == len(frames), out
    return frames


def test_log_dirty_survives_live_updates(ctx):
    """A client tracking a guest's dirty pages loses none across an update: the bitmap
    is adopted in place and tracking goes on in the new image."""
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    modules = [(ctx.build / "guests" / "counter.elf", "counter start ram=8M")] + images
    iso = make_iso(ctx.scratch / "lu-dirty.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"counter: tick \d+", 60, "counter ticking")
        expect(ctx, machine, 0, "logdirty", "1", "enable")
        dirty_frames(ctx, machine, 1, "clean")
        for update, variant in ((1, "b"), (2, "a")):
            at = len(machine.log)
            machine.wait_for_pattern(r"counter: tick \d+", 30, "the counter writes", start=at)
            before = dirty_frames(ctx, machine, 1)
            assert before, "the counter dirtied nothing"
            expect(ctx, machine, 0, "live-update", "--module", f"baton-{variant}")
            after = dirty_frames(ctx, machine, 1)
            assert before <= after, f"update {update} lost dirty frames: {sorted(before - after)}"
            # Tracking goes on in the new image: after a clean, the counter's writes show
            # up again (its count lives in the frames it dirtied before).
            cleaned = dirty_frames(ctx, machine, 1, "clean")
            at = len(machine.log)
            machine.wait_for_pattern(r"counter: tick \d+", 30, "the counter writes after the update", start=at)
            again = dirty_frames(ctx, machine, 1)
            assert again & cleaned, f"writes after the update went untracked: {sorted(again)} vs {sorted(cleaned)}"
        record = ctx.scratch / "dirty-record.bin"
        expect(ctx, machine, 0, "record", "--out", str(record))
        stats = subprocess.run([str(ctx.build / "bin" / "baton-inspect"), "decode", str(record)],
                               capture_output=True, text=True, timeout=60)
        assert re.search(r"log-dirty: enabled, bitmap frames", stats.stdout), stats.stdout[-3000:]
        check_guest_history(machine.log)
