# SPDX-License-Identifier: MIT
"""baton-inspect: every subcommand on the golden records, and bad or hostile input.

Golden decoded text lives next to each record (tests/golden/v*/NAME.txt); run with
BATON_REGEN_GOLDEN=1 to rewrite it after an intended change of the text format.
"""

import array
import json
import os
import random
import re
import struct
import subprocess
from pathlib import Path

ROOT_DATA = 16  # segment table (8) + root pointer (8): the root struct's data starts here
MAGIC, ABI_VERSION, MIN_READER, TSC_KHZ = 0, 8, 12, 24  # byte offsets in the root's data


def inspect(ctx, *args, stdin=None, check_exit=None):
    proc = subprocess.run([str(ctx.build / "bin" / "baton-inspect"), *map(str, args)], input=stdin,
                          capture_output=True, timeout=60)
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    if check_exit is not None:
        assert proc.returncode == check_exit, \
            f"baton-inspect {' '.join(map(str, args))}: exit {proc.returncode}, wanted {check_exit}\n{out[-2000:]}{err}"
    return proc.returncode, out, err


def golden(ctx, name):
    return ctx.root / "tests" / "golden" / name


def patched(ctx, source, changes):
    """A copy of a golden record with (offset, struct format, value) changes applied."""
    data = bytearray(golden(ctx, source).read_bytes())
    for offset, fmt, value in changes:
        struct.pack_into(fmt, data, offset, value)
    path = ctx.scratch / f"patched-{len(list(ctx.scratch.iterdir()))}.bin"
    path.write_bytes(bytes(data))
    return path


def golden_records(ctx):
    records = sorted((ctx.root / "tests" / "golden").glob("*/*.bin"))
    assert len(records) >= 5, f"golden records missing: {records}"
    return records


def test_decode_matches_golden_text(ctx):
    regenerate = os.environ.get("BATON_REGEN_GOLDEN") == "1"
    for record in golden_records(ctx):
        _, out, err = inspect(ctx, "decode", record, check_exit=0)
        expected = record.with_suffix(".txt")
        if regenerate:
            expected.write_text(out)
        assert expected.exists(), f"{expected} missing (BATON_REGEN_GOLDEN=1 creates it)"
        assert out == expected.read_text(), f"decode {record} differs from {expected.name}:\n{out[:3000]}"
        assert err == "", f"decode {record} wrote to stderr: {err}"


def test_decode_json(ctx):
    _, out, _ = inspect(ctx, "decode", "--json", golden(ctx, "v1/basic.bin"), check_exit=0)
    record = json.loads(out)
    assert record["abiVersion"] == 1 and record["writerBuildId"] == "5eed0000cafe-A", record
    assert int(record["magic"]) == 0x4345524e4f544142, record["magic"]
    assert [d["id"] for d in record["domains"]] == [1, 2], record["domains"]
    first = record["domains"][0]["p2m"][0]["ranges"][0]
    assert first == {"guestFrame": "0", "machineFrame": "65536", "frameCount": "512", "type": "ramRw",
                     "access": "rwx"}, first
    assert record["domains"][1]["logDirty"]["mode"] == "enabled", record["domains"][1]["logDirty"]
    assert record["preserved"][0]["ranges"][-1]["kind"] == "handoverRecord", record["preserved"]


def test_decode_v2_fields(ctx):
    _, out, _ = inspect(ctx, "decode", golden(ctx, "v2/basic.bin"), check_exit=0)
    for expected in ["handover record: 3648 bytes, ABI version 2 (readers from version 2)",
                     "clock: time origin tsc 50000 (1.975 ms before this record); update 2",
                     "  created: tsc 60000",
                     "    guest 0xfec00-0xfec00        -> (emulated)                     mmioEmulated rw",
                     "    console    vcpu 0 guest (not mapped) -> machine 0x20003",
                     "    port 4 timer every 10000000 ns, next at tsc 4100000, notify vcpu 0",
                     "last update: 8 phases, blackout 0.090 ms",
                     "  resumed        tsc 480000 (+0.140 ms)"]:
        assert expected in out.splitlines(), f"missing {expected!r} in:\n{out}"
    _, out, _ = inspect(ctx, "decode", golden(ctx, "v2/later.bin"), check_exit=0)
    assert '  stop reason: "triple fault at rip 0x200010"' in out.splitlines(), out
    _, out, _ = inspect(ctx, "decode", "--json", golden(ctx, "v2/basic.bin"), check_exit=0)
    record = json.loads(out)
    assert (record["timeOriginTsc"], record["updateCount"]) == ("50000", "2"), record
    assert [s["phase"] for s in record["lastUpdate"]][-4:] == ["entered", "recordParsed", "restored", "resumed"], record
    assert record["domains"][0]["extraPages"][3]["guestFrame"] == str(2**64 - 1), record["domains"][0]
    timer = record["domains"][0]["eventChannels"][3]
    assert (timer["state"], timer["timerPeriodNs"]) == ("timer", "10000000"), timer
    # v1 records decode as they always did: no v2 lines.
    _, out, _ = inspect(ctx, "decode", golden(ctx, "v1/basic.bin"), check_exit=0)
    assert "clock:" not in out and "last update" not in out, out


def test_decode_v3_fields(ctx):
    _, out, _ = inspect(ctx, "decode", golden(ctx, "v3/basic.bin"), check_exit=0)
    lines = out.splitlines()
    for expected in ["handover record: 3904 bytes, ABI version 3 (readers from version 3)",
                     "  altp2m views: 2",
                     "    view 1: 3 entries",
                     "      guest 0x10-0x13              -> (same frames)                  r",
                     "      guest 0x100-0x100            -> guest 0x280-0x280              rx",
                     "      guest 0x1f0-0x20f            -> guest 0x1e0-0x1ff              rw",
                     "    view 2: 2 entries",
                     "      guest 0x1000-0x1000          -> (same frames)                  n",
                     "  vcpu 0: runnable, p2m view 0 (host)",
                     "  vcpu 1: blocked, p2m view 1",
                     "  altp2m views: none"]:
        assert expected in lines, f"missing {expected!r} in:\n{out}"
    # The vCPU's view is on its first line, not again among the registers.
    assert not any(line.lstrip().startswith("altp2mView") for line in lines), out
    _, out, _ = inspect(ctx, "decode", golden(ctx, "v3/minimal.bin"), check_exit=0)
    assert out.startswith("handover record: 288 bytes, ABI version 3 (readers from version 2)"), out
    _, out, _ = inspect(ctx, "decode", "--json", golden(ctx, "v3/basic.bin"), check_exit=0)
    record = json.loads(out)
    views = record["domains"][0]["altp2mViews"]
    assert [view["index"] for view in views] == [1, 2], views
    assert views[0]["entries"][1] == {"guestFrame": "256", "frameCount": "1", "targetGuestFrame": "640",
                                      "access": "rx"}, views[0]
    assert [vcpu["altp2mView"] for vcpu in record["domains"][0]["vcpus"]] == [0, 1], record["domains"][0]["vcpus"]
    # Records of older writers decode as they always did: no views, no vCPU views.
    for older in ("v1/basic.bin", "v2/basic.bin"):
        _, out, _ = inspect(ctx, "decode", golden(ctx, older), check_exit=0)
        assert "altp2m" not in out and "p2m view" not in out, out


def test_decode_reads_stdin(ctx):
    record = golden(ctx, "v1/minimal.bin")
    _, out, _ = inspect(ctx, "decode", "-", stdin=record.read_bytes(), check_exit=0)
    assert out == record.with_suffix(".txt").read_text(), out


def test_validate_golden_records(ctx):
    for record in golden_records(ctx):
        _, out, _ = inspect(ctx, "validate", record, check_exit=0)
        assert out.startswith(f"{record}: valid"), out


def test_validate_lists_every_problem(ctx):
    basic = golden(ctx, "v1/basic.bin").read_bytes()
    # p2m range 1 of domain 1 maps machine frame 0x10200; move it off the preserved frames.
    needle = struct.pack("<Q", 0x10200)
    assert basic.count(needle) == 1, f"machine frame 0x10200 found {basic.count(needle)} times"
    record = patched(ctx, "v1/basic.bin", [(ROOT_DATA + TSC_KHZ, "<Q", 0),
                                           (ROOT_DATA + MIN_READER, "<I", 4),
                                           (basic.index(needle), "<Q", 0x11200)])
    _, out, _ = inspect(ctx, "validate", record, check_exit=1)
    lines = out.splitlines()
    assert lines[0] == f"{record}: 3 problems", out
    assert "  record: minimum reader version 4 is above the record's ABI version 1  [header.versions_inconsistent]" \
        in lines, out
    assert "  record: TSC frequency is 0  [header.tsc_frequency_missing]" in lines, out
    assert "  domain 1 p2m range 1: machine frames 0x11200+0x100 are not preserved  [p2m.not_preserved]" in lines, out


def test_validate_altp2m_problems(ctx):
    basic = golden(ctx, "v3/basic.bin").read_bytes()
    # View 1's second entry shows guest frame 0x280 at 0x100; point it at a hole instead.
    needle = struct.pack("<QQQ", 0x100, 1, 0x280)
    assert basic.count(needle) == 1, f"the remap entry found {basic.count(needle)} times"
    record = patched(ctx, "v3/basic.bin", [(ROOT_DATA + MIN_READER, "<I", 2),
                                           (basic.index(needle) + 16, "<Q", 0x500)])
    _, out, _ = inspect(ctx, "validate", record, check_exit=1)
    lines = out.splitlines()
    assert lines[0] == f"{record}: 2 problems", out
    assert "  record: minimum reader version 2, but domain 1 has alternate p2m views, which readers before " \
        "version 3 would drop  [header.min_reader_too_low]" in lines, out
    assert "  domain 1 altp2m view 1 entry 1: remaps to guest frames 0x500+0x1, which are not all RAM in the " \
        "domain's p2m  [altp2m_entry.target_not_ram]" in lines, out


def test_bad_magic(ctx):
    record = patched(ctx, "v1/basic.bin", [(ROOT_DATA + MAGIC, "<Q", 0x1234)])
    _, out, _ = inspect(ctx, "validate", record, check_exit=1)
    assert "record: wrong magic 0x1234 (expected 0x4345524e4f544142)  [header.bad_magic]" in out, out
    _, _, err = inspect(ctx, "decode", record, check_exit=3)
    assert "not a handover record (magic 0x1234" in err, err


def test_record_for_a_newer_reader(ctx):
    record = patched(ctx, "v3/basic.bin", [(ROOT_DATA + ABI_VERSION, "<I", 9), (ROOT_DATA + MIN_READER, "<I", 8)])
    _, out, err = inspect(ctx, "decode", record, check_exit=0)
    assert "record needs a newer reader than this one (ABI version 9, minimum reader 8; this tool reads 7)" \
        in err, err
    assert out.startswith("handover record: 3904 bytes, ABI version 9 (readers from version 8)"), out
    _, out, _ = inspect(ctx, "validate", record, check_exit=1)
    assert "needs a reader of ABI version 8 or later; this reader implements 7" in out, out


def test_v1_reader_is_refused_by_v2_records(ctx):
    """v2 raised minReaderVersion: a v1 reader would drop timer ports and restart the clock."""
    data = golden(ctx, "v2/basic.bin").read_bytes()
    assert struct.unpack_from("<II", data, ROOT_DATA + ABI_VERSION) == (2, 2)
    assert struct.unpack_from("<II", golden(ctx, "v1/basic.bin").read_bytes(), ROOT_DATA + ABI_VERSION) == (1, 1)


def test_v2_reader_is_refused_only_by_records_with_views(ctx):
    """v3 raises minReaderVersion only for records with altp2m views, which a v2 reader would drop."""
    versions = {name: struct.unpack_from("<II", golden(ctx, f"v3/{name}.bin").read_bytes(), ROOT_DATA + ABI_VERSION)
                for name in ("basic", "later", "chunked", "minimal")}
    assert versions == {"basic": (3, 3), "later": (3, 3), "chunked": (3, 3), "minimal": (3, 2)}, versions


def test_v5_reader_is_refused_only_by_records_with_several_vcpus(ctx):
    """v6 raises minReaderVersion only for records with a domain of more than one vCPU."""
    versions = {name: struct.unpack_from("<II", golden(ctx, f"v6/{name}.bin").read_bytes(), ROOT_DATA + ABI_VERSION)
                for name in ("basic", "later", "minimal")}
    assert versions == {"basic": (6, 6), "later": (6, 6), "minimal": (6, 2)}, versions


def test_v7_readers_are_needed_only_for_vcpu_info_pages(ctx):
    """v7 adds the LAPIC timer rate, which a v6 reader may ignore (it measures the rate), and
    per-vCPU info pages, which a v6 reader would refuse: only records with them need v7."""
    versions = {name: struct.unpack_from("<II", golden(ctx, f"v7/{name}.bin").read_bytes(), ROOT_DATA + ABI_VERSION)
                for name in ("basic", "later", "minimal")}
    assert versions == {"basic": (7, 7), "later": (7, 7), "minimal": (7, 2)}, versions
    _, out, _ = inspect(ctx, "decode", golden(ctx, "v7/basic.bin"), check_exit=0)
    assert "local APIC timer: 1000000 kHz\n" in out, out
    _, out, _ = inspect(ctx, "decode", golden(ctx, "v6/basic.bin"), check_exit=0)
    assert "local APIC timer" not in out, out


def test_record_of_a_newer_writer(ctx):
    record = golden(ctx, "evolution/newer-writer.bin")
    _, out, err = inspect(ctx, "decode", record, check_exit=0)
    assert err == "" and "ABI version 8 (readers from version 7)" in out, out + err
    inspect(ctx, "validate", record, check_exit=0)


def test_stats(ctx):
    _, out, _ = inspect(ctx, "stats", golden(ctx, "v1/basic.bin"), check_exit=0)
    assert "record:           3304 bytes, ABI version 1" in out, out
    assert "domains:          2 with 3 vCPUs, 5 extra pages, 4 event channels" in out, out
    assert "preserved ranges: 7, 9376 KiB preserved" in out, out
    _, out, _ = inspect(ctx, "stats", "--json", golden(ctx, "v1/chunked.bin"), check_exit=0)
    stats = json.loads(out)
    assert (stats["domains"], stats["vcpus"], stats["p2mRanges"], stats["p2mChunks"]) == (2, 3, 5, 3), stats
    assert stats["preservedBytes"] == 9376 * 1024 and stats["preservedRanges"] == 7, stats
    assert sum(stats["sections"][name] for name in ("header", "ram", "domains", "iommu", "preserved", "phases",
                                                    "lastUpdate")) == stats["bytes"], stats
    assert stats["sections"]["p2m"] + stats["sections"]["vcpus"] < stats["sections"]["domains"], stats
    assert stats["lastUpdate"] == [] and stats["lastUpdateBlackoutUs"] is None, stats


def test_stats_of_the_last_update(ctx):
    _, out, _ = inspect(ctx, "stats", golden(ctx, "v2/basic.bin"), check_exit=0)
    lines = out.splitlines()
    for expected in ["domains:          2 with 3 vCPUs, 5 extra pages, 5 event channels (1 timer)",
                     "p2m ranges:       6 in 2 chunks, mapping 7172 KiB of RAM and 4 KiB of MMIO, 4 KiB emulated",
                     "update count:     2 (this one included)",
                     "last update:      8 phases, blackout 90.0 us (paused -> resumed)",
                     "  requested      tsc 200000",
                     "  imageVerified  +15.0 us",
                     "  restored       +28.0 us",
                     "  resumed        +30.0 us"]:
        assert expected in lines, f"missing {expected!r} in:\n{out}"
    _, out, _ = inspect(ctx, "stats", "--json", golden(ctx, "v2/chunked.bin"), check_exit=0)
    stats = json.loads(out)
    assert stats["lastUpdateBlackoutUs"] == 90.0 and stats["updateCount"] == 2, stats
    assert [s["sincePreviousUs"] for s in stats["lastUpdate"]] == [None, 15.0, 35.0, 20.0, 6.0, 6.0, 28.0, 30.0], stats
    assert (stats["timerPorts"], stats["emulatedMmioFrames"], stats["mmioFrames"]) == (1, 1, 1), stats
    assert sum(stats["sections"][name] for name in ("header", "ram", "domains", "iommu", "preserved", "phases",
                                                    "lastUpdate")) == stats["bytes"], stats
    assert stats["sections"]["lastUpdate"] > 0, stats


def test_stats_of_altp2m_views(ctx):
    _, out, _ = inspect(ctx, "stats", golden(ctx, "v3/basic.bin"), check_exit=0)
    lines = out.splitlines()
    assert "altp2m views:     2 in 1 domain, 5 entries (2 remaps)" in lines, out
    assert any(line.startswith("    altp2m ") for line in lines), out
    _, out, _ = inspect(ctx, "stats", "--json", golden(ctx, "v3/later.bin"), check_exit=0)
    stats = json.loads(out)
    assert (stats["altp2mViews"], stats["altp2mEntries"], stats["altp2mRemaps"]) == (2, 4, 2), stats
    sections = stats["sections"]
    assert sum(sections[name] for name in ("header", "ram", "domains", "iommu", "preserved", "phases",
                                           "lastUpdate")) == stats["bytes"], stats
    assert 0 < sections["altp2m"] and sections["p2m"] + sections["vcpus"] + sections["altp2m"] < sections["domains"]
    # No views: no line, zero counts.
    _, out, _ = inspect(ctx, "stats", golden(ctx, "v2/basic.bin"), check_exit=0)
    assert "altp2m views:" not in out, out
    _, out, _ = inspect(ctx, "stats", "--json", golden(ctx, "v3/minimal.bin"), check_exit=0)
    stats = json.loads(out)
    assert (stats["altp2mViews"], stats["altp2mEntries"], stats["sections"]["altp2m"]) == (0, 0, 0), stats


def test_diff(ctx):
    basic, later = golden(ctx, "v1/basic.bin"), golden(ctx, "v1/later.bin")
    _, out, _ = inspect(ctx, "diff", basic, later, check_exit=1)
    lines = out.splitlines()
    for expected in ['~ writerBuildId: "5eed0000cafe-A" -> "5eed0000cafe-B"',
                     "~ domain 1: p2m guest 0x200: access: rx -> r",
                     "- domain 1: p2m guest 0x1000 {guestFrame 0x1000 machineFrame 0x20000 frameCount 0x1 "
                     "type ramRw access rw}",
                     "~ domain 1: vcpu 0: rip: 0x100000 -> 0x100040",
                     "~ domain 1: vcpu 1: runState: blocked -> runnable",
                     "~ domain 2: state: paused -> running",
                     '+ domain 7 "guest-c"',
                     "+ preserved 0x60000 {firstFrame 0x60000 frameCount 0x80 kind guestRam domainId 7}",
                     "11 differences"]:
        assert expected in lines, f"missing {expected!r} in:\n{out}"
    _, out, _ = inspect(ctx, "diff", basic, basic, check_exit=0)
    assert out.splitlines()[-1] == "records are identical", out
    # Chunking is not a difference: the same ranges in other chunks.
    _, out, _ = inspect(ctx, "diff", basic, golden(ctx, "v1/chunked.bin"), check_exit=0)
    _, out, _ = inspect(ctx, "diff", "-", later, stdin=basic.read_bytes(), check_exit=1)
    assert out.startswith(f"--- <stdin>\n+++ {later}\n"), out


def test_diff_v2_fields(ctx):
    basic, later = golden(ctx, "v2/basic.bin"), golden(ctx, "v2/later.bin")
    _, out, _ = inspect(ctx, "diff", basic, later, check_exit=1)
    lines = out.splitlines()
    for expected in ["~ domain 1: extra page sharedInfo vcpu 0: guestFrame: 0x1000 -> (not mapped)",
                     "~ domain 1: port 4: timerDeadlineTsc: 4100000 -> 9100000",
                     "~ domain 2: state: paused -> crashed",
                     '~ domain 2: stopReason: "" -> "triple fault at rip 0x200010"',
                     "~ phase serialized: tsc: 3900000 -> 8900000",
                     "14 differences"]:
        assert expected in lines, f"missing {expected!r} in:\n{out}"
    # Phase stamps are matched by phase; the blackout follows as a note, not a difference.
    _, out, _ = inspect(ctx, "diff", golden(ctx, "v1/basic.bin"), basic, check_exit=1)
    lines = out.splitlines()
    assert "+ last update resumed {phase resumed tsc 480000}" in lines, out
    assert "  (last update blackout, paused -> resumed: none -> 90.0 us)" in lines, out
    assert "~ updateCount: 0 -> 2" in lines and "~ timeOriginTsc: 0 -> 50000" in lines, out


def test_diff_v3_fields(ctx):
    basic, later = golden(ctx, "v3/basic.bin"), golden(ctx, "v3/later.bin")
    _, out, _ = inspect(ctx, "diff", basic, later, check_exit=1)
    lines = out.splitlines()
    for expected in ["~ domain 1: vcpu 0: altp2mView: 0 -> 3",
                     "~ domain 1: view 1: guest 0x100: targetGuestFrame: 0x280 -> 0x2c0",
                     "- domain 1: view 2 (2 entries)",
                     "+ domain 1: view 3 (1 entry)",
                     "18 differences"]:
        assert expected in lines, f"missing {expected!r} in:\n{out}"
    # Views are matched by index and entries by guest frame: re-chunking the p2m changes nothing.
    inspect(ctx, "diff", basic, golden(ctx, "v3/chunked.bin"), check_exit=0)
    _, out, _ = inspect(ctx, "diff", golden(ctx, "v2/basic.bin"), basic, check_exit=1)
    lines = out.splitlines()
    for expected in ["~ minReaderVersion: 2 -> 3",
                     "~ domain 1: vcpu 1: altp2mView: 0 -> 1",
                     "+ domain 1: view 1 (3 entries)",
                     "+ domain 1: view 2 (2 entries)",
                     "5 differences"]:
        assert expected in lines, f"missing {expected!r} in:\n{out}"


def test_usage(ctx):
    _, out, _ = inspect(ctx, "help", check_exit=0)
    assert all(word in out for word in ("decode", "validate", "diff", "stats", "--json")), out
    inspect(ctx, "--help", check_exit=0)
    for args in ([], ["bogus"], ["decode"], ["decode", "a", "b"], ["diff", "a"], ["validate", "--json", "a"],
                 ["decode", "--frobnicate", "a"], ["diff", "-", "-"]):
        _, _, err = inspect(ctx, *args, check_exit=2)
        assert err.startswith("baton-inspect: "), f"{args}: {err}"


def assert_clear_failure(code, err, what):
    assert code == 3, f"{what}: exit {code}\n{err}"
    assert err.startswith("baton-inspect: ") and err.count("\n") == 1, f"{what}: unclear error: {err!r}"
    for crash in ("Sanitizer", "terminate", "Aborted", "Segmentation"):
        assert crash not in err, f"{what}: {err}"


def test_bad_input(ctx):
    basic = golden(ctx, "v1/basic.bin").read_bytes()
    far_root = bytearray(basic)
    far_root[8] = (far_root[8] & ~3) | 2
    cases = {
        "empty": (b"", "empty input"),
        "odd": (basic[:1003], "1003 bytes is not a whole number of 8-byte words"),
        "garbage": (random.Random(4).randbytes(1024), "-segment message: "),
        "truncated": (basic[:1600], "segment size in the table exceeds the bytes given"),
        "far-root": (bytes(far_root), "malformed record: far pointer (multi-segment messages are not accepted) "
                                      "(at byte 8)"),
    }
    for name, (content, reason) in cases.items():
        path = ctx.scratch / f"{name}.bin"
        path.write_bytes(content)
        for command in ("decode", "stats"):
            code, _, err = inspect(ctx, command, path)
            assert_clear_failure(code, err, f"{command} {name}")
            assert reason in err, f"{command} {name}: {err}"
    code, _, err = inspect(ctx, "decode", ctx.scratch / "no-such-file.bin")
    assert_clear_failure(code, err, "missing file")
    assert "No such file or directory" in err, err
    code, out, _ = inspect(ctx, "validate", ctx.scratch / "far-root.bin")
    assert code == 1 and "[header.structure]" in out, out


def segment_count(data):
    return struct.unpack_from("<I", data, 0)[0] + 1


def test_multi_segment_records_read_as_the_same_record(ctx):
    """libcapnp's writer spreads a message over segments when told to (or when it is big):
    every command reads such a record exactly as the single-segment original (issue 12)."""
    for record in golden_records(ctx):
        original = record.read_bytes()
        proc = subprocess.run(["capnp", "convert", "binary:binary", "--segment-size=16"], input=original,
                              capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        multi = ctx.scratch / f"{record.parent.name}-{record.stem}-multi.bin"
        multi.write_bytes(proc.stdout)
        assert segment_count(proc.stdout) > 2, f"{record}: capnp wrote {segment_count(proc.stdout)} segment(s)"
        for command in (["decode"], ["decode", "--json"], ["validate"]):
            _, want, _ = inspect(ctx, *command, record)
            code, got, err = inspect(ctx, *command, multi)
            assert code == 0 and err == "", f"{' '.join(command)} {multi.name}: exit {code}\n{err}"
            # The one difference allowed: the size of the message in one segment, which
            # leaves out what no pointer reaches (the evolution record has such slack).
            size = r"^handover record: \d+ bytes"
            got = re.sub(size, "", got.replace(str(multi), str(record)), flags=re.M)
            assert got == re.sub(size, "", want, flags=re.M), f"{' '.join(command)} {multi.name} differs:\n{got}"
        code, out, _ = inspect(ctx, "diff", record, multi)
        assert code == 0, f"diff of a record and its multi-segment copy: {code}\n{out}"
        _, out, _ = inspect(ctx, "stats", multi, check_exit=0)
        assert f"(in one segment; the file has {segment_count(proc.stdout)})" in out, out


def test_hand_framed_two_segment_record(ctx):
    """The smallest other framing: segment 0 holds only a far pointer to the root, which
    lies in segment 1 (the original segment, unchanged)."""
    original = golden(ctx, "v3/basic.bin").read_bytes()
    body = original[8:]
    table = struct.pack("<IIII", 1, 1, len(body) // 8, 0)
    far_pointer = struct.pack("<Q", 2 | (1 << 32))  # far, single landing pad at word 0 of segment 1
    framed = ctx.scratch / "two-segments.bin"
    framed.write_bytes(table + far_pointer + body)
    _, want, _ = inspect(ctx, "decode", golden(ctx, "v3/basic.bin"))
    _, got, err = inspect(ctx, "decode", framed, check_exit=0)
    assert got == want and err == "", err
    # A table that promises more than the file holds is refused, and says so.
    broken = ctx.scratch / "two-segments-truncated.bin"
    broken.write_bytes(table + far_pointer + body[:-64])
    code, _, err = inspect(ctx, "decode", broken)
    assert_clear_failure(code, err, "truncated multi-segment")
    assert "malformed 2-segment message" in err, err


def test_mutated_records_never_crash(ctx):
    """Random damage to a valid record: every command exits 0, 1 or 3 with no crash."""
    records = [golden(ctx, name).read_bytes() for name in ("v1/basic.bin", "v2/later.bin", "v3/basic.bin")]
    rng = random.Random(1234)
    outcomes = {}
    for i in range(300):
        data = bytearray(records[i % len(records)])
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = ctx.scratch / "mutant.bin"
        path.write_bytes(bytes(data))
        original = ctx.scratch / "original.bin"
        original.write_bytes(records[i % len(records)])
        for command, args in (("decode", [path]), ("validate", [path]), ("stats", [path]),
                              ("diff", [original, path])):
            code, _, err = inspect(ctx, command, *args)
            assert code in (0, 1, 3), f"{command} mutant {i}: exit {code}\n{err[-2000:]}"
            assert "Sanitizer" not in err and "terminate" not in err, f"{command} mutant {i}: {err[-2000:]}"
            outcomes[(command, code)] = outcomes.get((command, code), 0) + 1
    # The damage was real: some mutants were rejected, some still decoded.
    assert outcomes.get(("decode", 3), 0) > 0 and outcomes.get(("decode", 0), 0) > 0, outcomes
    assert outcomes.get(("validate", 1), 0) > 0, outcomes


def big_record(ranges):
    """A valid record with one domain mapping `ranges` p2m ranges, built word by word."""
    layout = {"root": 1, "root_words": 5 + 8, "bootmem": 2, "ram": 1 + 2, "domain": 1 + 10,
              "chunk": 1 + 1, "ranges": 1 + 4 * ranges, "pchunk": 1 + 1, "preserved": 1 + 2 * 3}
    total = 1 + sum(layout.values()) + 2  # + segment table; two texts
    words = array.array("Q", bytes(8 * total))
    cursor = [1]  # word 0 is the segment table; the segment starts at word 1

    def alloc(count):
        start = cursor[0]
        cursor[0] += count
        return start

    def struct_pointer(at, target, data, pointers):
        words[at] = (((target - at - 1) << 2) & 0xffffffff) | (data << 32) | (pointers << 48)

    def list_pointer(at, target, size, count):
        words[at] = (((target - at - 1) << 2) & 0xffffffff) | 1 | (size << 32) | (count << 35)

    def text(at, value):
        target = alloc(1)
        words[target] = int.from_bytes(value.encode().ljust(8, b"\0"), "little")
        list_pointer(at, target, 2, len(value) + 1)

    def composite(at, count, data, pointers):
        tag = alloc(1 + count * (data + pointers))
        words[tag] = (count << 2) | (data << 32) | (pointers << 48)
        list_pointer(at, tag, 7, count * (data + pointers))
        return tag + 1

    base, per = 0x100000, 16
    root_pointer = alloc(1)
    root = alloc(13)
    struct_pointer(root_pointer, root, 5, 8)
    words[root] = 0x4345524e4f544142
    words[root + 1] = 1 | (1 << 32)
    words[root + 3] = 1  # tscKhz
    text(root + 5, "big")
    text(root + 6, "1")
    bootmem = alloc(2)
    struct_pointer(root + 7, bootmem, 2, 0)
    words[bootmem], words[bootmem + 1] = 0x1000, 0x1000
    ram = composite(root + 8, 1, 2, 0)
    words[ram], words[ram + 1] = 0x100, 1 << 30
    domain = composite(root + 9, 1, 4, 6)
    words[domain], words[domain + 1] = 1, 2  # id 1, paused
    chunk = composite(domain + 4 + 1, 1, 0, 1)
    first = composite(chunk, ranges, 4, 0)
    words[first:first + 4 * ranges:4] = array.array("Q", range(0, per * ranges, per))
    words[first + 1:first + 4 * ranges:4] = array.array("Q", range(base, base + 2 * per * ranges, 2 * per))
    words[first + 2:first + 4 * ranges:4] = array.array("Q", [per]) * ranges
    words[first + 3:first + 4 * ranges:4] = array.array("Q", [1 | (7 << 16)]) * ranges  # ramRw, rwx
    pchunk = composite(root + 11, 1, 0, 1)
    preserved = composite(pchunk, 2, 3, 0)
    words[preserved:preserved + 3] = array.array("Q", [base, 2 * per * ranges, (1 ^ 0xffffffff) << 32])
    words[preserved + 3:preserved + 6] = array.array("Q", [base + 2 * per * ranges, 0x10000, 5])
    assert cursor[0] == total, (cursor[0], total)
    words[0] = (total - 1) << 32
    return words.tobytes()


def test_record_beyond_libcapnp_default_limit(ctx):
    """70 MB: more than libcapnp's default 64 MiB traversal limit, which must not apply."""
    ranges = 2200000
    path = ctx.scratch / "big.bin"
    path.write_bytes(big_record(ranges))
    try:
        assert path.stat().st_size > 64 * 1024 * 1024
        _, out, _ = inspect(ctx, "validate", path, check_exit=0)
        assert "valid" in out, out
        _, out, _ = inspect(ctx, "stats", "--json", path, check_exit=0)
        stats = json.loads(out)
        assert stats["p2mRanges"] == ranges and stats["bytes"] == path.stat().st_size, stats
        assert stats["sections"]["p2m"] > 64 * 1024 * 1024, stats
    finally:
        path.unlink()
