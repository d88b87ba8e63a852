# SPDX-License-Identifier: MIT
"""CLI tests for batonctl against control-test-server, which runs the hypervisor's real
control-channel code (kernel/control/) behind a unix socket, and against small scripted
servers for the failures a real hypervisor would not produce on purpose."""

import contextlib
import os
import random
import select
import socket
import subprocess
import threading
import time
import zlib

SOCKET = "control.sock"  # relative to the scratch directory: unix paths are short


def binaries(ctx):
    batonctl = ctx.build / "bin" / "batonctl"
    server = ctx.build / "bin" / "control-test-server"
    for path in (batonctl, server):
        assert path.exists(), f"{path} is missing: build it with make (tools/batonctl/batonctl.mk)"
    return batonctl, server


def run(ctx, *args, env=None, limit=30):
    """Runs batonctl in the scratch directory; a hang is a failure, not a stuck suite."""
    batonctl, _ = binaries(ctx)
    environment = {k: v for k, v in os.environ.items() if k != "BATON_CONTROL_SOCKET"}
    environment.update(env or {})
    started = time.monotonic()
    try:
        proc = subprocess.run([str(batonctl), *args], cwd=ctx.scratch, env=environment,
                              capture_output=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"batonctl {' '.join(args)} still running after {limit} s")
    proc.seconds = time.monotonic() - started
    proc.out = proc.stdout.decode(errors="replace")
    proc.err = proc.stderr.decode(errors="replace")
    return proc


def expect(proc, code, stdout=None, stderr=None):
    """Checks the exit code and that stdout/stderr contain the given text."""
    detail = f"exit {proc.returncode}, stdout:\n{proc.out}\nstderr:\n{proc.err}"
    assert proc.returncode == code, f"expected exit {code}; {detail}"
    if stdout is not None:
        assert stdout in proc.out, f"stdout lacks {stdout!r}; {detail}"
    if stderr is not None:
        assert stderr in proc.err, f"stderr lacks {stderr!r}; {detail}"
    return proc


class Server:
    """control-test-server in the scratch directory; checks on exit that it stayed clean."""

    def __init__(self, ctx, mode="normal", path=SOCKET, blackout=None):
        _, server = binaries(ctx)
        args = [str(server), "--socket", path, "--mode", mode, "--lifetime", "120"]
        if blackout is not None:  # how long a live update's jump leaves the port dead
            args += ["--blackout", str(blackout)]
        self.proc = subprocess.Popen(args, cwd=ctx.scratch, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening"):
            self.stop()
            raise AssertionError(f"control-test-server did not start: {line!r} {self.errors}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        assert "Sanitizer" not in self.errors and "runtime error" not in self.errors, \
            f"control-test-server reported:\n{self.errors}"
        assert self.status in (0, -15), f"control-test-server died with status {self.status}:\n{self.errors}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.status = self.proc.returncode
        self.errors = self.proc.stderr.read().decode(errors="replace")


@contextlib.contextmanager
def in_scratch(ctx, name):
    """A short path to a socket in the scratch directory: the scratch path itself may be
    longer than a unix socket address allows."""
    directory = os.open(ctx.scratch, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{name}"
    finally:
        os.close(directory)


@contextlib.contextmanager
def session(ctx, path=SOCKET):
    """A raw protocol client, connected and synchronised: yields a request function
    that sends bytes and returns the answer's lines."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    with in_scratch(ctx, path) as address:
        sock.connect(address)
    reader = sock.makefile("rb")

    def request(raw: bytes):
        sock.sendall(raw)
        lines = []
        while True:
            line = reader.readline().decode(errors="replace").rstrip("\r\n")
            assert line, f"connection closed during the answer to {raw!r}: {lines}"
            lines.append(line)
            if line == "ok" or line.startswith("ok ") or line.startswith("error "):
                return lines

    try:
        assert request(b"\x15sync t1\n") == ["ok sync t1"]
        yield request
    finally:
        reader.close()  # the connection ends only when both are closed
        sock.close()


def scripted_server(ctx, answer: bytes, hold=0.5):
    """Accepts one client, answers its sync properly, then sends `answer` to its first
    request (None: closes the connection instead) and keeps the connection `hold` s."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with in_scratch(ctx, SOCKET) as address:
        listener.bind(address)
    listener.listen(1)
    listener.settimeout(20)

    def serve():
        try:
            client, _ = listener.accept()
        except OSError:
            return
        with client:
            reader = client.makefile("rb")
            sync = reader.readline().decode().strip("\x15\r\n")
            client.sendall(f"ok {sync}\n".encode())
            reader.readline()
            if answer is not None:
                client.sendall(answer)
                time.sleep(hold)
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


# ---- usage -------------------------------------------------------------------------------------

def test_help_exits_0(ctx):
    for args in (["--help"], ["-h"], ["help"], ["--socket", "x", "--help"]):
        proc = expect(run(ctx, *args), 0, stdout="usage: batonctl")
        for word in ("list", "create MODULE", "pause ID", "unpause ID", "destroy ID", "mem", "version",
                     "upload KIND FILE", "download KIND FILE", "raw LINE", "--socket", "--timeout",
                     "BATON_CONTROL_SOCKET", "exit status"):
            assert word in proc.out, f"--help does not mention {word!r}:\n{proc.out}"


def test_bad_usage_exits_2_without_connecting(ctx):
    # No server runs: a usage error must be found before any connection attempt (3).
    cases = [
        ([], "no command given"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["pause"], "usage: batonctl pause ID"),
        (["pause", "1", "2"], "usage: batonctl pause ID"),
        (["list", "extra"], "usage: batonctl list"),
        (["create"], "usage: batonctl create MODULE"),
        (["create", "counter", "name=a b"], "contains a blank"),
        (["pause", "1\ndestroy 2"], "contains a blank"),
        (["raw", "list\nmem"], "printable ASCII on one line"),
        (["raw", "   "], "a blank line gets no answer"),
        (["--timeout", "soon", "list"], "--timeout wants seconds"),
        (["--timeout", "0", "list"], "--timeout wants seconds"),
        (["--timeout"], "--timeout needs a value"),
        (["--bogus", "list"], "unknown option '--bogus'"),
        (["upload", "image"], "usage: batonctl upload KIND FILE"),
        (["upload", "image", "no-such-file"], "cannot read 'no-such-file'"),
    ]
    for args, message in cases:
        proc = expect(run(ctx, *args), 2, stderr=message)
        assert "--help" in proc.err, proc.err


# ---- no usable channel ------------------------------------------------------------------------

def test_server_not_running_exits_3(ctx):
    expect(run(ctx, "--socket", "absent.sock", "list"), 3, stderr="cannot connect to absent.sock")
    # A socket file that nobody listens on any more (a QEMU that has exited).
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with in_scratch(ctx, "dead.sock") as address:
        stale.bind(address)
    stale.close()
    expect(run(ctx, "--socket", "dead.sock", "version"), 3, stderr="Connection refused")
    expect(run(ctx, "--socket", "x" * 200, "list"), 3, stderr="socket path too long")


def test_server_that_never_answers_times_out_with_3(ctx):
    with Server(ctx, mode="silent"):
        proc = expect(run(ctx, "--socket", SOCKET, "--timeout", "1", "list"), 3, stderr="timeout")
        assert "sync" in proc.err, proc.err
        assert proc.seconds < 6, f"took {proc.seconds:.1f} s for a 1 s timeout"


def test_connection_closed_mid_request_exits_3(ctx):
    thread = scripted_server(ctx, None)
    expect(run(ctx, "--socket", SOCKET, "--timeout", "5", "list"), 3,
           stderr="connection closed while waiting for the answer to 'list'")
    thread.join(10)


def test_protocol_violation_exits_3(ctx):
    thread = scripted_server(ctx, b"hello there\nok\n")
    expect(run(ctx, "--socket", SOCKET, "--timeout", "5", "list"), 3,
           stderr="protocol error: unexpected line 'hello there' while waiting for the answer to 'list'")
    thread.join(10)


def test_answer_without_end_times_out(ctx):
    thread = scripted_server(ctx, b". domain id=1\n", hold=3)  # data, then nothing: no status line
    proc = expect(run(ctx, "--socket", SOCKET, "--timeout", "1", "list"), 3,
                  stderr="timeout after 1.0 s waiting for the answer to 'list'")
    assert proc.seconds < 4, f"took {proc.seconds:.1f} s for a 1 s timeout"
    thread.join(10)


# ---- commands against the real channel code ----------------------------------------------

def test_list_version_and_mem(ctx):
    with Server(ctx):
        proc = expect(run(ctx, "--socket", SOCKET, "list"), 0)
        assert proc.out.splitlines() == [
            "domain id=1 name=counter state=running ram=67108864 vcpus=1",
            "domain id=2 name=idle state=paused ram=33554432 vcpus=2",
        ], proc.out
        expect(run(ctx, "--socket", SOCKET, "version"), 0,
               stdout="baton version=0.1.0-test build=control-test-server protocol=1 chunk_size=512")
        proc = expect(run(ctx, "--socket", SOCKET, "mem"), 0, stdout="mem: total_bytes=536870912")
        assert len(proc.out.splitlines()) == 3, proc.out


def test_domain_lifecycle(ctx):
    with Server(ctx):
        proc = expect(run(ctx, "--socket", SOCKET, "create", "counter", "name=c3", "ram=64M", "vcpus=2"), 0)
        assert proc.out.strip() == "domain id=3 name=c3 state=running ram=67108864 vcpus=2", proc.out
        expect(run(ctx, "--socket", SOCKET, "pause", "3"), 0, stdout="paused domain 3")
        expect(run(ctx, "--socket", SOCKET, "pause", "3"), 1, stderr="error EBUSY domain 3 is already paused")
        expect(run(ctx, "--socket", SOCKET, "list"), 0, stdout="domain id=3 name=c3 state=paused")
        expect(run(ctx, "--socket", SOCKET, "unpause", "3"), 0, stdout="unpaused domain 3")
        expect(run(ctx, "--socket", SOCKET, "destroy", "3"), 0, stdout="destroyed domain 3")
        proc = expect(run(ctx, "--socket", SOCKET, "list"), 0)
        assert "id=3" not in proc.out, proc.out
        expect(run(ctx, "--socket", SOCKET, "create", "counter", "start=no"), 1,
               stderr="error EEXIST a domain named 'counter' exists already (id 1)")
        expect(run(ctx, "--socket", SOCKET, "create", "counter", "name=p", "start=no"), 0, stdout="state=paused")


def test_hypervisor_errors_exit_1(ctx):
    cases = [
        (["raw", "frobnicate 1"], "", "error ENOSYS unknown command 'frobnicate'"),
        (["pause", "abc"], "error EINVAL pause: 'abc' is not a domain id (0 to 32767)", None),
        (["destroy", "99999"], "error EINVAL destroy: '99999' is not a domain id (0 to 32767)", None),
        (["unpause", "77"], "error ENOENT unpause domain 77: no such object", None),
        (["create", "counter", "ram=lots"], "error EINVAL create: 'ram=lots': expected a size", None),
        (["create", "counter", "color=red"], "error EINVAL create: unknown option 'color'", None),
        (["create", "counter", "vcpus=100"], "error EINVAL create: 'vcpus=100': vcpus is a number from 1 to 64",
         None),
        (["create", "nosuch"], "error ENOENT no boot module 'nosuch'", None),
        (["create", "checksum", "ram=1G"], "error ENOMEM only 256 MiB free", None),
        (["download", "record", "out.bin"], "error ENOENT no record stored yet", None),
    ]
    with Server(ctx):
        for args, stderr, stdout in cases:
            proc = expect(run(ctx, "--socket", SOCKET, *args), 1, stderr=stderr or None, stdout=stdout)
            if args[0] != "raw":
                assert proc.err.startswith("batonctl: error E"), proc.err
        assert not (ctx.scratch / "out.bin").exists()
        # After all that, the channel still answers normally.
        expect(run(ctx, "--socket", SOCKET, "list"), 0, stdout="domain id=1")


def test_raw_prints_protocol_lines(ctx):
    with Server(ctx):
        proc = expect(run(ctx, "--socket", SOCKET, "raw", "help"), 0)
        lines = proc.out.splitlines()
        assert lines[-1] == "ok", lines
        assert all(line.startswith(". ") for line in lines[:-1]), lines
        assert any(line.startswith(". create MODULE") for line in lines), lines
        expect(run(ctx, "--socket", SOCKET, "raw", "  list  "), 0, stdout=". domain id=1")


# ---- robustness of the channel ----------------------------------------------------------------

def test_stale_output_before_sync_is_skipped(ctx):
    with Server(ctx, mode="stale"):
        proc = expect(run(ctx, "--socket", SOCKET, "list"), 0)
        assert proc.out.splitlines()[0] == "domain id=1 name=counter state=running ram=67108864 vcpus=1", proc.out
        assert "stale" not in proc.out and "notyours" not in proc.out, proc.out


def test_partial_line_left_by_an_earlier_client_is_dropped(ctx):
    with Server(ctx):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with in_scratch(ctx, SOCKET) as address:
            client.connect(address)
        client.sendall(b"destroy 1")  # no newline: the client dies mid-line
        client.close()
        time.sleep(0.2)
        expect(run(ctx, "--socket", SOCKET, "list"), 0, stdout="domain id=1 name=counter")
        expect(run(ctx, "--socket", SOCKET, "list"), 0, stdout="domain id=1 name=counter")


def test_overlong_binary_and_empty_lines_get_clean_answers(ctx):
    with Server(ctx):
        with session(ctx) as request:
            assert request(b"x" * 5000 + b"\n") == ["error E2BIG line too long (more than 1024 characters); ignored"]
            assert request(b"li\x00st\n") == ["error EINVAL byte 0x00 at column 3 is not printable ASCII; line ignored"]
            assert request(b"\xff\xfe\r\n") == ["error EINVAL byte 0xff at column 1 is not printable ASCII; line ignored"]
            # Empty and blank lines are ignored: the next answer belongs to 'version'.
            lines = request(b"\n\r\n   \nversion\r\n")
            assert lines[-1] == "ok" and lines[0].startswith(". baton version="), lines
            assert request(b"a b c d e f g h i j k l m n\n") == ["error E2BIG more than 12 words; line ignored"]
            assert request(b"sync " + b"n" * 65 + b"\n")[0].startswith("error EINVAL sync:")
        expect(run(ctx, "--socket", SOCKET, "version"), 0)


def test_socket_from_environment_and_default(ctx):
    with Server(ctx, path="env.sock"):
        expect(run(ctx, "list", env={"BATON_CONTROL_SOCKET": "env.sock"}), 0, stdout="domain id=1")
        expect(run(ctx, "list"), 3, stderr="cannot connect to build/control.sock")
    (ctx.scratch / "build").mkdir()
    with Server(ctx, path="build/control.sock"):
        expect(run(ctx, "list"), 0, stdout="domain id=1")
        expect(run(ctx, "--socket", "elsewhere.sock", "list", env={"BATON_CONTROL_SOCKET": "build/control.sock"}),
               3, stderr="cannot connect to elsewhere.sock")


# ---- binary transfers ------------------------------------------------------------------------------

def test_upload_download_round_trip(ctx):
    generator = random.Random(1)
    with Server(ctx):
        for name, size in (("empty", 0), ("small", 3), ("exact", 1024), ("odd", 5000)):
            data = bytes(generator.getrandbits(8) for _ in range(size))
            (ctx.scratch / f"{name}.bin").write_bytes(data)
            crc = zlib.crc32(data)
            expect(run(ctx, "--socket", SOCKET, "upload", "record", f"{name}.bin"), 0,
                   stdout=f"upload record complete: {size} bytes, crc32 {crc:08x}")
            expect(run(ctx, "--socket", SOCKET, "download", "record", f"{name}.out"), 0,
                   stdout=f"downloaded record: {size} bytes to {name}.out")
            assert (ctx.scratch / f"{name}.out").read_bytes() == data, name
            assert not (ctx.scratch / f"{name}.out.part").exists()
        proc = expect(run(ctx, "--socket", SOCKET, "download", "record", "-"), 0)
        assert proc.stdout == (ctx.scratch / "odd.bin").read_bytes()
        expect(run(ctx, "--socket", SOCKET, "upload", "kernel", "odd.bin"), 1,
               stderr="error EINVAL upload: unknown kind 'kernel'")
        (ctx.scratch / "big.bin").write_bytes(bytes(17 * 1024 * 1024))
        expect(run(ctx, "--socket", SOCKET, "upload", "image", "big.bin"), 1,
               stderr="error E2BIG this server stages at most 16 MiB")


def test_protocol_transfer_framing_matches_zlib_and_base64(ctx):
    """The wire format is standard: a chunk made with Python's own codecs is accepted."""
    import base64
    with Server(ctx):
        with session(ctx) as request:
            data = b"baton" * 200  # 1000 bytes: one full chunk and one short one
            assert request(f"upload begin image {len(data)} {zlib.crc32(data):08x}\n".encode())[0].startswith("ok")
            for seq, piece in enumerate((data[:512], data[512:])):
                line = f"upload chunk {seq} {base64.b64encode(piece).decode()} {zlib.crc32(piece):08x}\n"
                assert request(line.encode()) == [f"ok chunk {seq}"]
            assert request(b"upload end\n") == [f"ok upload image complete: 1000 bytes, crc32 {zlib.crc32(data):08x}"]
            lines = request(b"download begin image\n")
            assert lines == [f". transfer kind=image size=1000 chunks=2 chunk_size=512 crc32={zlib.crc32(data):08x}",
                             "ok"], lines
            _, tag, seq, text, crc = request(b"download chunk 1\n")[0].split(" ")
            assert (tag, seq) == ("chunk", "1")
            assert base64.b64decode(text, validate=True) == data[512:] and int(crc, 16) == zlib.crc32(data[512:])
            assert request(b"download end\n") == ["ok download ended"]


def test_damaged_chunks_are_sent_again(ctx):
    data = bytes(random.Random(2).getrandbits(8) for _ in range(2000))
    (ctx.scratch / "image.bin").write_bytes(data)
    with Server(ctx, mode="corrupt-upload"):
        expect(run(ctx, "--socket", SOCKET, "upload", "image", "image.bin"), 0,
               stdout=f"upload image complete: 2000 bytes, crc32 {zlib.crc32(data):08x}")
        expect(run(ctx, "--socket", SOCKET, "download", "image", "back.bin"), 0)
        assert (ctx.scratch / "back.bin").read_bytes() == data
    with Server(ctx, mode="corrupt-download"):
        expect(run(ctx, "--socket", SOCKET, "upload", "image", "image.bin"), 0)
        expect(run(ctx, "--socket", SOCKET, "download", "image", "again.bin"), 0)
        assert (ctx.scratch / "again.bin").read_bytes() == data
