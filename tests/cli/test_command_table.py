# SPDX-License-Identifier: MIT
"""The command table (kernel/control/command_table.hpp) against what else names the commands:
docs/control-channel.md's command table and batonctl. The table is read from the `help`
answer of the real channel code (control-test-server), i.e. the table as built."""

import re

from test_batonctl import SOCKET, Server, expect, run

DOC = "docs/control-channel.md"


def table_commands(ctx):
    """{name: synopsis} from `help`, whose lines are `. NAME SYNOPSIS -- summary`."""
    with Server(ctx):
        proc = expect(run(ctx, "--socket", SOCKET, "raw", "help"), 0)
    lines = proc.out.splitlines()
    assert lines[-1] == "ok", lines
    commands = {}
    for line in lines[:-1]:
        assert line.startswith(". ") and " -- " in line, line
        name, _, synopsis = line[2:].split(" -- ", 1)[0].partition(" ")
        assert name not in commands, f"{name} twice in help"
        commands[name] = synopsis
    assert len(commands) > 10, commands
    return commands


def doc_requests(ctx):
    """The requests the doc's command table names: the `code` spans of each row's first cell,
    with markdown's `\\|` read as `|`."""
    text = (ctx.root / DOC).read_text()
    assert "\n## Commands\n" in text, f"{DOC} has no Commands section"
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    requests = []
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = re.split(r"(?<!\\)\|", row)[1]
        requests += [span.replace("\\|", "|") for span in re.findall(r"`([^`]+)`", first_cell)]
    assert requests, f"no requests found in {DOC}'s command table"
    return requests


def alternatives(synopsis):
    """A synopsis's forms: `ID list | create [INDEX]` gives `ID list`, `ID create [INDEX]`
    (the placeholders before the first form's operation word are every form's)."""
    forms = synopsis.split(" | ")
    words = forms[0].split(" ")
    prefix = ""
    while words and re.fullmatch(r"[A-Z][A-Z0-9_:.]*", words[0]) and len(words) > 1:
        prefix += words.pop(0) + " "
    return [forms[0]] + [prefix + form for form in forms[1:]]


def test_doc_names_exactly_the_table_commands(ctx):
    table = table_commands(ctx)
    requests = doc_requests(ctx)
    documented = {request.split(" ")[0] for request in requests}
    missing = sorted(set(table) - documented)
    unknown = sorted(documented - set(table))
    assert not missing, f"{DOC} does not document {missing}"
    assert not unknown, f"{DOC} names commands the table lacks: {unknown}"


def test_doc_synopses_are_the_table_ones(ctx):
    # Each request in the doc is one of its command's forms, or `NAME ...` (described below
    # the table); each form of a command is documented unless its `NAME ...` is.
    table = table_commands(ctx)
    requests = doc_requests(ctx)
    for name, synopsis in table.items():
        forms = [f"{name} {form}".rstrip() for form in alternatives(synopsis)] if synopsis else [name]
        given = [request for request in requests if request.split(" ")[0] == name]
        for request in given:
            assert request in forms or request == f"{name} ...", \
                f"{DOC} shows `{request}`; the table's forms of {name} are {forms}"
        if f"{name} ..." not in given:
            undocumented = [form for form in forms if form not in given]
            assert not undocumented, f"{DOC} lacks {undocumented}"


def test_batonctl_help_lists_every_command(ctx):
    table = table_commands(ctx)
    proc = expect(run(ctx, "help"), 0, stdout="usage: batonctl")
    listed = {match.group(1) for match in re.finditer(r"^  ([a-z][a-z-]*)(?: |$)", proc.out, re.MULTILINE)}
    missing = sorted(set(table) - listed)
    assert not missing, f"batonctl help does not list {missing}:\n{proc.out}"


def test_batonctl_knows_every_command(ctx):
    # Without a server: a command batonctl knows is a usage error (2) or a failed connection (3).
    for name in table_commands(ctx):
        if name == "help":
            continue
        proc = run(ctx, "--socket", "absent.sock", "--timeout", "1", name)
        assert "unknown command" not in proc.err, f"batonctl does not know {name}: {proc.err}"
        assert proc.returncode in (2, 3), f"batonctl {name}: exit {proc.returncode}: {proc.err}"
