# SPDX-License-Identifier: MIT
"""The include rule of docs/architecture.md holds for the tree, and the checker catches a
crossing, a file outside every part and an include that resolves to nothing."""

import shutil
import subprocess
import sys


def run_check(ctx, root):
    proc = subprocess.run([sys.executable, str(ctx.root / "tools" / "check_includes.py"), "--root", str(root)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def copy_checked_tree(ctx):
    root = ctx.scratch / "tree"
    for folder in ("kernel", "handover", "abi", "tests/guests", "docs"):
        shutil.copytree(ctx.root / folder, root / folder)
    return root


def test_the_tree_keeps_the_include_rule(ctx):
    code, out = run_check(ctx, ctx.root)
    assert code == 0, f"include rule broken:\n{out}"
    assert "include rule: 0 crossings" in out, out


def test_the_checker_names_each_kind_of_crossing(ctx):
    root = copy_checked_tree(ctx)
    domain = root / "kernel" / "dom" / "domain.cpp"
    domain.write_text('#include "arch/x86_64/svm/vmcb.hpp"\n' + domain.read_text())
    mm = root / "kernel" / "mm" / "frames.cpp"
    mm.write_text('#include "dom/domain.hpp"\n' + mm.read_text())
    (root / "kernel" / "stray").mkdir()
    (root / "kernel" / "stray" / "loose.cpp").write_text("int loose;\n")
    lib = root / "kernel" / "lib" / "format.cpp"
    lib.write_text('#include "no/such/header.hpp"\n' + lib.read_text())
    code, out = run_check(ctx, root)
    assert code == 1, f"the checker passed a broken tree:\n{out}"
    expected = [
        'kernel/dom/domain.cpp:1: dom includes "arch/x86_64/svm/vmcb.hpp" (arch); dom may include only:',
        'kernel/mm/frames.cpp:1: mm includes "dom/domain.hpp" (dom); mm may include only: abi, lib, mm',
        "kernel/stray/loose.cpp: in no part of docs/architecture.md's include rule",
        'kernel/lib/format.cpp:1: "no/such/header.hpp" resolves to no file in the tree',
        "include rule: 4 crossings",
    ]
    for line in expected:
        assert line in out, f"missing {line!r} in:\n{out}"
