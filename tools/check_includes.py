#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the include rule of docs/architecture.md: every quoted #include in the kernel,
handover/, abi/ and the test guests goes from a part to a part it may include.

The rule is read from the document itself (the block after '<!-- include-rule -->'), so
the picture and the check cannot drift. Every source file must belong to a part, and
every include must resolve, so a new folder or a stray include path is caught too.
Exits 0 when the tree keeps the rule, 1 with one line per crossing otherwise.

usage: tools/check_includes.py [--root DIR]
"""

import argparse
import re
import sys
from pathlib import Path

CHECKED = ["kernel", "handover", "abi", "tests/guests"]
SOURCE = re.compile(r"\.(cpp|hpp|h|c|S)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# Headers the build generates into build/gen: from abi/handover.capnp, and the trusted
# image-signing keys (tools/image/image.mk).
GENERATED = re.compile(r"^(handover(_next)?_(layout|enums)\.hpp|abi/handover\.capnp\.h|trusted_keys\.hpp)$")
# Where the compilers look, after the including file's own folder (-I flags of the Makefile).
SEARCH = {"tests/guests": ["tests/guests", "."], "": [".", "kernel"]}


def read_rule(document: Path):
    """{part: (path prefix, set of parts it may include)} from the document's rule block."""
    text = document.read_text()
    marker = text.find("<!-- include-rule -->")
    if marker < 0:
        raise SystemExit(f"{document}: no '<!-- include-rule -->' block")
    block = text[marker:].split("```")[1]
    parts = {}
    for line in block.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0] in ("part",) or line.lstrip().startswith("#"):
            continue
        name, prefix, allowed = fields[0], fields[1], fields[2:]
        parts[name] = (prefix, {name, *(a.rstrip(",") for a in allowed if a != "-")})
    unknown = {a for _, allowed in parts.values() for a in allowed} - set(parts) - {"gen"}
    if unknown:
        raise SystemExit(f"{document}: the rule names unknown parts: {sorted(unknown)}")
    return parts


def part_of(path: str, parts):
    best = None
    for name, (prefix, _) in parts.items():
        if (path == prefix or path.startswith(prefix)) and (best is None or len(prefix) > len(parts[best][0])):
            best = name
    return best


def resolve(root: Path, source: str, included: str):
    folder = str(Path(source).parent)
    searched = SEARCH["tests/guests"] if source.startswith("tests/guests/") else SEARCH[""]
    for base in [folder, *searched]:
        candidate = (root / base / included).resolve()
        if candidate.is_file():
            try:
                return str(candidate.relative_to(root.resolve()))
            except ValueError:
                return None
    return None


def check(root: Path):
    parts = read_rule(root / "docs" / "architecture.md")
    problems = []
    for top in CHECKED:
        for path in sorted((root / top).rglob("*")):
            if not path.is_file() or not SOURCE.search(path.name):
                continue
            source = str(path.relative_to(root))
            mine = part_of(source, parts)
            if mine is None:
                problems.append(f"{source}: in no part of docs/architecture.md's include rule")
                continue
            text = path.read_text(errors="replace")
            for match in INCLUDE.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                included = match.group(1)
                target = resolve(root, source, included)
                if target is None:
                    if GENERATED.match(included):
                        theirs = "gen"
                    else:
                        problems.append(f"{source}:{line}: \"{included}\" resolves to no file in the tree")
                        continue
                else:
                    theirs = part_of(target, parts)
                if theirs not in parts[mine][1]:
                    allowed = ", ".join(sorted(parts[mine][1]))
                    problems.append(f"{source}:{line}: {mine} includes \"{included}\" ({theirs}); "
                                    f"{mine} may include only: {allowed}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    problems = check(Path(args.root))
    for problem in problems:
        print(problem)
    print(f"include rule: {len(problems)} crossing{'s' if len(problems) != 1 else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
