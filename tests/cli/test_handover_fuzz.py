# SPDX-License-Identifier: MIT
"""A short libFuzzer run of the kernel's handover record reader (ASan + UBSan).

The long run is `make baton-fuzz` (FUZZ_SECONDS=...); this one keeps `make test` quick.
"""

import shutil
import subprocess

RUNS = 100000


def test_fuzz_record_reader_briefly(ctx):
    fuzzer = ctx.build / "bin" / "fuzz-handover-reader"
    assert fuzzer.exists(), f"{fuzzer} not built (it is part of `make all`)"
    corpus = ctx.scratch / "corpus"
    corpus.mkdir()
    for record in (ctx.root / "tests" / "golden").glob("*/*.bin"):
        shutil.copy(record, corpus / f"{record.parent.name}-{record.name}")
    proc = subprocess.run([str(fuzzer), f"-runs={RUNS}", "-max_len=16384", "-max_total_time=60", "-seed=1",
                           f"-artifact_prefix={ctx.scratch}/", str(corpus)],
                          capture_output=True, text=True, timeout=180)
    log = proc.stderr[-3000:]
    assert proc.returncode == 0, f"fuzzer found a failure (exit {proc.returncode}):\n{log}"
    assert "Done" in proc.stderr, f"fuzzer did not finish its runs:\n{log}"
