# SPDX-License-Identifier: MIT
"""CLI tests for batonctl's live-update commands (live-update, last-update, record,
update-fault) against control-test-server, whose fake hypervisor plays the jump: after
accepting `live-update` it reads nothing for a blackout, then a "new image" with another
build id comes up on the same connection, having dropped the first bytes sent meanwhile
and emitted some noise, as a real port reset does."""

import random
import zlib

from test_batonctl import SOCKET, Server, expect, run, scripted_server, session


def image(ctx, name="next.elf", size=3000, seed=7):
    data = bytes(random.Random(seed).getrandbits(8) for _ in range(size))
    (ctx.scratch / name).write_bytes(data)
    return name, data


def lines_of(proc):
    return proc.out.splitlines()


# ---- usage -------------------------------------------------------------------------------------

def test_help_lists_the_update_commands(ctx):
    proc = expect(run(ctx, "help"), 0)
    for word in ("live-update (--image PATH | --module NAME) [--timeout SECONDS]", "last-update",
                 "record --out FILE [--snapshot]", "update-fault FAULT", "KIND: record, snapshot"):
        assert word in proc.out, f"help does not mention {word!r}:\n{proc.out}"


def test_update_usage_errors_exit_2_without_connecting(ctx):
    image(ctx)
    synopsis = "usage: batonctl live-update (--image PATH | --module NAME) [--timeout SECONDS]"
    cases = [
        (["live-update"], "give either --image PATH or --module NAME"),
        (["live-update", "--image", "next.elf", "--module", "b"], "give either --image PATH or --module NAME"),
        (["live-update", "next.elf"], "unexpected argument 'next.elf'"),
        (["live-update", "--image"], "--image needs a value"),
        (["live-update", "--image", "next.elf", "--image", "x"], "--image given twice"),
        (["live-update", "--imag", "next.elf"], "unknown option '--imag'"),
        (["live-update", "--image", "missing.elf"], "cannot read 'missing.elf'"),
        (["live-update", "--module", "a b"], "contains a blank"),
        (["live-update", "--module=b", "--timeout", "never"], "--timeout wants seconds"),
        (["live-update", "--module=b", "--timeout=0"], "--timeout wants seconds"),
        (["record"], "--out FILE is required"),
        (["record", "--snapshot"], "--out FILE is required"),
        (["record", "--out"], "--out needs a value"),
        (["record", "--out", "r.bin", "--snapshot=yes"], "--snapshot takes no value"),
        (["record", "--out", "r.bin", "--kind", "x"], "unknown option '--kind'"),
        (["last-update", "now"], "usage: batonctl last-update"),
        (["update-fault"], "usage: batonctl update-fault FAULT"),
        (["update-fault", "a", "b"], "usage: batonctl update-fault FAULT"),
    ]
    for args, message in cases:
        proc = expect(run(ctx, "--socket", "absent.sock", *args), 2, stderr=message)
        assert "--help" in proc.err, proc.err
        if args[0] == "live-update" and "cannot read" not in message and "blank" not in message \
                and "--timeout" not in message:
            assert synopsis in proc.err, proc.err


# ---- live-update ---------------------------------------------------------------------------------

def test_live_update_with_an_image_reports_the_new_image(ctx):
    name, data = image(ctx)
    with Server(ctx, blackout=1.0):
        expect(run(ctx, "--socket", SOCKET, "last-update"), 1,
               stderr="error ENOENT this image was not started by a live update")
        proc = expect(run(ctx, "--socket", SOCKET, "live-update", "--image", name), 0)
        lines = lines_of(proc)
        assert lines[:7] == [
            f"upload image complete: {len(data)} bytes, crc32 {zlib.crc32(data):08x}",
            "next 0.1.0-test build=control-test-server-1",
            "record bytes=108 at=0x1000000 domains=2",
            "phase check us=150",
            "phase pause us=270",
            "phase serialize us=560",
            "live-update: entering the staged image",
        ], lines
        assert lines[7].startswith("new image answered after "), lines
        assert lines[8:] == [
            "baton version=0.1.0-test build=control-test-server-1 protocol=1 chunk_size=512",
            "from 0.1.0-test build=control-test-server",
            "to 0.1.0-test build=control-test-server-1",
            "generation 1",
            "domains restored=2 of=2",
            "record bytes=108",
            "phase check us=150",
            "phase pause us=270",
            "phase serialize us=560",
            "phase jump us=499720",
            "phase boot us=249860",
            "phase restore us=124930",
            "phase resume us=124930",
            "phase blackout us=1000000",
        ], lines
        # Nothing from the wait (noise, answers to earlier syncs) leaks into the output.
        assert "sync" not in proc.out and "~" not in proc.out, proc.out
        assert proc.seconds < 10, f"took {proc.seconds:.1f} s"

        # The new image keeps the domains and answers every later client normally.
        expect(run(ctx, "--socket", SOCKET, "list"), 0, stdout="domain id=2 name=idle state=paused")
        expect(run(ctx, "--socket", SOCKET, "last-update"), 0, stdout="generation 1\n")

        # And it can be updated again, this time from a boot module.
        proc = expect(run(ctx, "--socket", SOCKET, "live-update", "--module", "baton-b", "--timeout", "20"), 0,
                      stdout="live-update: entering boot module baton-b\n")
        assert "upload" not in proc.out, proc.out
        for line in ("from 0.1.0-test build=control-test-server-1", "to 0.1.0-test build=control-test-server-2",
                     "generation 2"):
            assert line in lines_of(proc), proc.out


def test_live_update_refusals_exit_1_and_change_nothing(ctx):
    name, _ = image(ctx)
    with Server(ctx, blackout=0.2):
        expect(run(ctx, "--socket", SOCKET, "raw", "live-update"), 1,
               stdout="error ENOENT no image is staged; upload one or name a boot module")
        proc = expect(run(ctx, "--socket", SOCKET, "live-update", "--module", "nosuch"), 1,
                      stderr="batonctl: error ENOENT no boot module named 'nosuch'")
        assert proc.out == "", proc.out

        expect(run(ctx, "--socket", SOCKET, "update-fault", "gremlins"), 1,
               stderr="error EINVAL unknown fault 'gremlins' (known: bootmem-violation")
        expect(run(ctx, "--socket", SOCKET, "update-fault", "bootmem-violation"), 0,
               stdout="update-fault: bootmem-violation armed for the next live-update")
        proc = expect(run(ctx, "--socket", SOCKET, "live-update", "--image", name), 1,
                      stderr="batonctl: error EBUSY invariant check failed: domain 1 owns frame 0x2000 inside "
                             "lu_bootmem; domains resumed")
        # The upload went through; then the refusal, and nothing was waited for.
        assert len(lines_of(proc)) == 1 and lines_of(proc)[0].startswith("upload image complete"), proc.out
        expect(run(ctx, "--socket", SOCKET, "version"), 0, stdout="build=control-test-server protocol")
        expect(run(ctx, "--socket", SOCKET, "last-update"), 1, stderr="error ENOENT")

        expect(run(ctx, "--socket", SOCKET, "update-fault", "record-overflow"), 0)
        expect(run(ctx, "--socket", SOCKET, "live-update", "--module", "baton-b"), 1,
               stderr="error ENOSPC the record does not fit")
        # A fault fires once: the next attempt goes through (the image is still staged).
        expect(run(ctx, "--socket", SOCKET, "raw", "live-update"), 0,
               stdout="ok live-update: entering the staged image")


def test_new_image_that_never_answers_times_out_with_3(ctx):
    name, _ = image(ctx)
    with Server(ctx, mode="update-hangs"):
        proc = expect(run(ctx, "--socket", SOCKET, "live-update", "--image", name, "--timeout", "2"), 3,
                      stdout="live-update: entering the staged image",
                      stderr="batonctl: timeout: the new image did not answer within 2.0 s (")
        assert "syncs sent); nothing arrived meanwhile" in proc.err, proc.err
        assert 2 <= proc.seconds < 8, f"took {proc.seconds:.1f} s for a 2 s timeout"


def test_connection_closed_while_waiting_shows_what_arrived(ctx):
    answer = b". phase pause us=1\nok live-update: entering boot module b\n\x00\xffgarbage\r\nhalf"
    thread = scripted_server(ctx, answer, hold=0.5)
    proc = expect(run(ctx, "--socket", SOCKET, "live-update", "--module", "b", "--timeout", "10"), 3,
                  stdout="phase pause us=1\nlive-update: entering boot module b\n",
                  stderr="connection closed after ")
    assert "while waiting for the new image; what arrived meanwhile:\n  \\x00\\xffgarbage\n  half" in proc.err, \
        proc.err
    assert proc.seconds < 6, f"took {proc.seconds:.1f} s"
    thread.join(10)


def test_new_image_starts_with_a_fresh_channel(ctx):
    """At the protocol level: the old image answers and then reads nothing; the new one
    lost the first bytes sent meanwhile, so a sync cut in two is answered as garbage, and
    the Ctrl-U of the next one brings the stream back in step."""
    with Server(ctx, blackout=0.3):
        with session(ctx) as request:
            assert request(b"live-update module=baton-b\n")[-1] == "ok live-update: entering boot module baton-b"
            # Sent during the blackout; the new image's port drops the first 16 bytes, which
            # leaves "-gone" of the first sync, and the noise of its reset ends without a line
            # end, so the answer to that remnant shares the noise's line.
            lines = request(b"\x15sync first-sync-gone\n\x15sync s2\n")
            assert lines[-2].endswith("~~ port reset ~~error ENOSYS unknown command '-gone'; "
                                      "'help' lists the commands"), lines
            assert lines[-1] == "ok sync s2", lines
            assert request(b"version\n")[0].startswith(". baton version=0.1.0-test build=control-test-server-1 ")


# ---- records and the update report ---------------------------------------------------------------

def test_record_and_snapshot(ctx):
    with Server(ctx, blackout=0.2):
        expect(run(ctx, "--socket", SOCKET, "record", "--out", "r.bin"), 1, stderr="error ENOENT no record stored yet")
        assert not (ctx.scratch / "r.bin").exists()
        proc = expect(run(ctx, "--socket", SOCKET, "record", "--snapshot", "--out", "s0.bin"), 0)
        snapshot = (ctx.scratch / "s0.bin").read_bytes()
        assert proc.out == f"downloaded snapshot: {len(snapshot)} bytes to s0.bin\n", proc.out
        assert b"generation=0\n" in snapshot and b"domain id=1 name=counter state=running" in snapshot

        expect(run(ctx, "--socket", SOCKET, "pause", "1"), 0)
        expect(run(ctx, "--socket", SOCKET, "live-update", "--module", "baton-b"), 0)
        # The new image gives the record it was started from, and a snapshot of now.
        expect(run(ctx, "--socket", SOCKET, "record", "--out=r.bin"), 0, stdout="downloaded record: ")
        record = (ctx.scratch / "r.bin").read_bytes()
        assert b"generation=0\n" in record and b"domain id=1 name=counter state=paused" in record, record
        proc = expect(run(ctx, "--socket", SOCKET, "record", "--out", "-", "--snapshot"), 0)
        assert b"generation=1\n" in proc.stdout and proc.stdout.startswith(b"fake handover record\n"), proc.stdout
        assert not (ctx.scratch / "-").exists()
