# SPDX-License-Identifier: MIT
"""Reads Linux kernel images: the bzImage setup header, its compressed payload (the
uncompressed ELF `vmlinux`) and the ELF notes of that vmlinux, among them the PVH entry.

Standard library only, so the build and the tests can use it on any Debian machine.
Layouts: Documentation/arch/x86/boot.rst (setup header) and xen/interface/elfnote.h."""

import gzip
import lzma
import struct

# Setup header fields (offsets into the bzImage file).
SETUP_SECTS = 0x1F1
HEADER_MAGIC = 0x202  # "HdrS"
PROTOCOL_VERSION = 0x206
KERNEL_VERSION = 0x20E  # pointer to a NUL-terminated string, minus 0x200
XLOADFLAGS = 0x236
PAYLOAD_OFFSET = 0x248  # relative to the protected-mode code, (setup_sects + 1) * 512
PAYLOAD_LENGTH = 0x24C
INIT_SIZE = 0x260
XLF_KERNEL_64 = 1 << 0

XZ_MAGIC = b"\xfd7zXZ\x00"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

XEN_ELFNOTE_PHYS32_ENTRY = 0x12
PT_NOTE = 4


class ImageError(Exception):
    """The file is not what the guest build needs; the message says what was found."""


class BzImage:
    """The parts of a bzImage's setup header the guest build reports and relies on."""

    def __init__(self, data: bytes):
        if len(data) < 0x268 or data[HEADER_MAGIC:HEADER_MAGIC + 4] != b"HdrS":
            raise ImageError("not a bzImage: no 'HdrS' setup header at 0x202")
        self.data = data
        self.protocol = struct.unpack_from("<H", data, PROTOCOL_VERSION)[0]
        if self.protocol < 0x208:
            raise ImageError(f"boot protocol {self.protocol >> 8}.{self.protocol & 0xff}: "
                             "payload_offset needs 2.08 or later")
        setup_sects = data[SETUP_SECTS] or 4  # 0 means 4 (boot.rst)
        self.setup_sects = setup_sects
        self.xloadflags = struct.unpack_from("<H", data, XLOADFLAGS)[0]
        self.init_size = struct.unpack_from("<I", data, INIT_SIZE)[0]
        start = (setup_sects + 1) * 512 + struct.unpack_from("<I", data, PAYLOAD_OFFSET)[0]
        length = struct.unpack_from("<I", data, PAYLOAD_LENGTH)[0]
        if start + length > len(data):
            raise ImageError(f"payload 0x{start:x}+0x{length:x} runs past the file's end (0x{len(data):x})")
        self.payload = data[start:start + length]
        self.payload_start = start

    def version(self):
        """The kernel's version string ("6.1.0-57-amd64 (debian-kernel@...) #1 SMP ...")."""
        pointer = struct.unpack_from("<H", self.data, KERNEL_VERSION)[0]
        if pointer == 0:
            return ""
        at = pointer + 0x200
        return self.data[at:self.data.find(b"\0", at)].decode(errors="replace")

    @property
    def protocol_text(self):
        return f"{self.protocol >> 8}.{self.protocol & 0xff}"

    def compression(self):
        for name, magic in (("xz", XZ_MAGIC), ("gzip", GZIP_MAGIC), ("zstd", ZSTD_MAGIC)):
            if self.payload.startswith(magic):
                return name
        return f"unknown (starts {self.payload[:6].hex()})"

    def decompress(self) -> bytes:
        """The payload uncompressed: vmlinux (an ELF). The payload ends with the 4-byte
        uncompressed size (the kernel build appends it to xz; gzip's own trailer is it)."""
        kind = self.compression()
        if kind == "xz":
            decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            out = decompressor.decompress(self.payload)
            if not decompressor.eof:
                raise ImageError("the xz payload ends before its stream does")
        elif kind == "gzip":
            out = gzip.decompress(self.payload)
        else:
            # zstd has no decoder in Python's standard library (Debian's kernel uses xz).
            raise ImageError(f"payload compression {kind}: only xz and gzip are supported here")
        expected = struct.unpack_from("<I", self.payload, len(self.payload) - 4)[0]
        if len(out) & 0xFFFFFFFF != expected:
            raise ImageError(f"payload decompressed to {len(out)} bytes, its trailer says {expected}")
        return out


class Elf64:
    """An ELF64 little-endian x86-64 file: header fields, program headers and notes."""

    def __init__(self, data: bytes):
        if data[:4] != b"\x7fELF":
            raise ImageError(f"not an ELF file (starts {data[:4].hex()})")
        if data[4] != 2 or data[5] != 1:
            raise ImageError(f"not ELF64 little-endian (class {data[4]}, data {data[5]})")
        (self.type, self.machine, _, self.entry, self.phoff, _, _, _, self.phentsize,
         self.phnum) = struct.unpack_from("<HHIQQQIHHH", data, 16)
        if self.machine != 62:
            raise ImageError(f"ELF machine {self.machine}, not x86-64 (62)")
        self.data = data

    def program_headers(self):
        for index in range(self.phnum):
            fields = struct.unpack_from("<IIQQQQQQ", self.data, self.phoff + index * self.phentsize)
            yield dict(zip(("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align"), fields))

    def notes(self):
        """(name, type, descriptor bytes) of every note in the PT_NOTE segments."""
        for header in self.program_headers():
            if header["type"] != PT_NOTE:
                continue
            at, end = header["offset"], header["offset"] + header["filesz"]
            while at + 12 <= end:
                name_size, desc_size, note_type = struct.unpack_from("<III", self.data, at)
                name_at = at + 12
                desc_at = name_at + (name_size + 3) // 4 * 4
                name = self.data[name_at:name_at + name_size].rstrip(b"\0").decode(errors="replace")
                yield name, note_type, self.data[desc_at:desc_at + desc_size]
                at = desc_at + (desc_size + 3) // 4 * 4

    def pvh_entry(self):
        """The 32-bit PVH entry (XEN_ELFNOTE_PHYS32_ENTRY), or None if there is no such note.
        Linux writes it with _ASM_PTR, so on x86-64 the descriptor is 8 bytes."""
        for name, note_type, desc in self.notes():
            if name == "Xen" and note_type == XEN_ELFNOTE_PHYS32_ENTRY and len(desc) in (4, 8):
                return int.from_bytes(desc, "little")
        return None
