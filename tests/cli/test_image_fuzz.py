# SPDX-License-Identifier: MIT
"""A short libFuzzer run of the hypervisor's next-image check (ASan + UBSan).

Seeds: the signed images the build made, and small sealed images whose trailers carry
the build's trusted key with a random signature, so mutations of the trailer (which the
digest does not cover) reach Ed25519 verification. The long run is `make baton-fuzz`.
"""

import os
import shutil
import subprocess

from image_files import seal, small_image, trailer

RUNS = 20000


def test_fuzz_image_check_briefly(ctx):
    fuzzer = ctx.build / "bin" / "fuzz-image-check"
    assert fuzzer.exists(), f"{fuzzer} not built (it is part of `make all`)"
    corpus = ctx.scratch / "corpus"
    corpus.mkdir()
    for name in ("baton.elf", "baton-b.elf"):
        shutil.copy(ctx.build / name, corpus / name)
    public_key = (ctx.build / "keys" / "signing-public.raw").read_bytes()
    for i in range(4):
        sealed = seal(small_image(build_id=f"seed-{i}".encode()))
        (corpus / f"small-{i}.elf").write_bytes(sealed + trailer(public_key, os.urandom(64)))
    (corpus / "small-unsigned.elf").write_bytes(seal(small_image()))
    proc = subprocess.run([str(fuzzer), f"-runs={RUNS}", "-max_total_time=60", "-seed=1",
                           f"-artifact_prefix={ctx.scratch}/", str(corpus)],
                          capture_output=True, text=True, timeout=180)
    log = proc.stderr[-3000:]
    assert proc.returncode == 0, f"fuzzer found a failure (exit {proc.returncode}):\n{log}"
    assert "Done" in proc.stderr, f"fuzzer did not finish its runs:\n{log}"
