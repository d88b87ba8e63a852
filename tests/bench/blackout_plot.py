# SPDX-License-Identifier: MIT
"""Draws the blackout benchmark's figure (tests/bench/blackout.py) with gnuplot (Debian's
gnuplot-nox): per configuration, the medians of the blackout's phases as stacked bars
(serialize, jump, boot, restore, resume: paused -> resumed), the median blackout and the
median gap the first counter guest observed as markers. Configurations are grouped by
comparison. Not a test module; gnuplot is run as a program, no Python package needed."""

import shutil
import subprocess
from pathlib import Path

# The blackout's spans in order (kernel/update/timeline.hpp UPDATE_SPANS): their sum is
# the blackout, paused -> resumed. check and pause come before the guests stop.
STACKED = ["serialize", "jump", "boot", "restore", "resume"]
COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"]


def terminal():
    """The best PNG terminal this gnuplot has: pngcairo if built in, else png (libgd)."""
    proc = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    names = {line.split()[0] for line in (proc.stdout + proc.stderr).splitlines() if line.strip()}
    if "pngcairo" in names:
        return "pngcairo size 1280,720 font 'sans,10'"
    return "png size 1280,720"


def write_data(path, rows):
    """rows: [(label, {phase: median us}, blackout us, guest gap us or None)]; values in ms,
    one line per configuration, an empty line's worth of '-' between comparisons."""
    lines = ["# label " + " ".join(STACKED) + " blackout guest_gap (ms, medians)"]
    for label, medians, blackout, gap in rows:
        if label is None:  # a gap between two comparisons
            lines.append('"" ' + " ".join("0" for _ in STACKED) + " NaN NaN")
            continue
        values = [f"{medians.get(name, 0) / 1000:.3f}" for name in STACKED]
        values.append(f"{blackout / 1000:.3f}" if blackout is not None else "NaN")
        values.append(f"{gap / 1000:.3f}" if gap is not None else "NaN")
        lines.append(f'"{label}" ' + " ".join(values))
    Path(path).write_text("\n".join(lines) + "\n")


def script(data, out, title):
    columns = len(STACKED)
    plots = [f"'{data}' using {i + 2}:xtic(1) title '{name}' lc rgb '{COLOURS[i]}'"
             for i, name in enumerate(STACKED)]
    plots.append(f"'{data}' using 0:{columns + 2} with points pt 9 ps 1.6 lc rgb 'black' title 'blackout (median)'")
    plots.append(f"'{data}' using 0:{columns + 3} with points pt 7 ps 1.4 lc rgb '#b07aa1' "
                 f"title 'guest-observed gap (median max\\_gap\\_us)'")
    return "\n".join([
        f"set terminal {terminal()}",
        f"set output '{out}'",
        f"set title \"{title}\" noenhanced",
        "set ylabel 'ms (medians)'",
        "set style data histograms",
        "set style histogram rowstacked",
        "set style fill solid 0.85 border -1",
        "set boxwidth 0.7",
        "set key outside top center horizontal",
        "set grid ytics",
        "set yrange [0:*]",
        "set offsets 0, 0, graph 0.05, 0",
        "set xtics noenhanced rotate by -30 left",
        "set bmargin 6",
        "plot " + ", \\\n     ".join(plots),
    ]) + "\n"


def draw(out, rows, title):
    """Writes the PNG to `out` (its .dat and .gp beside it). Returns None when drawn, else a
    sentence saying why not."""
    if not shutil.which("gnuplot"):
        return "gnuplot not found (Debian package gnuplot-nox; make deps installs it): no plot drawn"
    out = Path(out)
    data, gp = out.with_suffix(".dat"), out.with_suffix(".gp")
    write_data(data, rows)
    gp.write_text(script(data, out, title))
    proc = subprocess.run(["gnuplot", str(gp)], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"gnuplot failed ({proc.returncode}): {proc.stderr.strip()}"
    return None
