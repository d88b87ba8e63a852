#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs every Baton test: the GoogleTest unit binary and the Python test modules
(tests/qemu/test_*.py, tests/cli/test_*.py). Prints one result line per test and, last,
'N passed, N failed'. Exits 1 if anything failed, 2 if the runner itself could not run."""

import argparse
import concurrent.futures
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY_SUITES = ["tests/cli", "tests/qemu"]


class Context:
    """What a Python test gets: where the build is, and a private scratch directory."""

    def __init__(self, build: Path, scratch: Path):
        self.root = ROOT
        self.build = build
        self.scratch = scratch


# The unit binaries: the whole suite under AddressSanitizer and UBSan, and the concurrency
# tests under ThreadSanitizer, whose first report ends the run (and so fails it).
UNIT_BINARIES = [
    ("unit_tests", "unit", {}),
    ("unit_tests_tsan", "tsan", {"TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1"}),
]


def run_unit(build: Path, results: list, gtest_filter: str, binary_name: str = "unit_tests", prefix: str = "unit",
             extra_env: dict = None):
    binary = build / binary_name
    report = build / "test-results" / f"{prefix}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    if report.exists():
        report.unlink()
    command = [str(binary), f"--gtest_output=json:{report}", "--gtest_brief=1"]
    if gtest_filter:
        command.append(f"--gtest_filter={gtest_filter}")
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if not report.exists():
        results.append((binary_name, False, f"no report; exit {proc.returncode}\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"))
        return
    mine = []
    data = json.loads(report.read_text())
    for suite in data.get("testsuites", []):
        for case in suite.get("testsuite", []):
            name = f"{prefix}/{suite['name']}.{case['name']}"
            failures = case.get("failures", [])
            detail = "\n".join(f["failure"] for f in failures)
            mine.append((name, not failures, detail))
    results.extend(mine)
    if proc.returncode != 0 and all(ok for _, ok, _ in mine):
        results.append((binary_name, False, f"exit {proc.returncode}\n{proc.stderr[-4000:]}"))


def discover_python(selection: str):
    tests = []
    for suite in PY_SUITES:
        for path in sorted((ROOT / suite).glob("test_*.py")):
            spec = importlib.util.spec_from_file_location(f"{path.parent.name}_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(path.parent))
            try:
                spec.loader.exec_module(module)
            finally:
                sys.path.pop(0)
            for attr in sorted(dir(module)):
                if attr.startswith("test_") and callable(getattr(module, attr)):
                    name = f"{path.parent.name}/{path.stem}.{attr}"
                    if not selection or selection in name:
                        tests.append((name, getattr(module, attr)))
    return tests


def run_python_test(name, function, build: Path, scratch_root: Path):
    scratch = Path(tempfile.mkdtemp(prefix=name.replace("/", "_") + "_", dir=scratch_root))
    started = time.monotonic()
    try:
        function(Context(build, scratch))
        return name, True, "", time.monotonic() - started
    except AssertionError as error:
        # A bare assert has no message: its line is the message then.
        return name, False, str(error) or traceback.format_exc(limit=-1), time.monotonic() - started
    except Exception:  # a crash in the test itself is a failure too, with its trace
        return name, False, traceback.format_exc(), time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build", help="build directory (default: build)")
    parser.add_argument("--only", default="", help="run only Python tests whose name contains this")
    parser.add_argument("--gtest-filter", default="", help="filter for the unit tests")
    parser.add_argument("--no-unit", action="store_true", help="skip the unit-test binaries")
    parser.add_argument("--jobs", type=int, default=2, help="Python tests run in parallel (default 2)")
    args = parser.parse_args()

    build = (ROOT / args.build).resolve()
    results = []
    if not args.no_unit:
        for binary_name, prefix, extra_env in UNIT_BINARIES:
            mine = []
            run_unit(build, mine, args.gtest_filter, binary_name, prefix, extra_env)
            results.extend(mine)
            failed_units = [r for r in mine if not r[1]]
            print(f"{prefix}: {len(mine) - len(failed_units)} passed, {len(failed_units)} failed")
            for name, _, detail in failed_units:
                print(f"FAIL {name}\n{detail}")

    scratch_root = build / "test-scratch"
    scratch_root.mkdir(parents=True, exist_ok=True)
    tests = discover_python(args.only)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_python_test, name, fn, build, scratch_root) for name, fn in tests]
        for future in concurrent.futures.as_completed(futures):
            name, ok, detail, seconds = future.result()
            results.append((name, ok, detail))
            print(f"{'PASS' if ok else 'FAIL'} {name} ({seconds:.1f}s)", flush=True)
            if not ok:
                print("    " + detail.replace("\n", "\n    "), flush=True)

    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and results else 1


if __name__ == "__main__":
    sys.exit(main())
