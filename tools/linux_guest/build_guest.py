#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Builds the real Linux test guest from Debian 12 packages (docs/linux-guest.md).

  kernel     Debian's kernel: vmlinuz (the bzImage) and vmlinux (its uncompressed ELF,
             checked for the PVH entry note), from linux-image-amd64's current kernel
             package, a given .deb, or a given bzImage (--kernel /boot/vmlinuz-...).
  initramfs  a gzip'd newc cpio: busybox-static, /init and the workload programs.
  cmdline    the kernel command line for Baton, from a commented source file.

Packages are fetched with `apt-get download` into a cache folder and unpacked with
`dpkg-deb`: nothing is installed on this machine (the kernel package's scripts would
build a host initramfs and touch /boot; busybox-static conflicts with busybox).
"""

import argparse
import gzip
import io
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_image import BzImage, Elf64, ImageError  # noqa: E402


class BuildError(Exception):
    """A step failed; the message says which and what to do."""


def log(message):
    print(f"linux-guest: {message}", flush=True)


def run(command, **kwargs):
    proc = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(map(str, command))} failed (exit {proc.returncode}):\n"
                         f"{proc.stdout}{proc.stderr}".rstrip())
    return proc.stdout


def write_atomically(path: Path, data: bytes, mode=0o644):
    """Writes through a temporary file, so an interrupted build leaves no half file that
    make would take as up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data)
    os.chmod(handle.name, mode)
    os.replace(handle.name, path)


# ---- Debian packages ------------------------------------------------------------------

def resolve_metapackage(metapackage: str) -> str:
    """linux-image-amd64 depends on exactly one versioned kernel package: that one."""
    out = run(["apt-cache", "depends", metapackage])
    wanted = [line.split(":", 1)[1].strip() for line in out.splitlines()
              if line.strip().startswith("Depends:") and "linux-image-" in line]
    if not wanted:
        raise BuildError(f"apt-cache depends {metapackage} names no linux-image package:\n{out}")
    return wanted[0]


def candidate_version(package: str):
    """The version apt would fetch, or None if apt does not know the package."""
    proc = subprocess.run(["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def refresh_lists_and_retry(fetch, *args):
    """fetch(*args), and once more after `apt-get update` if it failed: package lists
    older than the mirror name versions the mirror no longer has (a download fails with
    404). Only as root; otherwise the error says what to run."""
    try:
        return fetch(*args)
    except BuildError as error:
        if os.geteuid() != 0:
            raise BuildError(f"{error}\n(if the package lists are stale: sudo apt-get update)") from error
        log(f"{error.args[0].splitlines()[0]}; refreshing the package lists (apt-get update) and trying again")
        run(["apt-get", "update", "-qq"])
        return fetch(*args)


def fetch_deb(package: str, cache: Path) -> Path:
    """The package's .deb in the cache, downloaded if this version is not there yet.
    Offline, or when apt no longer knows it, the newest cached one is used."""
    cache.mkdir(parents=True, exist_ok=True)
    version = candidate_version(package)
    cached = sorted(cache.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    if version is None:
        if cached:
            log(f"apt does not know {package}; using the cached {cached[-1].name}")
            return cached[-1]
        raise BuildError(f"apt does not know {package} and nothing is cached in {cache}: "
                         "run `make deps` (it runs apt-get update when the package lists are empty)")
    # apt-get download names files package_version_arch.deb with the epoch's ':' as %3a.
    expected = [p for p in cached if p.name.startswith(f"{package}_{version.replace(':', '%3a')}_")]
    if expected:
        return expected[0]
    started = time.monotonic()
    # As root apt warns that _apt cannot write the folder and downloads unsandboxed:
    # harmless, so its output is shown only when it fails.
    run(["apt-get", "download", "-q", package], cwd=cache)
    found = [p for p in cache.glob(f"{package}_*.deb") if p not in cached]
    if not found:
        raise BuildError(f"apt-get download {package} left no {package}_*.deb in {cache}")
    log(f"downloaded {found[0].name} ({found[0].stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.1f}s")
    return found[0]


def extract(deb: Path, destination: Path, *members):
    """Unpacks members (./path inside the package) of a .deb's file system into destination."""
    started = time.monotonic()
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as dpkg:
        tar = subprocess.run(["tar", "-x", "-C", str(destination), *members], stdin=dpkg.stdout,
                             capture_output=True, text=True)
        dpkg.stdout.close()
        dpkg_error = dpkg.stderr.read().decode(errors="replace")
    if dpkg.returncode != 0 or tar.returncode != 0:
        raise BuildError(f"unpacking {members} from {deb} failed: {dpkg_error}{tar.stderr}".rstrip())
    log(f"unpacked {' '.join(members)} from {deb.name} in {time.monotonic() - started:.1f}s")


# ---- kernel ---------------------------------------------------------------------------

def fetch_kernel_deb(metapackage: str, cache: Path) -> Path:
    package = resolve_metapackage(metapackage)
    log(f"{metapackage} -> {package}")
    return fetch_deb(package, cache)


def kernel_from_deb(deb: Path, work: Path):
    """(bzImage path, config path or None) from a linux-image .deb."""
    extract(deb, work, "./boot")
    images = sorted((work / "boot").glob("vmlinuz-*"))
    if len(images) != 1:
        raise BuildError(f"{deb.name} holds {len(images)} boot/vmlinuz-* files, expected one")
    config = work / "boot" / images[0].name.replace("vmlinuz-", "config-")
    return images[0], config if config.exists() else None


def build_kernel(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Unpacked packages live only during the step (the kernel package holds ~400 MB of
    # modules the guest does not need; only ./boot is unpacked).
    with tempfile.TemporaryDirectory(dir=out, prefix=".unpack-kernel-") as work:
        make_kernel(args, out, Path(work))


def make_kernel(args, out: Path, work: Path):
    if args.kernel:
        bzimage, config, source = Path(args.kernel), None, f"file {args.kernel}"
    else:
        if args.linux_deb:
            deb = Path(args.linux_deb)
        else:
            deb = refresh_lists_and_retry(fetch_kernel_deb, args.metapackage, Path(args.cache))
        bzimage, config = kernel_from_deb(deb, work)
        source = f"package {deb.name}"

    data = bzimage.read_bytes()
    try:
        header = BzImage(data)
        if not header.xloadflags & 1:
            raise ImageError("XLF_KERNEL_64 is not set: no 64-bit entry")
        log(f"{bzimage.name}: {len(data)} bytes, boot protocol {header.protocol_text}, "
            f"{header.setup_sects} setup sectors, init_size {header.init_size / 2**20:.1f} MiB, "
            f"payload {header.compression()} at {header.payload_start}")
        started = time.monotonic()
        vmlinux = header.decompress()
        elf = Elf64(vmlinux)
        entry = elf.pvh_entry()
    except ImageError as error:
        raise BuildError(f"{bzimage}: {error}") from error
    if entry is None:
        raise BuildError(f"{bzimage}: its vmlinux has no Xen ELF note 0x12 (PHYS32_ENTRY): the kernel was "
                         "built without CONFIG_PVH and can only be started through the bzImage")
    log(f"vmlinux: ELF64 {len(vmlinux) / 1e6:.1f} MB, entry 0x{elf.entry:x}, "
        f"PVH entry (Xen note 0x12 PHYS32_ENTRY) 0x{entry:x}, decompressed in {time.monotonic() - started:.1f}s")

    write_atomically(out / "vmlinux", vmlinux, 0o755)
    if config:
        write_atomically(out / "config", config.read_bytes())
    elif (out / "config").exists():
        (out / "config").unlink()  # a previous package's, not this kernel's
    release = header.version()
    write_atomically(out / "kernel-release", f"{release}\nfrom {source}\npvh_entry 0x{entry:x}\n".encode())
    # Last: make's target for the whole step is vmlinuz.
    write_atomically(out / "vmlinuz", data)
    log(f"kernel {release.split(' ')[0]} -> {out}/vmlinuz, {out}/vmlinux")


# ---- initramfs ------------------------------------------------------------------------

class Cpio:
    """A newc ("070701") archive, every entry owned by 0:0 with mtime 0, so the bytes
    depend only on the inputs and no root is needed to make it."""

    def __init__(self):
        self.out = io.BytesIO()
        self.inode = 1

    def _entry(self, name: str, mode: int, data=b"", rdev=(0, 0)):
        encoded = name.encode() + b"\0"
        fields = [self.inode, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0]
        self.inode += 1
        self.out.write(b"070701" + b"".join(f"{field:08x}".encode() for field in fields) + encoded)
        self._pad()
        self.out.write(data)
        self._pad()

    def _pad(self):
        self.out.write(b"\0" * (-self.out.tell() % 4))

    def directory(self, name, mode=0o755):
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name, data: bytes, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target: str):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name, major, minor, mode=0o600):
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.out.getvalue()


def busybox_binary(args, work: Path) -> bytes:
    deb = Path(args.busybox_deb) if args.busybox_deb else \
        refresh_lists_and_retry(fetch_deb, "busybox-static", Path(args.cache))
    extract(deb, work, "./bin/busybox")
    return (work / "bin" / "busybox").read_bytes()


def check_static_elf(path: Path):
    """Programs in the initramfs run without a dynamic loader: refuse any with PT_INTERP."""
    elf = Elf64(path.read_bytes())
    if any(header["type"] == 3 for header in elf.program_headers()):
        raise BuildError(f"{path} is dynamically linked; the initramfs has no libc: link it with -static")


def build_initramfs(args):
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".unpack-busybox-") as work:
        busybox = busybox_binary(args, Path(work))
    archive = Cpio()
    # Folders the kernel and `busybox --install -s` expect; /dev/console because the kernel
    # opens it for init's stdin/stdout before /init can mount devtmpfs.
    for folder in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "etc", "root"):
        archive.directory(folder)
    archive.directory("tmp", 0o1777)
    archive.char_device("dev/console", 5, 1)
    archive.file("bin/busybox", busybox, 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", Path(args.init).read_bytes(), 0o755)
    for program in args.program:
        path = Path(program)
        check_static_elf(path)
        archive.file(f"bin/{path.name}", path.read_bytes(), 0o755)
    data = archive.finish()
    # mtime 0: the same inputs give the same file.
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    write_atomically(out, packed)
    log(f"initramfs -> {out} ({len(data) / 1e6:.1f} MB cpio, {len(packed) / 1e6:.1f} MB gzip'd; "
        f"programs: busybox, {', '.join(Path(p).name for p in args.program) or 'none'})")


# ---- command line ---------------------------------------------------------------------

def build_cmdline(args):
    """One line from the source file: its words without '#' comments (they say why)."""
    words = []
    for line in Path(args.source).read_text().splitlines():
        words += line.split("#", 1)[0].split()
    if not words:
        raise BuildError(f"{args.source} holds no options")
    write_atomically(Path(args.out), (" ".join(words) + "\n").encode())
    log(f"cmdline -> {args.out}: {' '.join(words)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)

    kernel = steps.add_parser("kernel", help="vmlinuz and vmlinux into a folder")
    kernel.add_argument("--out", required=True, help="output folder (build/linux)")
    kernel.add_argument("--cache", required=True, help="folder of downloaded .deb files")
    kernel.add_argument("--metapackage", default="linux-image-amd64",
                        help="package whose dependency is the kernel to use (default linux-image-amd64)")
    source = kernel.add_mutually_exclusive_group()
    source.add_argument("--linux-deb", help="use this linux-image .deb instead of downloading one")
    source.add_argument("--kernel", help="use this bzImage (e.g. /boot/vmlinuz-$(uname -r))")
    kernel.set_defaults(run=build_kernel)

    initramfs = steps.add_parser("initramfs", help="the gzip'd cpio")
    initramfs.add_argument("--out", required=True, help="output file (build/linux/initramfs.cpio.gz)")
    initramfs.add_argument("--cache", required=True, help="folder of downloaded .deb files")
    initramfs.add_argument("--busybox-deb", help="use this busybox-static .deb instead of downloading one")
    initramfs.add_argument("--init", required=True, help="the /init script")
    initramfs.add_argument("--program", action="append", default=[], help="a static program for /bin (repeatable)")
    initramfs.set_defaults(run=build_initramfs)

    cmdline = steps.add_parser("cmdline", help="the kernel command line")
    cmdline.add_argument("--source", required=True, help="commented option list")
    cmdline.add_argument("--out", required=True, help="output file (build/linux/cmdline)")
    cmdline.set_defaults(run=build_cmdline)

    args = parser.parse_args()
    try:
        args.run(args)
    except (BuildError, ImageError) as error:
        print(f"linux-guest: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
