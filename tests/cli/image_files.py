# SPDX-License-Identifier: MIT
"""Baton image files in Python, independently of the C++ (docs/image-signing.md): the
digest with hashlib, the signed message, the trailer, and small synthetic images."""

import hashlib
import struct

NOTE_OWNER = b"Baton\0"
NOTE_TYPE = 0x42410001
NOTE_SIZE = 112  # struct baton_image_note, version 2
DIGEST_FIELD = 80  # offsetof(baton_image_note, digest)
TRAILER_SIZE = 112
TRAILER_MAGIC = b"BATONSIG"
PT_LOAD, PT_NOTE = 1, 4
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def program_headers(data):
    """(type, flags, offset, vaddr, paddr, filesz, memsz, header offset) of each program header."""
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    assert phentsize == 56, phentsize
    headers = []
    for i in range(phnum):
        at = phoff + 56 * i
        p_type, flags, offset, vaddr, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, at)
        headers.append((p_type, flags, offset, vaddr, paddr, filesz, memsz, at))
    return entry, headers


def note_offset(data):
    """File offset of the Baton note's descriptor."""
    _, headers = program_headers(data)
    for p_type, _, offset, _, _, filesz, _, _ in headers:
        if p_type != PT_NOTE:
            continue
        at, end = offset, offset + filesz
        while at + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", data, at)
            name_at = at + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            if n_type == NOTE_TYPE and data[name_at:name_at + namesz] == NOTE_OWNER:
                return desc_at
            at = desc_at + (descsz + 3) // 4 * 4
    raise AssertionError("no Baton note")


def digest(data):
    """The image digest, straight from its definition in docs/image-signing.md."""
    entry, headers = program_headers(data)
    note = note_offset(data)
    hole = range(note + DIGEST_FIELD, note + DIGEST_FIELD + 32)
    h = hashlib.sha256()
    h.update(b"BATON-IMAGE-DIGEST-1\0")
    h.update(struct.pack("<Q", entry))
    descriptor = bytearray(data[note:note + NOTE_SIZE])
    descriptor[DIGEST_FIELD:DIGEST_FIELD + 32] = bytes(32)
    h.update(descriptor)
    for p_type, _, offset, _, paddr, filesz, memsz, _ in headers:
        if p_type != PT_LOAD or memsz == 0:  # what the loader loads (lib/elf.hpp)
            continue
        h.update(struct.pack("<QQQ", paddr, memsz, filesz))
        segment = bytearray(data[offset:offset + filesz])
        for i in hole:
            if offset <= i < offset + filesz:
                segment[i - offset] = 0
        h.update(segment)
    return h.digest()


def note_digest(data):
    note = note_offset(data)
    return bytes(data[note + DIGEST_FIELD:note + DIGEST_FIELD + 32])


def signed_message(data):
    """What the signature signs: the domain string, the digest, the note with its digest."""
    note = note_offset(data)
    return b"BATON-IMAGE-SIGNATURE-1\0" + note_digest(data) + bytes(data[note:note + NOTE_SIZE])


def seal(data):
    data = bytearray(data)
    note = note_offset(data)
    data[note + DIGEST_FIELD:note + DIGEST_FIELD + 32] = digest(data)
    return bytes(data)


def trailer(public_key, signature, version=1, size=TRAILER_SIZE):
    assert len(public_key) == 32 and len(signature) == 64
    return TRAILER_MAGIC + struct.pack("<II", version, size) + public_key + signature


def without_trailer(data):
    assert data[-TRAILER_SIZE:][:8] == TRAILER_MAGIC, "no signature trailer"
    return data[:-TRAILER_SIZE]


def small_image(build_id=b"py-small"):
    """A minimal unsealed Baton image: a multiboot2 header and 0x100 bytes of code with
    the note inside them (as the real image has it in rodata), and a PT_NOTE naming it."""
    code = bytearray(b"\x90" * 0x100)
    magic, arch, length = 0xE85250D6, 0, 16
    struct.pack_into("<IIII", code, 0, magic, arch, length, (-(magic + arch + length)) & 0xFFFFFFFF)
    # Reads records v1..v65535: whatever version the checker writes.
    descriptor = struct.pack("<IIII16s48s32s", 2, 1, 1, 0xFFFF, b"0.1.0", build_id, bytes(32))
    note = struct.pack("<III", len(NOTE_OWNER), len(descriptor), NOTE_TYPE) + NOTE_OWNER + b"\0\0" + descriptor
    code[0x40:0x40 + len(note)] = note
    code_offset = 64 + 2 * 56
    header = bytearray(64)
    header[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", header, 16, 2, 62, 1, 0x200010, 64, 0, 0, 64, 56, 2, 0, 0, 0)
    load = struct.pack("<IIQQQQQQ", PT_LOAD, 5, code_offset, 0x200000, 0x200000, len(code), 0x1000, 0x1000)
    notes = struct.pack("<IIQQQQQQ", PT_NOTE, 4, code_offset + 0x40, 0, 0, len(note), len(note), 4)
    return bytes(header) + load + notes + bytes(code)


def raw_public_key_to_der(public_key):
    return ED25519_SPKI_PREFIX + public_key
