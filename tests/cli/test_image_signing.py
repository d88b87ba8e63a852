# SPDX-License-Identifier: MIT
"""baton-image check on the signed images the build made, and on damaged, truncated,
unsigned and foreign-signed copies; the digest and the signature recomputed in Python
and OpenSSL, independently of the C++ (docs/image-signing.md)."""

import subprocess

from image_files import (TRAILER_SIZE, digest, note_digest, program_headers, raw_public_key_to_der, seal,
                         signed_message, small_image, trailer, without_trailer, PT_LOAD)

IMAGES = ("baton.elf", "baton-b.elf")


def baton_image(ctx, *args, check_exit=None):
    proc = subprocess.run([str(ctx.build / "bin" / "baton-image"), *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    if check_exit is not None:
        assert proc.returncode == check_exit, \
            f"baton-image {' '.join(map(str, args))}: exit {proc.returncode}, wanted {check_exit}\n" \
            f"{proc.stdout}{proc.stderr}"
    return proc.returncode, proc.stdout + proc.stderr


def build_key(ctx):
    key = ctx.build / "keys" / "signing-public.raw"
    assert key.exists() and key.stat().st_size == 32, f"{key}: the build's raw public key is missing"
    return key


def check(ctx, path, *extra, check_exit=None):
    return baton_image(ctx, "check", path, "--trusted", build_key(ctx), *extra, check_exit=check_exit)


def copy_with(ctx, name, data):
    path = ctx.scratch / name
    path.write_bytes(data)
    return path


def openssl(*args):
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)
    assert proc.returncode == 0, f"openssl {' '.join(map(str, args))}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


def test_check_accepts_the_built_images(ctx):
    key = build_key(ctx).read_bytes().hex()
    for name in IMAGES:
        _, out = check(ctx, ctx.build / name, check_exit=0)
        assert f"{ctx.build / name}: accepted: Baton " in out, out
        assert f"signature: trusted, key {key}" in out, out
        # Without trusting the key the same image is refused.
        _, out = baton_image(ctx, "check", ctx.build / name, check_exit=1)
        assert f"refused (EPERM): image: signed with a key this hypervisor does not trust (key {key[:16]})" in out, out


def test_python_digest_agrees_with_the_note(ctx):
    for name in IMAGES:
        data = (ctx.build / name).read_bytes()
        computed = digest(data)
        assert computed == note_digest(data), f"{name}: Python computes {computed.hex()}, the note says " \
                                              f"{note_digest(data).hex()}"
        _, out = check(ctx, ctx.build / name, check_exit=0)
        assert f"digest {computed.hex()}" in out, out
        # The unsealed link output has a zero digest field and the same digest.
        unsigned = (ctx.build / name.replace(".elf", ".unsigned.elf")).read_bytes()
        assert note_digest(unsigned) == bytes(32)
        assert digest(unsigned) == computed


def test_openssl_verifies_the_signature_over_the_python_message(ctx):
    for name in IMAGES:
        data = (ctx.build / name).read_bytes()
        tail = data[-TRAILER_SIZE:]
        assert tail[:8] == b"BATONSIG" and tail[8:16] == bytes.fromhex("0100000070000000"), tail[:16].hex()
        public_key, signature = tail[16:48], tail[48:112]
        assert public_key == build_key(ctx).read_bytes()
        message = copy_with(ctx, f"{name}.message", signed_message(without_trailer(data)))
        sig = copy_with(ctx, f"{name}.sig", signature)
        der = copy_with(ctx, "public.der", raw_public_key_to_der(public_key))
        out = openssl("pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", der, "-rawin", "-in", message,
                      "-sigfile", sig)
        assert b"Signature Verified Successfully" in out, out


def test_damaged_text_is_refused(ctx):
    data = bytearray((ctx.build / "baton.elf").read_bytes())
    _, headers = program_headers(data)
    # The kernel's .text: the largest executable loaded segment.
    text = max((h for h in headers if h[0] == PT_LOAD and h[1] & 1), key=lambda h: h[5])
    middle = text[2] + text[5] // 2
    data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    _, out = check(ctx, copy_with(ctx, "damaged.elf", data), check_exit=1)
    assert "refused (EBADMSG): image: digest mismatch: the image is damaged (expected " in out, out
    assert f"(expected {note_digest(data)[:8].hex()}..., computed {digest(data)[:8].hex()}...)" in out, out
    # Digest failures are refused whatever the signature policy.
    _, out = check(ctx, copy_with(ctx, "damaged.elf", data), "--allow-unsigned", check_exit=1)
    assert "EBADMSG" in out, out


def test_truncated_and_unsigned_copies(ctx):
    data = (ctx.build / "baton.elf").read_bytes()
    for length in (0, 1, 63, 64, 4096, len(data) // 2, len(data) - TRAILER_SIZE - 1, len(data) - 1):
        _, out = check(ctx, copy_with(ctx, f"cut-{length}.elf", data[:length]), check_exit=1)
        assert "refused (" in out, f"length {length}: {out}"
    # Cut into what is loaded, the image is damaged whatever the policy. (Cut only into the
    # symbols and debug information, it is merely unsigned: the digest covers what loads.)
    _, headers = program_headers(data)
    loaded_end = max(h[2] + h[5] for h in headers if h[0] == PT_LOAD and h[6] != 0)
    for length in (loaded_end - 1, loaded_end // 2):
        _, out = check(ctx, copy_with(ctx, f"cut-{length}.elf", data[:length]), "--allow-unsigned", check_exit=1)
        assert "refused (" in out, f"length {length}: {out}"
    unsigned = copy_with(ctx, "unsigned.elf", data[:-TRAILER_SIZE])
    _, out = check(ctx, unsigned, check_exit=1)
    assert "refused (EPERM): image: unsigned" in out, out
    _, out = check(ctx, unsigned, "--allow-unsigned", check_exit=0)
    assert "signature: unsigned (accepted only because of --allow-unsigned): image: unsigned" in out, out
    # What the linker wrote, before sealing.
    _, out = check(ctx, ctx.build / "baton.unsigned.elf", "--allow-unsigned", check_exit=1)
    assert "refused (EBADMSG): image: not sealed (no digest written by the build)" in out, out
    # A trailer of another version.
    malformed = copy_with(ctx, "malformed.elf", data[:-TRAILER_SIZE] + trailer(data[-96:-64], data[-64:], version=2))
    _, out = check(ctx, malformed, check_exit=1)
    assert "image: malformed signature trailer (version 2, size 112;" in out, out


def test_another_key_is_not_trusted(ctx):
    key = ctx.scratch / "other.pem"
    openssl("genpkey", "-algorithm", "ed25519", "-out", key)
    public_key = openssl("pkey", "-in", key, "-pubout", "-outform", "DER")[-32:]
    public_raw = copy_with(ctx, "other.raw", public_key)
    sealed, message = ctx.scratch / "sealed.elf", ctx.scratch / "message"
    baton_image(ctx, "seal", ctx.build / "baton.unsigned.elf", sealed, message, check_exit=0)
    assert message.read_bytes() == signed_message(sealed.read_bytes())
    signature = ctx.scratch / "signature"
    openssl("pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", message, "-out", signature)
    other = ctx.scratch / "other-signed.elf"
    baton_image(ctx, "attach", sealed, signature, public_raw, other, check_exit=0)
    _, out = check(ctx, other, check_exit=1)
    assert f"refused (EPERM): image: signed with a key this hypervisor does not trust (key {public_key[:8].hex()})" \
        in out, out
    _, out = check(ctx, other, "--allow-unsigned", check_exit=0)
    assert "signature: untrusted key (accepted only because of --allow-unsigned)" in out, out
    # Trusted as a second key (rotation), it passes.
    _, out = check(ctx, other, "--trusted", public_raw, check_exit=0)
    assert f"signature: trusted, key {public_key.hex()}" in out, out
    # attach refuses a signature that does not verify with the key it is given.
    code, out = baton_image(ctx, "attach", sealed, signature, build_key(ctx), ctx.scratch / "wrong.elf")
    assert code == 1 and "bad signature" in out, out


def test_python_seals_a_small_image_as_the_tool_does(ctx):
    image = copy_with(ctx, "small.elf", small_image())
    sealed, message = ctx.scratch / "small-sealed.elf", ctx.scratch / "small.message"
    baton_image(ctx, "seal", image, sealed, message, check_exit=0)
    assert sealed.read_bytes() == seal(small_image())
    assert message.read_bytes() == signed_message(sealed.read_bytes())
    _, out = check(ctx, sealed, "--allow-unsigned", check_exit=0)
    assert "signature: unsigned" in out, out
