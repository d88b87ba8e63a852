# SPDX-License-Identifier: MIT
"""The README's commands on a machine without the packages: `make deps` must finish
before any compiler starts, for every goal that builds (issue 12).

CI cannot uninstall packages, so the test simulates a fresh machine: a copy of the tree
whose tools/deps.sh is a slow stand-in, and compilers on PATH that note whether they
were started before the stand-in finished. The stand-in compilers then fail, which
ends each make quickly.
"""

import os
import shutil
import subprocess
from pathlib import Path

STAND_IN_SECONDS = 2
COMPILERS = ["g++", "gcc", "c++", "cc", "clang", "clang++", "capnp", "as", "ld"]


def copy_tree(ctx, destination: Path):
    """What a fresh clone of this work tree would hold (tracked and new files)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ctx.root, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ctx.root / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def prepare(ctx):
    tree, tools, marks = ctx.scratch / "clone", ctx.scratch / "bin", ctx.scratch / "marks"
    for folder in (tree, tools, marks):
        folder.mkdir()
    copy_tree(ctx, tree)
    finished = marks / "deps-finished"
    (tree / "tools" / "deps.sh").write_text(
        f"#!/bin/sh\necho 'deps: stand-in installing'\nsleep {STAND_IN_SECONDS}\ntouch '{finished}'\n")
    (tree / "tools" / "deps.sh").chmod(0o755)
    for compiler in COMPILERS:
        wrapper = tools / compiler
        wrapper.write_text(
            "#!/bin/sh\n"
            f"if [ -e '{finished}' ]; then echo \"$0 $*\" >> '{marks / 'after'}';"
            f" else echo \"$0 $*\" >> '{marks / 'before'}'; fi\n"
            "exit 1\n")
        wrapper.chmod(0o755)
    return tree, tools, marks


def make(tree: Path, tools: Path, goal):
    # Nothing of the outer `make test` may leak in: its flags, its level, its deps check.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BATON_DEPS_CHECKED")}
    env["PATH"] = f"{tools}:{env['PATH']}"
    command = ["make", "-C", str(tree)] + ([goal] if goal else [])
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def check_goal(ctx, goal):
    tree, tools, marks = prepare(ctx)
    proc = make(tree, tools, goal)
    shown = f"make {goal or '(default)'}: exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    before = marks / "before"
    assert not before.exists(), f"compilers ran before deps finished:\n{before.read_text()}\n{shown}"
    assert (marks / "deps-finished").exists(), f"deps never ran\n{shown}"
    assert (marks / "after").exists(), f"no compiler ran at all, so the test proved nothing\n{shown}"
    assert proc.returncode != 0, f"the stand-in compilers fail, yet make succeeded\n{shown}"


def test_make_test_installs_packages_before_compiling(ctx):
    check_goal(ctx, "test")


def test_make_demo_installs_packages_before_compiling(ctx):
    check_goal(ctx, "demo")


def test_plain_make_installs_packages_before_compiling(ctx):
    check_goal(ctx, None)


def test_help_and_clean_need_no_packages(ctx):
    tree, tools, marks = prepare(ctx)
    for goal in ("help", "clean"):
        proc = make(tree, tools, goal)
        assert proc.returncode == 0, f"make {goal}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    assert not (marks / "deps-finished").exists(), "make help/clean installed packages"
