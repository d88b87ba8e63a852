# SPDX-License-Identifier: MIT
"""QEMU tests of the update as a transaction (docs/live-update.md, "What can go wrong"):
a next image that fails before it commits, in each way `batonctl update-fault` can make
it fail, sends the machine back into the old image, which takes the guests back. After
every rollback: the client exits with its own status and says why, every guest resumes
(counter monotonic, memcheck clean, events flowing), the frame counts are what they were
before the attempt, `last-update` reports the failed build, its phase and its reason, and
the record validates. A good update afterwards commits, and its record carries the
rollbacks in its history."""

import re
import subprocess
import sys
from pathlib import Path

from baton_qemu import Machine, make_iso
from test_kexec import build_id, expect, stripped
from test_live_update import GUESTS, check_guest_history, inspect_record, memory_counts, wait_for_guests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from image_files import PT_LOAD, TRAILER_SIZE, program_headers, without_trailer  # noqa: E402

EXIT_ROLLED_BACK = 4
# Each fault, and what the old image must say about it afterwards.
FAULTS = [
    ("panic-early", r"panic: update: injected fault panic_early", "entered"),
    ("refuse-record", r"the handover record was refused: injected fault refuse_record", "entered"),
    ("hang-cli", r"watchdog: no commit in time", "record_parsed"),
    ("hang-sti", r"watchdog: no commit in time", "record_parsed"),
    ("fail-domain", r"domain 3 cannot be rebuilt \(error -22\)", "record_parsed"),
    ("exception-restore", r"exception 6 \(invalid opcode\)", "record_parsed"),
]


def test_every_failure_before_the_commit_rolls_back(ctx):
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    modules = [(ctx.build / "guests" / elf, string) for elf, string in GUESTS] + images
    iso = make_iso(ctx.scratch / "rollback.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        machine.wait_for_pattern(r"update: this image's copy is boot module 'baton-self'", 5, "the way back known")
        wait_for_guests(machine)
        # A rollback into the image that was booted cold, then a good update from it: its
        # next record must still say that no update started it (generation 0).
        cold = memory_counts(ctx, machine)
        expect(ctx, machine, 0, "raw", "update-fault refuse-record")
        expect(ctx, machine, EXIT_ROLLED_BACK, "live-update", "--module", "baton-b", timeout=60)
        wait_for_guests(machine, after=len(machine.log))
        assert memory_counts(ctx, machine)[1] == cold[1], "the preserved frames changed"
        # One good update: from then on every boot is a live-update boot, whose memory
        # use (a copy of the record it came from) a rollback boot shares.
        out = expect(ctx, machine, 0, "live-update", "--module", "baton-b")
        assert "outcome committed" in out and "generation 1" in out, out
        wait_for_guests(machine, after=len(machine.log))
        counts = memory_counts(ctx, machine)

        for attempt, (fault, reason, phase) in enumerate(FAULTS, start=1):
            before = len(machine.log)
            expect(ctx, machine, 0, "raw", f"update-fault {fault}")
            out = expect(ctx, machine, EXIT_ROLLED_BACK, "live-update", "--module", "baton-a", timeout=60)
            assert "the update was rolled back" in out and re.search(reason, out), f"{fault}: {out}"
            machine.wait_for_pattern(r"update: ROLLED BACK: build \S+-A failed", 30, f"{fault}: rolled back",
                                     start=before)
            machine.wait_for_pattern(r"control: listening on COM2", 30, f"{fault}: control up", start=before)
            assert build_id(ctx, machine).endswith("-B"), f"{fault}: the old image should run again"
            wait_for_guests(machine, after=len(machine.log))
            assert memory_counts(ctx, machine) == counts, f"{fault}: the frame counts changed"
            report = expect(ctx, machine, 0, "raw", "last-update")
            assert "outcome rolled-back" in report and f"phase={phase}" in report, f"{fault}: {report}"
            assert re.search(r"failed build=\S+-A", report) and f"rollbacks {attempt + 1}" in report, report
            assert "domains restored=3 of=3" in report, report
            inspect_record(ctx, machine, f"rollback-{fault}")
            assert "events: hypervisor changed" not in machine.log[before:], \
                f"{fault}: the guests saw a new hypervisor, though the old one took them back"

        # With the fault gone, the same update commits; its record keeps the history.
        after = len(machine.log)
        out = expect(ctx, machine, 0, "live-update", "--module", "baton-a")
        assert "outcome committed" in out and f"rollbacks {len(FAULTS) + 1}" in out, out
        assert re.search(r"previous-failure build=\S+-A", out), out
        machine.wait_for_pattern(r"update: from \S+ \(build \S+-B\), generation 2, 3 of 3 domains", 60,
                                 "the good update", start=after)
        wait_for_guests(machine, after=len(machine.log))
        decoded = inspect_record(ctx, machine, "after-rollbacks")
        assert re.search(r"rollback", decoded, re.I), decoded[-2000:]
        # The failed images' own panic and exception are the only ones; the guests' history
        # holds across everything.
        log = machine.log
        assert log.count("update: rolling back to the previous image") == len(FAULTS) + 1
        assert re.findall(r"PANIC: .*", log) == ["PANIC: update: injected fault panic_early"], log
        assert len(re.findall(r"EXCEPTION \d+", log)) == 1, re.findall(r"EXCEPTION .*", log)
        check_guest_history(re.sub(r"(PANIC|EXCEPTION)", "failed-image", log))


def damaged(data: bytes) -> bytes:
    """64 bytes in the middle of the executable segment changed; every header intact."""
    _, headers = program_headers(data)
    offset, size = next((offset, filesz) for p_type, flags, offset, _, _, filesz, _, _ in headers
                        if p_type == PT_LOAD and flags & 1 and filesz >= 4096)
    at = offset + size // 2
    return data[:at] + bytes(b ^ 0x5a for b in data[at:at + 64]) + data[at + 64:]


def signed_with_another_key(ctx, data: bytes) -> bytes:
    """The same image, signed by a key this hypervisor does not trust."""
    key, public, message, signature = (ctx.scratch / name for name in ("other.pem", "other.raw", "msg", "sig"))
    sealed, out = ctx.scratch / "resealed.elf", ctx.scratch / "other-signed.elf"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    public.write_bytes(der[-32:])
    unsigned = ctx.scratch / "unsigned.elf"
    unsigned.write_bytes(without_trailer(data))
    tool = str(ctx.build / "bin" / "baton-image")
    subprocess.run([tool, "seal", str(unsigned), str(sealed), str(message)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(key), "-in", str(message), "-out",
                    str(signature)], check=True, capture_output=True)
    subprocess.run([tool, "attach", str(sealed), str(signature), str(public), str(out)], check=True,
                   capture_output=True)
    return out.read_bytes()


def test_damaged_or_unsigned_images_are_refused_before_the_jump(ctx):
    """Each bad image is refused by the running image with the reason, before anything
    irreversible: the guests run on, the frame counts do not change, and a good image is
    taken afterwards."""
    good = stripped(ctx, "baton-b.elf").read_bytes()
    assert good[-TRAILER_SIZE:].startswith(b"BATONSIG")
    cases = [
        ("damaged", damaged(good), r"digest mismatch: the image is damaged"),
        ("truncated", good[:len(good) * 2 // 3], r"ELF: segment \d+: .* lie outside the file"),
        ("unsigned", without_trailer(good), r"image: unsigned"),
        ("other-key", signed_with_another_key(ctx, good), r"signed with a key this hypervisor does not trust"),
    ]
    modules = [(ctx.build / "guests" / elf, string) for elf, string in GUESTS]
    iso = make_iso(ctx.scratch / "refuse.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M", modules)
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        wait_for_guests(machine)
        counts = memory_counts(ctx, machine)
        for name, data, reason in cases:
            path = ctx.scratch / f"{name}.elf"
            path.write_bytes(data)
            out = expect(ctx, machine, 1, "live-update", "--image", str(path), timeout=60)
            assert re.search(reason, out), f"{name}: {out}"
            wait_for_guests(machine, after=len(machine.log))
            assert build_id(ctx, machine).endswith("-A"), name
            assert memory_counts(ctx, machine) == counts, f"{name}: the frame counts changed"
        out = expect(ctx, machine, 0, "live-update", "--image", str(stripped(ctx, "baton-b.elf")), timeout=60)
        assert "outcome committed" in out, out
        wait_for_guests(machine, after=len(machine.log))
        machine.wait_for_pattern(r"update: this image's copy is the record's", 5, "B keeps its uploaded file")
        # An uploaded image that fails: the way back is B's own uploaded copy, and the failed
        # upload's frames are given back.
        counts = memory_counts(ctx, machine)
        expect(ctx, machine, 0, "update-fault", "fail-domain")
        out = expect(ctx, machine, EXIT_ROLLED_BACK, "live-update", "--image", str(stripped(ctx, "baton.elf")),
                     timeout=60)
        assert "domain 3 cannot be rebuilt" in out, out
        assert build_id(ctx, machine).endswith("-B")
        wait_for_guests(machine, after=len(machine.log))
        assert memory_counts(ctx, machine) == counts, "the failed upload's frames were not given back"
        # The hypervisor's refusal says "digest mismatch"; memcheck's word is its own.
        check_guest_history(machine.log.replace("digest mismatch", "digest differs"))
