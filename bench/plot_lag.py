#!/usr/bin/env python3
"""Plots the lag distributions of `ecsdb bench replication --json` runs as one SVG (no plotting library:
a few lines of SVG, so the docs need nothing installed). Each run gives two curves, its replicas' lag and
the Redis fan-out's of the same run, as percentile (x, in "nines": p50, p90, p99, p99.9 evenly apart)
against lag (y, log scale).

    bench/plot_lag.py OUT.svg LABEL=RUN.json [LABEL=RUN.json ...]
"""
from __future__ import annotations

import json
import math
import sys

W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 420, 70, 300, 20, 50
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        print(__doc__, file=sys.stderr)
        return 2
    curves = []  # (label, dashed, [(percentile, us)])
    for arg in argv[2:]:
        label, path = arg.split("=", 1)
        with open(path) as f:
            dist = json.load(f)["lag_distribution"]
        curves.append((f"{label}: ECSDb replicas", False, dist["replication_us"]))
        if dist["redis_fanout_us"]:
            curves.append((f"{label}: Redis pub/sub", True, dist["redis_fanout_us"]))
    values = [us for _, _, pts in curves for _, us in pts if us > 0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    # The x axis in "nines", so the tail is as wide as the body: p50, p90, p99, p99.9 evenly apart; the largest
    # sample (p100) is drawn at p99.99.
    def nines(p: float) -> float:
        return math.log10(100 / (100 - min(p, 99.99)))

    def x(p: float) -> float:
        return LEFT + pw * nines(p) / nines(99.99)

    def y(us: float) -> float:
        return TOP + ph * (1 - (math.log10(max(us, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    decade = lo
    while decade <= hi:
        label = f"{decade / 1000:g} ms" if decade >= 1000 else f"{decade:g} µs"
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(decade):.1f}" y2="{y(decade):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(decade) + 4:.1f}" text-anchor="end">{label}</text>')
        decade *= 10
    for p, name in ((0, "p0"), (50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p99.9"), (100, "max")):
        out.append(f'<line x1="{x(p):.1f}" x2="{x(p):.1f}" y1="{TOP}" y2="{TOP + ph}" stroke="#eee"/>')
        out.append(f'<text x="{x(p):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{name}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 8}" text-anchor="middle">percentile of the lag samples '
               f'(published → applied or decoded)</text>')
    for i, (label, dashed, pts) in enumerate(curves):
        colour = COLOURS[(i // 2) % len(COLOURS)] if len(curves) > 1 else COLOURS[0]
        path = " ".join(f"{x(p):.1f},{y(us):.1f}" for p, us in pts)
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        ly = TOP + 14 + 18 * i
        out.append(f'<line x1="{W - RIGHT + 10}" x2="{W - RIGHT + 34}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{W - RIGHT + 40}" y="{ly}">{label}</text>')
    out.append("</svg>")
    with open(argv[1], "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
