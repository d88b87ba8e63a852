# SPDX-License-Identifier: MIT
"""Formatting, the clang-tidy subset, SPDX lines: the guard rails of issue 13, checked on
every `make test` (clang-format and clang-tidy 14 from Debian, installed by make deps)."""

import concurrent.futures
import subprocess

# Code that is not ours to format: goldens and what the build generates.
EXCLUDED_PREFIXES = ("tests/golden/",)
TIDY_FLAGS = ["-std=c++20", "-I.", "-Ikernel", "-Ibuild/gen", "-DBATON_HOST", "-DBATON_DEBUG_LOCKS=1"]


def tracked(ctx, *patterns):
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
                         cwd=ctx.root, capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if not f.startswith(EXCLUDED_PREFIXES) and (ctx.root / f).is_file()]


def test_sources_are_formatted(ctx):
    files = tracked(ctx, "*.cpp", "*.hpp", "*.h")
    assert len(files) > 100, files
    proc = subprocess.run(["clang-format", "--dry-run", "--Werror", *files], cwd=ctx.root, capture_output=True,
                          text=True, timeout=300)
    unformatted = sorted({line.split(":")[0] for line in proc.stderr.splitlines() if ": error:" in line})
    assert proc.returncode == 0, (f"{len(unformatted)} files differ from .clang-format (run "
                                  f"'clang-format -i FILE'):\n" + "\n".join(unformatted[:40]))


def portable_sources(ctx):
    """What compiles for the host: the kernel outside arch/, init/ and the control back end,
    the portable arch files, handover/ and the host tools."""
    out = subprocess.run(["make", "-s", "--no-print-directory", "print-portable-sources"], cwd=ctx.root,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def tidy(ctx, files):
    proc = subprocess.run(["clang-tidy", "--quiet", *files, "--", *TIDY_FLAGS, f"-I{ctx.build}/gen"],
                          cwd=ctx.root, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout


def test_clang_tidy_subset_finds_nothing(ctx):
    files = portable_sources(ctx)
    assert len(files) > 50, files
    batches = [files[i::2] for i in range(2)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda batch: tidy(ctx, batch), batches))
    findings = [line for _, out in results for line in out.splitlines() if ": error:" in line or ": warning:" in line]
    assert all(code == 0 for code, _ in results) and not findings, \
        f"clang-tidy (.clang-tidy) found {len(findings)} problems:\n" + "\n".join(findings[:40])


def test_every_source_file_has_an_spdx_line(ctx):
    missing = []
    for name in tracked(ctx, "*.cpp", "*.hpp", "*.h", "*.S", "*.inc", "*.py", "*.sh", "*.capnp", "*.ld", "Makefile", "*.mk"):
        head = (ctx.root / name).read_text(errors="replace").splitlines()[:3]
        if not any("SPDX-License-Identifier: MIT" in line for line in head):
            missing.append(name)
    assert not missing, f"{len(missing)} files without 'SPDX-License-Identifier: MIT' in their first lines:\n" + \
        "\n".join(missing[:40])
