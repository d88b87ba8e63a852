# SPDX-License-Identifier: MIT
"""QEMU tests of kexec: an image uploaded over the control channel is checked, and the
running hypervisor enters it as a multiboot2 loader would (A -> B -> A). Refusals leave
the running hypervisor and its guests untouched. Guests are not carried over yet."""

import os
import re
import subprocess

from baton_qemu import Machine, make_iso


def stripped(ctx, name):
    """The image without debug sections: what gets uploaded (a quarter of the size).

    objcopy drops the signature trailer, which no section holds; the digest covers only
    what is loaded, which stripping keeps, so the same trailer signs the stripped file
    (docs/image-signing.md)."""
    out = ctx.scratch / f"{name}.stripped"
    subprocess.run(["objcopy", "--strip-debug", str(ctx.build / name), str(out)], check=True)
    return keep_signature(ctx.build / name, out)


def keep_signature(signed, copy):
    """Appends the signature trailer of `signed` (if it has one) to `copy`."""
    trailer = signed.read_bytes()[-112:]
    if trailer.startswith(b"BATONSIG"):
        with open(copy, "ab") as out:
            out.write(trailer)
    return copy


def batonctl(ctx, machine, *args, timeout=30):
    env = dict(os.environ, BATON_CONTROL_SOCKET=str(machine.control_path))
    proc = subprocess.run([str(ctx.build / "bin" / "batonctl"), "--timeout", str(timeout), *args], env=env,
                          capture_output=True, text=True, timeout=300 + timeout)
    return proc.returncode, proc.stdout + proc.stderr


def expect(ctx, machine, code, *args, timeout=30):
    got, out = batonctl(ctx, machine, *args, timeout=timeout)
    assert got == code, f"batonctl {' '.join(args)} -> {got}, expected {code}: {out}\n{machine.describe()}"
    return out


def build_id(ctx, machine):
    return re.search(r"build=(\S+)", expect(ctx, machine, 0, "version")).group(1)


def test_kexec_a_to_b_to_a(ctx):
    image_a, image_b = stripped(ctx, "baton.elf"), stripped(ctx, "baton-b.elf")
    iso = make_iso(ctx.scratch / "kexec.iso", ctx.build / "baton.elf", "loglevel=info lu_bootmem=32M",
                   [(ctx.build / "guests" / "counter.elf", "counter ram=8M")])
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"control: listening on COM2", 30, "control channel up")
        first = build_id(ctx, machine)
        assert first.endswith("-A"), first
        region = machine.wait_for_pattern(r"mem: lu_bootmem (0x[0-9a-f]+-0x[0-9a-f]+) \(32 MiB\)", 5,
                                          "the first image's region")[0].group(1)

        for image, variant, boot_number in ((image_b, "B", 2), (image_a, "A", 3)):
            expect(ctx, machine, 0, "upload", "image", str(image))
            machine.wait_for_pattern(rf"upload: staged image [\d.]+ \(build \S+-{variant}\)", 10, "image staged")
            assert "kexec: entering the staged image" in expect(ctx, machine, 0, "kexec")
            machine.wait_for_pattern(r"control: listening on COM2", 60, f"image {variant} up",
                                     count=boot_number)
            assert build_id(ctx, machine).endswith(f"-{variant}")

        log = machine.log
        banners = re.findall(r"\[I\] Baton \S+ \(build (\S+)\) starting", log)
        assert [b[-1] for b in banners] == ["A", "B", "A"], f"banners: {banners}"
        loaders = re.findall(r"boot: loader '([^']*)'", log)
        assert loaders[1].startswith("Baton kexec") and loaders[2].startswith("Baton kexec"), loaders
        # The bootmem region is handed on fixed, and the boot module with it.
        regions = re.findall(r"mem: lu_bootmem (0x[0-9a-f]+-0x[0-9a-f]+)", log)
        assert regions == [region] * 3, f"regions moved: {regions}"
        assert re.findall(r"boot: command line '([^']*)'", log)[1] == \
            f"lu_bootmem=32M@{region.split('-')[0]} loglevel=info"
        # The module survived both jumps: a guest starts from it.
        expect(ctx, machine, 0, "create", "counter")
        machine.wait_for_pattern(r"counter: tick \d+", 30, "a guest from the carried-over module")
        assert "PANIC" not in log and "EXCEPTION" not in log


def test_kexec_refusals_leave_everything_running(ctx):
    iso = make_iso(ctx.scratch / "kexec.iso", ctx.build / "baton.elf", "loglevel=info",
                   [(ctx.build / "guests" / "counter.elf", "counter start ram=8M")])
    junk = ctx.scratch / "junk.elf"
    junk.write_bytes(b"\x7fELF" + bytes(range(256)) * 8)
    with Machine(iso, ctx.scratch) as machine:
        machine.wait_for_pattern(r"counter: tick", 30, "counter running")
        out = expect(ctx, machine, 1, "raw", "kexec")
        assert "error ENOENT no image is staged" in out, out
        out = expect(ctx, machine, 1, "upload", "image", str(junk))
        assert "ELF" in out, out
        expect(ctx, machine, 0, "upload", "image", str(stripped(ctx, "baton-b.elf")))
        out = expect(ctx, machine, 1, "raw", "kexec")
        assert "error EBUSY 1 domains exist" in out, out
        ticks = len(re.findall(r"counter: tick", machine.log))
        machine.wait_for_pattern(r"counter: tick", 30, "counter still running", count=ticks + 3)
        assert build_id(ctx, machine).endswith("-A")
